//! `reviewer`: one precise, fingerprinted review per pull request. So far the pure core: the
//! unified-diff parser, the common finding type (fingerprints, deduplication, filter modes)
//! and the deterministic sources (security smells, i18n keys, missing tests). The linters,
//! the LLM pass, the review itself and the run are the next steps.

pub mod api;
pub mod diff;
pub mod finding;
pub mod i18n;
pub mod linters;
pub mod llm;
pub mod review;
pub mod run;
pub mod sandbox;
pub mod security;
pub mod tests_check;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::agentapi::ApiState;
use crate::api::AgentKind;

pub struct Reviewer;

impl super::Agent for Reviewer {
    fn kind(&self) -> AgentKind {
        AgentKind::Reviewer
    }
    fn description(&self) -> &'static str {
        "one review per PR: linters, i18n keys, tests, security, LLM pass"
    }
    /// The pull request's tests run in a sandbox Pod the operator starts.
    fn api_routes(&self, _setup: &super::Setup) -> Option<axum::Router<Arc<ApiState>>> {
        Some(api::routes())
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@reviewer: one review of a pull request.",
        )
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
    fn implemented(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(entry(host, job))
    }
}

/// Findings above this size go to an artifact instead of `status.result.data`.
const INLINE_RESULT_MAX: usize = 64 * 1024;

async fn entry(host: &dyn DynHost, job: &RunJob) -> Outcome {
    let Some(params) = &job.spec.reviewer else {
        return Err(Failed::agent("the reviewer needs spec.reviewer"));
    };
    let setup = run::Setup {
        workdir: job.workdir.join("repo"),
        github_api: job.github_api.clone(),
        credentials: job.credentials.clone(),
    };
    let mut params = params.as_ref().clone();
    // Not publishing: the review is reported, not posted.
    params.auto_comment &= job.publish;
    let out = match (&job.refs, &job.spec.repository) {
        (Some(r), Some(repo)) => {
            run::run_local(host, &repo.url, &r.base, &r.head, &params, &setup).await
        }
        (Some(_), None) => {
            return Err(Failed::usage(
                "reviewing refs needs spec.repository (the repository to read them from)",
            ));
        }
        (None, _) => run::run(host, job.spec.repository.as_ref(), &params, &setup).await,
    };
    let mut out = out.map_err(|f| Failed::of(f.transient, f.message))?;
    let mut artifacts = Vec::new();
    let findings = serde_json::to_vec(&out.findings).unwrap_or_default();
    if findings.len() > INLINE_RESULT_MAX {
        artifacts.push(host.artifact("findings", &findings).await?);
        out.findings.clear();
    }
    host.result(&out.summary, serde_json::to_value(&out).ok(), &artifacts)
        .await?;
    Ok(out.summary)
}

/// `kubectl agent run reviewer --pr N …`.
#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    /// The pull request number.
    #[arg(long)]
    pr: i64,
    /// Review only these checks (lint, i18n, tests, security, llm; repeatable).
    #[arg(long = "check")]
    checks: Vec<String>,
    /// Report only; post no review.
    #[arg(long)]
    no_comment: bool,
    /// Review exactly this head commit (the job fails if the PR moved on).
    #[arg(long)]
    head_sha: Option<String>,
}

impl RunForm for Form {
    fn block(self, shared: Shared<'_>) -> Result<Block, String> {
        let mut r = json!({"pullRequest": self.pr});
        form::set_opt(&mut r, "headSha", self.head_sha);
        if let Some(repo) = shared.repo.filter(|r| !r.contains("://")) {
            r["repo"] = json!(repo.trim_end_matches(".git"));
        }
        if !self.checks.is_empty() {
            r["checks"] = json!(self.checks);
        }
        if self.no_comment {
            r["autoComment"] = json!(false);
        }
        Ok(Block {
            params: r,
            name_prefix: format!("review-pr-{}", self.pr),
        })
    }
}
