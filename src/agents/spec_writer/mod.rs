//! `spec-writer`: the plan's @spec-writer: spec.md, plan.md and tasks.md in spec-kit format, grounded in
//! the repository.
//!
//! [`check`] is the deterministic spec-kit format checker, [`ground`] the repository facts a
//! spec is grounded in (entities, routes, RPCs, Makefile targets, layout) and the conflicts of
//! a proposal with them, [`run`] the run: the documents from the LLM, checked (one repair
//! round), the plan's feasibility from the repository, the tasks for agents as AgentJobs, a
//! branch and a pull request. Not built yet: asking clarifying questions through the agent
//! API (`kubectl agent answer`, `--interactive`) — answers are taken from `specWriter.answers`
//! — and the Notion task rows.

pub mod api;
pub mod check;
pub mod ground;
pub mod run;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::api::AgentKind;

pub struct SpecWriter;

impl super::Agent for SpecWriter {
    fn kind(&self) -> AgentKind {
        AgentKind::SpecWriter
    }
    fn description(&self) -> &'static str {
        "spec.md / plan.md / tasks.md in spec-kit format"
    }
    fn needs_repository(&self) -> bool {
        true
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@spec-writer: spec.md / plan.md / tasks.md for a feature.",
        )
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
    fn implemented(&self) -> bool {
        true
    }
    fn operator(
        &self,
        _setup: &super::Setup,
    ) -> std::sync::Arc<dyn crate::controller::agent::OperatorSide> {
        std::sync::Arc::new(Ops)
    }
    fn api_routes(
        &self,
        _setup: &super::Setup,
    ) -> Option<axum::Router<std::sync::Arc<crate::agentapi::ApiState>>> {
        Some(api::routes())
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(entry(host, job))
    }
}

/// spec-writer's operator side: its repository, and the Notion Secret mounted read-only.
struct Ops;

impl crate::controller::agent::OperatorSide for Ops {
    fn needs_repository(&self) -> bool {
        true
    }
    fn pod(&self, job: &crate::api::AgentJob, spec: &mut k8s_openapi::api::core::v1::PodSpec) {
        if let Some(n) = job
            .spec
            .spec_writer
            .as_ref()
            .and_then(|s| s.notion.as_ref())
        {
            crate::controller::pod::mount_secret(
                spec,
                "notion",
                &n.secret,
                crate::contract::NOTION_DIR,
            );
        }
    }
}

async fn entry(host: &dyn DynHost, job: &RunJob) -> Outcome {
    let (Some(repo), Some(params)) = (&job.spec.repository, &job.spec.spec_writer) else {
        return Err(Failed::agent(
            "spec-writer needs spec.repository and spec.specWriter",
        ));
    };
    let notion = params.notion.as_ref().and_then(|n| {
        Some(crate::services::notion::Notion::new(
            n.api_url
                .as_deref()
                .unwrap_or(crate::services::notion::DEFAULT_API_URL),
            &super::doc_sync::notion_token()?,
        ))
    });
    let setup = run::Setup {
        notion,
        workdir: job.workdir.clone(),
        github_api: job.github_api.clone(),
        credentials: job.credentials.clone(),
        short_id: job.short_id(),
        publish: job.publish,
        namespace: std::env::var(crate::contract::ENV_JOB_NAMESPACE)
            .unwrap_or_else(|_| "default".into()),
    };
    let r = run::run(host, repo, params, &setup).await;
    super::step::finish_with(host, r, |o| (o.summary.clone(), o.artifacts.clone())).await
}

#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    /// The feature's name (made into a slug: "Department tree" → department-tree).
    feature: String,
    /// The requirements text.
    #[arg(long)]
    requirements: String,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        // The API's feature is a slug: "Department tree" → department-tree.
        let feature = form::slug(&self.feature);
        let p = json!({"feature": feature, "requirements": self.requirements});
        Ok(Block {
            params: p,
            name_prefix: format!("spec-{feature}"),
        })
    }
}
