//! The agent runner: the entrypoint of the shared agent image.
//!
//! Exit-code contract (what the operator's retry policy relies on):
//! - [`EXIT_SUCCESS`] (0): the agent finished its work;
//! - [`EXIT_AGENT_FAILURE`] (1): the agent failed for a reason of its own (bad input, failing
//!   checks) — final, never retried;
//! - [`EXIT_USAGE`] (2): the runner was started wrongly (unknown agent, bad flags) — final;
//! - [`EXIT_TRANSIENT`] (75, `EX_TEMPFAIL`): a transient failure (operator unreachable, network)
//!   — retried with backoff when the job allows retries.
//!
//! Whatever the outcome, the runner writes a one-line reason to the container's termination
//! message file, which the kubelet (or the e2e node stand-in) copies into the Pod status.

pub mod probe;

use std::path::{Path, PathBuf};

pub const EXIT_SUCCESS: i32 = 0;
pub const EXIT_AGENT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_TRANSIENT: i32 = 75;

/// Where the kubelet expects the termination message (`terminationMessagePath`'s default).
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// The kubelet truncates termination messages to 4096 bytes; so do we.
pub const TERMINATION_MESSAGE_MAX: usize = 4096;

/// Environment variable the e2e node stand-in sets: the directory that plays the container's
/// root filesystem. In a real container it is unset and paths are used as they are.
pub const FS_ROOT_ENV: &str = "DEVAGENTS_FS_ROOT";

/// Map an absolute in-container path to the host path when running under the node stand-in.
pub fn container_path(path: &str) -> PathBuf {
    match std::env::var_os(FS_ROOT_ENV) {
        Some(root) if !root.is_empty() => Path::new(&root).join(path.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

/// Truncate to the kubelet's limit on a char boundary.
pub fn truncate_message(msg: &str) -> &str {
    if msg.len() <= TERMINATION_MESSAGE_MAX {
        return msg;
    }
    let mut end = TERMINATION_MESSAGE_MAX;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    &msg[..end]
}

/// Write the termination message; failures to write are reported on stderr, never fatal.
pub fn write_termination_message(msg: &str) {
    let path = container_path(
        &std::env::var("DEVAGENTS_TERMINATION_MESSAGE_PATH")
            .unwrap_or_else(|_| TERMINATION_MESSAGE_PATH.to_string()),
    );
    if let Err(e) = std::fs::write(&path, truncate_message(msg)) {
        eprintln!(
            "agent-runner: cannot write termination message to {}: {e}",
            path.display()
        );
    }
}

/// `agent-runner run`: read the job from the Pod's environment and run its agent.
/// Returns the process exit code (see the contract above).
pub async fn run_job() -> i32 {
    let spec = match std::env::var(crate::controller::pod::ENV_JOB_SPEC) {
        Ok(s) => s,
        Err(_) => {
            let msg = format!(
                "{} is not set: agent-runner run is started by the operator",
                crate::controller::pod::ENV_JOB_SPEC
            );
            eprintln!("agent-runner: {msg}");
            write_termination_message(&msg);
            return EXIT_USAGE;
        }
    };
    let spec: crate::api::AgentJobSpec = match serde_json::from_str(&spec) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("the job spec is not valid: {e}");
            eprintln!("agent-runner: {msg}");
            write_termination_message(&msg);
            return EXIT_USAGE;
        }
    };
    let (code, message) = match spec.agent {
        crate::api::AgentKind::Probe => {
            let params = spec.probe.clone().unwrap_or_default();
            let attempt = std::env::var(crate::controller::pod::ENV_ATTEMPT)
                .ok()
                .and_then(|a| a.parse().ok())
                .unwrap_or(1);
            let out = probe::run(&params, attempt).await;
            (out.exit_code, out.message)
        }
        other => (
            EXIT_AGENT_FAILURE,
            format!("the {other} agent is not available in this build of agent-runner"),
        ),
    };
    println!("{message}");
    write_termination_message(&message);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundary() {
        let s = "é".repeat(3000); // 6000 bytes
        let t = truncate_message(&s);
        assert!(t.len() <= TERMINATION_MESSAGE_MAX);
        assert!(t.len() >= TERMINATION_MESSAGE_MAX - 1);
        assert_eq!(truncate_message("short"), "short");
    }
}
