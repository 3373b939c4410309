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
pub mod probe;

use std::path::Path;
use std::time::Duration;

/// The agents this build of agent-runner implements (the others fail with a clear reason).
pub use crate::api::IMPLEMENTED;

pub use crate::contract::{
    EXIT_AGENT_FAILURE, EXIT_ROLLED_BACK, EXIT_SUCCESS, EXIT_TRANSIENT, EXIT_USAGE, FS_ROOT_ENV,
    TERMINATION_MESSAGE_MAX, TERMINATION_MESSAGE_PATH,
};

pub use crate::contract::{container_path, truncate_message};
pub use crate::services::termination::write_termination_message;

/// `agent-runner run`: fetch the job (from the agent API when the Pod has one, otherwise
/// from the Pod's environment) and run its agent. Returns the process exit code.
pub async fn run_job() -> i32 {
    let fail = |code: i32, msg: String| {
        eprintln!("agent-runner: {}", crate::services::redact::redact(&msg));
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
    let outcome = match spec.agent {
        crate::api::AgentKind::Probe => {
            run_probe(
                client.as_ref(),
                &spec.probe.clone().unwrap_or_default(),
                attempt,
            )
            .await
        }
        crate::api::AgentKind::Generator => run_generator(client.as_ref(), &spec).await,
        crate::api::AgentKind::Reviewer => run_reviewer(client.as_ref(), &spec).await,
        crate::api::AgentKind::Deployer => run_deployer(client.as_ref(), &spec).await,
        other => Err((
            EXIT_AGENT_FAILURE,
            format!("the {other} agent is not available in this build of agent-runner"),
        )),
    };
    // Progress lines still on their way arrive before the process ends.
    let outcome = match (outcome, client.as_ref()) {
        (Ok(summary), Some(c)) => c.flush().await.map(|_| summary).map_err(api_failure),
        (Err(e), Some(c)) => {
            let _ = c.flush().await;
            Err(e)
        }
        (outcome, None) => outcome,
    };
    match outcome {
        Ok(summary) => {
            println!("{}", crate::services::redact::redact(&summary));
            write_termination_message(&summary);
            EXIT_SUCCESS
        }
        Err((code, msg)) => fail(code, msg),
    }
}

/// Map a client error to the exit-code contract.
fn api_failure(e: client::ClientError) -> (i32, String) {
    match e {
        client::ClientError::Transient(_) => (EXIT_TRANSIENT, e.to_string()),
        other => (EXIT_AGENT_FAILURE, other.to_string()),
    }
}

async fn run_probe(
    api: Option<&client::AgentClient>,
    params: &crate::api::ProbeParams,
    attempt: i32,
) -> Result<String, (i32, String)> {
    if let Some(c) = api {
        c.progress(&[format!(
            "probe: attempt {attempt} started{}",
            params
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )])
        .await
        .map_err(api_failure)?;
    }
    if let Some(ask) = &params.approval {
        let Some(c) = api else {
            return Err((EXIT_AGENT_FAILURE, "approvals need the agent API".into()));
        };
        let pins = [crate::api::Pin {
            name: "digest".into(),
            value: ask.digest.clone(),
        }];
        let st = c
            .approval(
                &ask.action,
                &format!("probe asks to {}", ask.action),
                &pins,
                Duration::from_secs(86400),
            )
            .await
            .map_err(api_failure)?;
        if st.phase != crate::api::ApprovalPhase::Approved {
            return Err((
                EXIT_AGENT_FAILURE,
                format!(
                    "approval {} {:?}: {}",
                    st.name,
                    st.phase,
                    st.message.unwrap_or_default()
                ),
            ));
        }
        c.action(
            "api_call",
            &format!("probe://{}", ask.action),
            Some(&ask.digest),
            Some(&st.name),
        )
        .await
        .map_err(api_failure)?;
    }
    let mut llm_text = None;
    if let (Some(prompt), Some(c)) = (&params.llm_prompt, api) {
        let req = crate::llm::gateway::CompletionRequest::user(
            "You are the devagents probe.",
            prompt.clone(),
            256,
        );
        let answer = if params.llm_stream {
            let mut chunks = 0usize;
            let a = c
                .llm_stream(&req, |_| chunks += 1)
                .await
                .map_err(api_failure)?;
            c.progress(&[format!(
                "llm: the answer arrived in {chunks} streamed chunks"
            )])
            .await
            .map_err(api_failure)?;
            a
        } else {
            c.llm(&req).await.map_err(api_failure)?
        };
        llm_text = Some(match (answer.completion, answer.skipped) {
            (Some(done), _) => done.text,
            (None, why) => format!("skipped: {}", why.unwrap_or_default()),
        });
    }
    let out = probe::run(params, attempt).await;
    if out.exit_code != 0 {
        return Err((out.exit_code, out.message));
    }
    let Some(c) = api else { return Ok(out.message) };
    let mut artifacts = Vec::new();
    if !out.result.is_empty() {
        let r = c
            .artifact("result", &out.result)
            .await
            .map_err(api_failure)?;
        c.action("api_call", "probe://result", Some(&r.digest), None)
            .await
            .map_err(api_failure)?;
        artifacts.push(r);
    }
    c.result(
        &out.message,
        Some(serde_json::json!({ "resultBytes": out.result.len(), "llm": llm_text })),
        &artifacts,
    )
    .await
    .map_err(api_failure)?;
    Ok(out.message)
}

/// The agent API as the agents' host.
impl crate::agents::Host for client::AgentClient {
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
    async fn go_test(
        &self,
        root: &Path,
        packages: &[String],
    ) -> Result<Option<(i32, String)>, String> {
        client::AgentClient::sandbox_go_test(self, root, packages)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }
    async fn deploy(
        &self,
        op: &crate::agents::deployer::ops::DeployOp,
    ) -> Result<crate::agents::deployer::ops::DeployReply, String> {
        client::AgentClient::deploy(self, op)
            .await
            .map_err(|e| e.to_string())
    }
    async fn llm(
        &self,
        req: &crate::llm::gateway::CompletionRequest,
    ) -> Result<Result<String, String>, String> {
        let a = client::AgentClient::llm(self, req)
            .await
            .map_err(|e| e.to_string())?;
        Ok(match (a.completion, a.skipped) {
            (Some(c), _) => Ok(c.text),
            (None, why) => Err(why.unwrap_or_else(|| "no answer".into())),
        })
    }
}

/// What every agent Pod gets besides its job: the repository credentials (a mounted Secret,
/// if the job names one) and the GitHub API to use.
fn agent_env() -> Result<(Option<crate::services::git::Credentials>, String), (i32, String)> {
    let credentials = crate::services::git::Credentials::from_dir(&container_path(
        crate::contract::CREDENTIALS_DIR,
    ))
    .map_err(|e| (EXIT_AGENT_FAILURE, e.to_string()))?;
    let github_api = std::env::var(crate::contract::ENV_GITHUB_API_URL)
        .unwrap_or_else(|_| crate::services::github::DEFAULT_API_URL.into());
    Ok((credentials, github_api))
}

/// Findings above this size go to an artifact instead of `status.result.data`.
const INLINE_RESULT_MAX: usize = 64 * 1024;

async fn run_reviewer(
    api: Option<&client::AgentClient>,
    spec: &crate::api::AgentJobSpec,
) -> Result<String, (i32, String)> {
    use crate::agents::reviewer::run;
    let Some(c) = api else {
        return Err((EXIT_USAGE, "the reviewer needs the agent API".into()));
    };
    let Some(params) = &spec.reviewer else {
        return Err((
            EXIT_AGENT_FAILURE,
            "the reviewer needs spec.reviewer".into(),
        ));
    };
    let (credentials, github_api) = agent_env()?;
    let setup = run::Setup {
        workdir: container_path("/workspace/repo"),
        github_api,
        credentials,
    };
    match run::run(c, spec.repository.as_ref(), params, &setup).await {
        Ok(mut out) => {
            let mut artifacts = Vec::new();
            let findings = serde_json::to_vec(&out.findings).unwrap_or_default();
            if findings.len() > INLINE_RESULT_MAX {
                artifacts.push(
                    c.artifact("findings", &findings)
                        .await
                        .map_err(api_failure)?,
                );
                out.findings.clear();
            }
            c.result(&out.summary, Some(&out), &artifacts)
                .await
                .map_err(api_failure)?;
            Ok(out.summary)
        }
        Err(f) => Err((
            if f.transient {
                EXIT_TRANSIENT
            } else {
                EXIT_AGENT_FAILURE
            },
            f.message,
        )),
    }
}

async fn run_generator(
    api: Option<&client::AgentClient>,
    spec: &crate::api::AgentJobSpec,
) -> Result<String, (i32, String)> {
    use crate::agents::generator::run;
    let Some(c) = api else {
        return Err((EXIT_USAGE, "the generator needs the agent API".into()));
    };
    let (Some(repo), Some(params)) = (&spec.repository, &spec.generator) else {
        return Err((
            EXIT_AGENT_FAILURE,
            "the generator needs spec.repository and spec.generator".into(),
        ));
    };
    let (credentials, github_api) = agent_env()?;
    let uid = std::env::var(crate::contract::ENV_JOB_UID).unwrap_or_default();
    let setup = run::Setup {
        workdir: container_path("/workspace/repo"),
        github_api,
        credentials,
        short_id: uid.replace('-', "").chars().take(8).collect(),
    };
    match run::run(c, repo, params, &setup).await {
        Ok(out) => {
            c.result(&out.summary, Some(&out), &[])
                .await
                .map_err(api_failure)?;
            Ok(out.summary)
        }
        Err(f) => {
            // What ran (with its output) is kept in the result, then the job fails.
            let data = serde_json::json!({ "commands": f.commands });
            let first_line = f.message.lines().next().unwrap_or_default().to_string();
            c.result(&first_line, Some(data), &[])
                .await
                .map_err(api_failure)?;
            let code = if f.transient {
                EXIT_TRANSIENT
            } else {
                EXIT_AGENT_FAILURE
            };
            Err((code, f.message))
        }
    }
}

async fn run_deployer(
    api: Option<&client::AgentClient>,
    spec: &crate::api::AgentJobSpec,
) -> Result<String, (i32, String)> {
    use crate::agents::deployer::{cluster, run};
    use crate::contract::{
        ENV_DEPLOY_ENVIRONMENT, ENV_JOB_NAME, GITOPS_DIR, NOTION_DIR, SLACK_DIR,
    };
    let Some(c) = api else {
        return Err((EXIT_USAGE, "the deployer needs the agent API".into()));
    };
    let Some(params) = &spec.deployer else {
        return Err((
            EXIT_AGENT_FAILURE,
            "the deployer needs spec.deployer".into(),
        ));
    };
    let env: crate::api::environment::Environment =
        match std::env::var(ENV_DEPLOY_ENVIRONMENT).map(|v| serde_json::from_str(&v)) {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => return Err((EXIT_USAGE, format!("{ENV_DEPLOY_ENVIRONMENT}: {e}"))),
            Err(_) => {
                return Err((
                    EXIT_AGENT_FAILURE,
                    format!(
                        "environment {:?} is not configured in the operator",
                        params.environment
                    ),
                ));
            }
        };
    let client = cluster::in_cluster_client()
        .await
        .map_err(|e| (EXIT_AGENT_FAILURE, e))?;
    let (credentials, github_api) = agent_env()?;
    let gitops_credentials =
        crate::services::git::Credentials::from_dir(&container_path(GITOPS_DIR))
            .map_err(|e| (EXIT_AGENT_FAILURE, e.to_string()))?;
    let notifications = env.notifications.clone().unwrap_or_default();
    let slack = notifications.slack_secret.as_ref().and_then(|_| {
        crate::services::slack::Slack::from_file(&container_path(&format!(
            "{SLACK_DIR}/webhook-url"
        )))
        .ok()
    });
    let notion = notifications.notion.as_ref().and_then(|n| {
        let token = std::fs::read_to_string(container_path(&format!("{NOTION_DIR}/token"))).ok()?;
        Some((
            crate::services::notion::Notion::new(
                n.api_url.as_deref().unwrap_or("https://api.notion.com"),
                token.trim(),
            ),
            n.database_id.clone(),
        ))
    });
    let setup = run::Setup {
        client,
        env,
        job_name: std::env::var(ENV_JOB_NAME).unwrap_or_else(|_| "deploy".into()),
        repository: spec.repository.clone(),
        credentials,
        gitops_credentials,
        github_api,
        slack,
        notion,
        workdir: container_path("/workspace"),
        // Keep a third of the job's time (at most 5 minutes) for rolling back.
        deadline: {
            let total = spec.timeout_seconds.max(1) as u64;
            let reserve = (total / 3).min(300);
            Some(std::time::Instant::now() + Duration::from_secs(total - reserve))
        },
    };
    let report = run::run(c, params, &setup).await;
    let summary = report.summary();
    c.result(&summary, Some(&report), &[])
        .await
        .map_err(api_failure)?;
    match report.outcome {
        run::Verdict::Succeeded => Ok(summary),
        run::Verdict::RolledBack => Err((EXIT_ROLLED_BACK, summary)),
        run::Verdict::Failed => Err((EXIT_AGENT_FAILURE, summary)),
    }
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
