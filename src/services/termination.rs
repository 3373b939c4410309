//! The termination message an agent leaves for the operator (the kubelet reads it into the
//! container's status): redacted and cut to the kubelet's limit.

use crate::contract::{
    ENV_TERMINATION_MESSAGE_PATH, TERMINATION_MESSAGE_PATH, container_path, truncate_message,
};

/// Write the termination message; failures to write are reported on stderr, never fatal.
pub fn write_termination_message(msg: &str) {
    let path = container_path(
        &std::env::var(ENV_TERMINATION_MESSAGE_PATH)
            .unwrap_or_else(|_| TERMINATION_MESSAGE_PATH.to_string()),
    );
    let msg = super::redact::redact(msg);
    if let Err(e) = std::fs::write(&path, truncate_message(&msg)) {
        eprintln!(
            "agent-runner: cannot write termination message to {}: {e}",
            path.display()
        );
    }
}
