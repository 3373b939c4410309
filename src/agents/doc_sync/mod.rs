//! `doc-sync`: the plan's @doc-sync: detect API changes, regenerate swagger, update marked doc sections,
//! write a changelog entry and Notion pages, commit to a docs branch.
//!
//! Built so far: [`api_file`] parses go-zero's `.api` language, [`api_diff`] classifies the
//! change between two versions as oasdiff does, [`proto_file`] does both for the RPC side's
//! `.proto` files, [`swagger`] diffs the generated Swagger 2.0 as a second source and says where
//! it disagrees with the `.api` diff, [`notion_page`] builds a service's API page as Notion
//! blocks, [`sections`] rewrites only the marked sections
//! of a document (and writes the `commands` and `api` sections), [`changelog`] writes a
//! Keep a Changelog entry from the API diff and the conventional commits, and [`run`] puts them
//! together: refs, swagger, sections, changelog, the docs branch and pull request, the Notion
//! page. Deterministic: doc-sync makes no LLM call.

pub mod api_diff;
pub mod api_file;
pub mod changelog;
pub mod notion_page;
pub mod proto_file;
pub mod run;
pub mod sections;
pub mod swagger;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::api::{AgentJob, AgentKind};
use crate::controller::agent::OperatorSide;
use crate::controller::pod;

pub struct DocSync;

impl super::Agent for DocSync {
    fn kind(&self) -> AgentKind {
        AgentKind::DocSync
    }
    fn description(&self) -> &'static str {
        "swagger, doc sections, changelog, Notion after API changes"
    }
    fn needs_repository(&self) -> bool {
        true
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@doc-sync: swagger, doc sections, changelog, Notion after API changes.",
        )
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
    fn implemented(&self) -> bool {
        true
    }
    fn operator(&self, _setup: &super::Setup) -> Arc<dyn OperatorSide> {
        Arc::new(Ops)
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(entry(host, job))
    }
}

/// doc-sync's operator side: its repository, and the Notion Secret mounted read-only (only
/// `docSync.notion.secret`, only into this job's Pod).
struct Ops;

impl OperatorSide for Ops {
    fn needs_repository(&self) -> bool {
        true
    }
    fn pod(&self, job: &AgentJob, spec: &mut k8s_openapi::api::core::v1::PodSpec) {
        let Some(n) = job.spec.doc_sync.as_ref().and_then(|d| d.notion.as_ref()) else {
            return;
        };
        pod::mount_secret(spec, "notion", &n.secret, crate::contract::NOTION_DIR);
    }
}

/// The Notion token: the mounted Secret's `token` (in the Pod), else `$NOTION_TOKEN`
/// (`agent-runner local`).
pub(crate) fn notion_token() -> Option<String> {
    let file = crate::contract::container_path(crate::contract::NOTION_DIR).join("token");
    std::fs::read_to_string(file)
        .ok()
        .or_else(|| std::env::var("NOTION_TOKEN").ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

async fn entry(host: &dyn DynHost, job: &RunJob) -> Outcome {
    let (Some(repo), Some(params)) = (&job.spec.repository, &job.spec.doc_sync) else {
        return Err(Failed::agent(
            "doc-sync needs spec.repository and spec.docSync",
        ));
    };
    let notion = params.notion.as_ref().and_then(|n| {
        Some(crate::services::notion::Notion::new(
            n.api_url
                .as_deref()
                .unwrap_or(crate::services::notion::DEFAULT_API_URL),
            &notion_token()?,
        ))
    });
    let setup = run::Setup {
        workdir: job.workdir.clone(),
        github_api: job.github_api.clone(),
        credentials: job.credentials.clone(),
        short_id: job.short_id(),
        publish: job.publish,
        notion,
    };
    let r = run::run(host, repo, params, &setup).await;
    super::step::finish(host, r, |o| o.summary.clone()).await
}

#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    /// The pull request whose API changes to document.
    #[arg(long)]
    pr: Option<i64>,
    #[arg(long)]
    base_ref: Option<String>,
    #[arg(long)]
    head_ref: Option<String>,
    /// What to update (repeatable): swagger, docs, changelog, notion (default: all).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// The Makefile target that regenerates the Swagger file.
    #[arg(long)]
    swagger_target: Option<String>,
    /// Secret with the Notion token (key `token`) …
    #[arg(long, requires = "notion_parent")]
    notion_secret: Option<String>,
    /// … and the page the service's API page lives under.
    #[arg(long, requires = "notion_secret")]
    notion_parent: Option<String>,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let mut p = json!({});
        form::set_opt(&mut p, "pullRequest", self.pr);
        form::set_opt(&mut p, "baseRef", self.base_ref);
        form::set_opt(&mut p, "headRef", self.head_ref);
        if !self.targets.is_empty() {
            p["targets"] = json!(self.targets);
        }
        form::set_opt(&mut p, "swaggerTarget", self.swagger_target);
        if let (Some(secret), Some(parent)) = (self.notion_secret, self.notion_parent) {
            p["notion"] = json!({ "secret": secret, "parentPageId": parent });
        }
        Ok(Block {
            params: p,
            name_prefix: "doc-sync".into(),
        })
    }
}
