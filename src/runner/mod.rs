//! The agent runner: the entrypoint of the shared agent image.
//!
//! Exit-code contract (what the operator's retry policy relies on):
//! - [`EXIT_SUCCESS`] (0): the agent finished its work;
//! - [`EXIT_AGENT_FAILURE`] (1): the agent failed for a reason of its own (bad input, failing
//!   checks) — final, never retried;
//! - [`EXIT_USAGE`] (2): the runner was started wrongly (unknown agent, bad flags) — final;
//! - [`EXIT_ROLLED_BACK`] (3): the deployer failed and restored the previous version — final,
//!   the job ends `RolledBack`;
//! - [`EXIT_TRANSIENT`] (75, `EX_TEMPFAIL`): a transient failure (operator unreachable, network)
//!   — retried with backoff when the job allows retries.
//!
//! Whatever the outcome, the runner writes a one-line reason to the container's termination
//! message file, which the kubelet (or the e2e node stand-in) copies into the Pod status.

pub mod client;
pub mod local;

use std::time::Duration;

use crate::agents::{Host, HostError};
use crate::api::ArtifactRef;

pub use crate::contract::{
    EXIT_AGENT_FAILURE, EXIT_ROLLED_BACK, EXIT_SUCCESS, EXIT_TRANSIENT, EXIT_USAGE, FS_ROOT_ENV,
    TERMINATION_MESSAGE_MAX, TERMINATION_MESSAGE_PATH,
};

pub use crate::contract::{container_path, truncate_message};
pub use crate::services::termination::write_termination_message;

/// `agent-runner run`: fetch the job (from the agent API when the Pod has one, otherwise
/// from the Pod's environment) and run its agent. Returns the process exit code.
/// A line of the runner's log (stderr): text, or JSON with the job's fields when the operator
/// runs with JSON logs ([`crate::services::logging::ENV_LOG_FORMAT`]).
pub fn log(level: &str, message: &str) {
    use crate::contract::{ENV_ATTEMPT, ENV_JOB_NAME, ENV_JOB_NAMESPACE, ENV_JOB_SPEC};
    let env = |k: &str| std::env::var(k).ok();
    let agent = env(ENV_JOB_SPEC)
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["agent"].as_str().map(str::to_string));
    eprintln!(
        "{}",
        crate::services::logging::line(
            crate::services::logging::LogFormat::from_env(),
            level,
            message,
            &[
                ("job", env(ENV_JOB_NAME)),
                ("namespace", env(ENV_JOB_NAMESPACE)),
                ("agent", agent),
                ("attempt", env(ENV_ATTEMPT)),
            ],
        )
    );
}

pub async fn run_job() -> i32 {
    let fail = |code: i32, msg: String| {
        log("error", &format!("agent-runner: {msg}"));
        write_termination_message(&msg);
        code
    };
    let client = match client::AgentClient::from_env() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_USAGE, e.to_string()),
    };
    // The Pod's own attempt number (set by the operator when it created the Pod) wins over
    // the count in status, which lags when the operator stopped before recording the Pod.
    let pod_attempt: Option<i32> = std::env::var(crate::contract::ENV_ATTEMPT)
        .ok()
        .and_then(|a| a.parse().ok());
    // The Pod carries the spec of its attempt (the operator wrote it when it created the Pod):
    // no round trip to the agent API before the work starts. Without it, the API serves it.
    let from_pod = std::env::var(crate::contract::ENV_JOB_SPEC).ok();
    let (spec, attempt) = match (&client, from_pod) {
        (_, Some(raw)) => match serde_json::from_str::<crate::api::AgentJobSpec>(&raw) {
            Ok(spec) => (spec, pod_attempt.unwrap_or(1)),
            Err(e) => return fail(EXIT_USAGE, format!("the job spec is not valid: {e}")),
        },
        (Some(c), None) => match c.job().await {
            Ok(input) => (input.spec, pod_attempt.unwrap_or(input.attempt)),
            Err(e @ client::ClientError::Transient(_)) => {
                return fail(EXIT_TRANSIENT, e.to_string());
            }
            Err(e) => return fail(EXIT_AGENT_FAILURE, e.to_string()),
        },
        (None, None) => {
            return fail(
                EXIT_USAGE,
                "neither DEVAGENTS_API_URL nor DEVAGENTS_JOB_SPEC is set: agent-runner run is started by the operator"
                    .into(),
            );
        }
    };
    let Some(agent) = crate::agents::agent(spec.agent) else {
        return fail(
            EXIT_AGENT_FAILURE,
            format!(
                "the {} agent is not available in this build of agent-runner",
                spec.agent
            ),
        );
    };
    if client.is_none() && agent.needs_agent_api() {
        return fail(
            EXIT_USAGE,
            format!("the {} needs the agent API", spec.agent),
        );
    }
    let (credentials, github_api) = match agent_env() {
        Ok(v) => v,
        Err(e) => return fail(EXIT_AGENT_FAILURE, e),
    };
    let job = crate::agents::RunJob {
        name: std::env::var(crate::contract::ENV_JOB_NAME).unwrap_or_else(|_| "job".into()),
        uid: std::env::var(crate::contract::ENV_JOB_UID).unwrap_or_default(),
        spec,
        attempt,
        workdir: container_path("/workspace"),
        credentials,
        github_api,
        publish: true,
        refs: None,
    };
    let offline = Offline::default();
    let outcome = match &client {
        Some(c) => agent.run(c, &job).await,
        None => agent.run(&offline, &job).await,
    };
    let held = match &client {
        Some(c) => c.take_result(),
        None => offline.take(),
    };
    // Progress lines still on their way arrive before the process ends. A success's result
    // travels in its termination message when it fits and references no artifact (the
    // operator writes it with the job's end); any other result is sent through the agent API
    // before the process ends, as a failure's is.
    let ended = match (outcome, client.as_ref()) {
        (Ok(summary), Some(c)) => match c.flush().await {
            Err(e) => Err(api_failure(e)),
            Ok(()) => {
                // Carried when it can be; otherwise sent now.
                let carried = held
                    .as_ref()
                    .filter(|r| r.artifacts.is_empty())
                    .and_then(|r| {
                        crate::services::termination::result_message(&r.summary, r.data.as_ref())
                    });
                match (carried, held) {
                    (Some(msg), _) => Ok((summary, Some(msg))),
                    (None, Some(r)) => c
                        .send_result(r)
                        .await
                        .map(|_| (summary, None))
                        .map_err(api_failure),
                    (None, None) => Ok((summary, None)),
                }
            }
        },
        (Err(e), Some(c)) => {
            let _ = c.flush().await;
            match held {
                Some(r) => match c.send_result(r).await {
                    Ok(()) => Err(e),
                    Err(sent) => Err(api_failure(sent)),
                },
                None => Err(e),
            }
        }
        // No agent API: a result is only ever the termination message (its artifacts were
        // never stored, so none is referenced).
        (Ok(summary), None) => {
            let msg = held.and_then(|r| {
                crate::services::termination::result_message(&r.summary, r.data.as_ref())
            });
            Ok((summary, msg))
        }
        (Err(e), None) => Err(e),
    };
    match ended {
        Ok((summary, carried)) => {
            println!("{}", crate::services::redact::redact(&summary));
            match carried {
                Some(msg) => crate::services::termination::write_result_message(&msg),
                None => write_termination_message(&summary),
            }
            EXIT_SUCCESS
        }
        Err(f) => fail(f.exit_code, f.message),
    }
}

/// Map a client error to the exit-code contract.
fn api_failure(e: client::ClientError) -> crate::agents::Failed {
    host_error(e).into()
}

fn host_error(e: client::ClientError) -> HostError {
    HostError {
        transient: matches!(e, client::ClientError::Transient(_)),
        message: e.to_string(),
    }
}

/// The agent API as the agents' host.
impl Host for client::AgentClient {
    async fn progress(&self, line: &str) -> Result<(), String> {
        client::AgentClient::progress(self, &[line.to_string()])
            .await
            .map_err(|e| e.to_string())
    }
    async fn action(&self, kind: &str, target: &str, digest: Option<&str>) -> Result<(), String> {
        client::AgentClient::action(self, kind, target, digest, None)
            .await
            .map_err(|e| e.to_string())
    }
    async fn approved_action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
        approval: &str,
    ) -> Result<(), String> {
        client::AgentClient::action(self, kind, target, digest, Some(approval))
            .await
            .map_err(|e| e.to_string())
    }
    fn agent_api(&self) -> bool {
        true
    }
    async fn call(
        &self,
        method: &str,
        route: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, HostError> {
        client::AgentClient::call(self, method, route, body)
            .await
            .map_err(host_error)
    }
    async fn llm(
        &self,
        req: &crate::llm::gateway::CompletionRequest,
    ) -> Result<Result<String, String>, HostError> {
        let a = client::AgentClient::llm(self, req)
            .await
            .map_err(host_error)?;
        Ok(answer(a))
    }
    async fn llm_stream(
        &self,
        req: &crate::llm::gateway::CompletionRequest,
    ) -> Result<(Result<String, String>, usize), HostError> {
        let mut chunks = 0usize;
        let a = client::AgentClient::llm_stream(self, req, |_| chunks += 1)
            .await
            .map_err(host_error)?;
        Ok((answer(a), chunks))
    }
    async fn artifact(&self, name: &str, bytes: &[u8]) -> Result<ArtifactRef, HostError> {
        client::AgentClient::artifact(self, name, bytes)
            .await
            .map_err(host_error)
    }
    async fn result(
        &self,
        summary: &str,
        data: Option<serde_json::Value>,
        artifacts: &[ArtifactRef],
    ) -> Result<(), HostError> {
        // Held for the end of the run (see `run_job`).
        self.hold_result(summary, data, artifacts);
        Ok(())
    }
    async fn approval(
        &self,
        action: &str,
        description: &str,
        pins: &[crate::api::Pin],
        wait: Duration,
    ) -> Result<crate::agentapi::ApprovalState, HostError> {
        client::AgentClient::approval(self, action, description, pins, wait)
            .await
            .map_err(host_error)
    }
}

fn answer(a: crate::agentapi::LlmAnswer) -> Result<String, String> {
    match (a.completion, a.skipped) {
        (Some(c), _) => Ok(c.text),
        (None, why) => Err(why.unwrap_or_else(|| "no answer".into())),
    }
}

/// The host of a Pod without an agent API (an operator started with `--agent-api-addr off`):
/// progress goes to the log, the result is the termination message, LLM steps are skipped.
#[derive(Default)]
struct Offline {
    held: std::sync::Mutex<Option<crate::contract::bodies::ResultBody>>,
}

impl Offline {
    fn take(&self) -> Option<crate::contract::bodies::ResultBody> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Host for Offline {
    async fn progress(&self, line: &str) -> Result<(), String> {
        log("info", line);
        Ok(())
    }
    async fn action(
        &self,
        _kind: &str,
        _target: &str,
        _digest: Option<&str>,
    ) -> Result<(), String> {
        Ok(())
    }
    async fn llm(
        &self,
        _req: &crate::llm::gateway::CompletionRequest,
    ) -> Result<Result<String, String>, HostError> {
        Ok(Err("the Pod has no agent API".into()))
    }
    async fn artifact(&self, name: &str, bytes: &[u8]) -> Result<ArtifactRef, HostError> {
        Ok(ArtifactRef {
            name: name.into(),
            size: bytes.len() as i64,
            ..ArtifactRef::default()
        })
    }
    async fn result(
        &self,
        summary: &str,
        data: Option<serde_json::Value>,
        _artifacts: &[ArtifactRef],
    ) -> Result<(), HostError> {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(crate::contract::bodies::ResultBody {
                summary: summary.into(),
                data,
                artifacts: Vec::new(),
            });
        Ok(())
    }
}

/// What every agent Pod gets besides its job: the repository credentials (a mounted Secret,
/// if the job names one) and the GitHub API to use.
fn agent_env() -> Result<(Option<crate::services::git::Credentials>, String), String> {
    let credentials = crate::services::git::Credentials::from_dir(&container_path(
        crate::contract::CREDENTIALS_DIR,
    ))
    .map_err(|e| e.to_string())?;
    let github_api = std::env::var(crate::contract::ENV_GITHUB_API_URL)
        .unwrap_or_else(|_| crate::services::github::DEFAULT_API_URL.into());
    Ok((credentials, github_api))
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
