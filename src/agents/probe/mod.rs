//! `probe`: the built-in diagnostic agent (health checks, tests, benchmarks): it sleeps,
//! exits with a chosen code, fails chosen attempts, asks for an approval, calls the LLM
//! gateway and writes a result of a chosen size, as its parameters say.

pub mod work;

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::api::AgentKind;

pub struct Probe;

impl super::Agent for Probe {
    fn kind(&self) -> AgentKind {
        AgentKind::Probe
    }
    fn description(&self) -> &'static str {
        "the built-in diagnostic agent"
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(self.kind().as_str(), "The built-in diagnostic agent.")
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
    fn implemented(&self) -> bool {
        true
    }
    fn needs_agent_api(&self) -> bool {
        false
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(run(host, job))
    }
}

async fn run(host: &dyn DynHost, job: &RunJob) -> Outcome {
    let params = job.spec.probe.clone().unwrap_or_default();
    let attempt = job.attempt;
    let transient = |e: String| Failed::transient(e);
    host.progress(&format!(
        "probe: attempt {attempt} started{}",
        params
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    ))
    .await
    .map_err(transient)?;
    if let Some(ask) = &params.approval {
        let pins = [crate::api::Pin {
            name: "digest".into(),
            value: ask.digest.clone(),
        }];
        let st = host
            .approval(
                &ask.action,
                &format!("probe asks to {}", ask.action),
                &pins,
                Duration::from_secs(86400),
            )
            .await?;
        if st.phase != crate::api::ApprovalPhase::Approved {
            return Err(Failed::agent(format!(
                "approval {} {:?}: {}",
                st.name,
                st.phase,
                st.message.unwrap_or_default()
            )));
        }
        host.approved_action(
            "api_call",
            &format!("probe://{}", ask.action),
            Some(&ask.digest),
            &st.name,
        )
        .await
        .map_err(transient)?;
    }
    let mut llm_text = None;
    if let Some(prompt) = &params.llm_prompt {
        let req = crate::llm::gateway::CompletionRequest::user(
            "You are the devagents probe.",
            prompt.clone(),
            256,
        );
        let answer = if params.llm_stream {
            let (answer, chunks) = host.llm_stream(&req).await?;
            host.progress(&format!(
                "llm: the answer arrived in {chunks} streamed chunks"
            ))
            .await
            .map_err(transient)?;
            answer
        } else {
            host.llm(&req).await?
        };
        llm_text = Some(match answer {
            Ok(text) => text,
            Err(why) => format!("skipped: {why}"),
        });
    }
    let out = work::run(&params, attempt).await;
    if out.exit_code != 0 {
        return Err(Failed {
            exit_code: out.exit_code,
            message: out.message,
        });
    }
    let mut artifacts = Vec::new();
    if !out.result.is_empty() {
        let r = host.artifact("result", &out.result).await?;
        host.action("api_call", "probe://result", Some(&r.digest))
            .await
            .map_err(transient)?;
        artifacts.push(r);
    }
    host.result(
        &out.message,
        Some(json!({ "resultBytes": out.result.len(), "llm": llm_text })),
        &artifacts,
    )
    .await?;
    Ok(out.message)
}

/// `kubectl agent run probe [--message M] [--sleep-ms N] [--exit-code C]`.
#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    #[arg(long)]
    message: Option<String>,
    #[arg(long, default_value_t = 0)]
    sleep_ms: i64,
    #[arg(long, default_value_t = 0)]
    exit_code: i32,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let mut p = json!({"sleepMs": self.sleep_ms, "exitCode": self.exit_code});
        form::set_opt(&mut p, "message", self.message);
        Ok(Block {
            params: p,
            name_prefix: "probe".into(),
        })
    }
}
