//! The termination message an agent leaves for the operator (the kubelet reads it into the
//! container's status): redacted and cut to the kubelet's limit.

use crate::contract::{
    ENV_TERMINATION_MESSAGE_PATH, TERMINATION_MESSAGE_PATH, container_path, truncate_message,
};

/// Write the termination message; failures to write are reported on stderr, never fatal.
pub fn write_termination_message(msg: &str) {
    write_prepared(&super::redact::redact(msg));
}

/// The termination message that carries a successful agent's result, its summary and data
/// redacted (each on its own: redacting the JSON as one text could cut through its syntax);
/// `None` when it would not fit.
pub fn result_message(summary: &str, data: Option<&serde_json::Value>) -> Option<String> {
    let mut data = data.cloned();
    if let Some(d) = data.as_mut() {
        super::redact::redact_json(d);
    }
    crate::contract::result_message(&crate::contract::MessageResult {
        summary: super::redact::redact(summary).into_owned(),
        data,
    })
}

/// Write a message made by [`result_message`] as it is.
pub fn write_result_message(msg: &str) {
    write_prepared(msg);
}

fn write_prepared(msg: &str) {
    let path = container_path(
        &std::env::var(ENV_TERMINATION_MESSAGE_PATH)
            .unwrap_or_else(|_| TERMINATION_MESSAGE_PATH.to_string()),
    );
    if let Err(e) = std::fs::write(&path, truncate_message(msg)) {
        eprintln!(
            "agent-runner: cannot write termination message to {}: {e}",
            path.display()
        );
    }
}
