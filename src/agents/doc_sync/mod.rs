//! `doc-sync`: the plan's @doc-sync: detect API changes, regenerate swagger, update marked doc sections,
//! write a changelog entry and Notion pages, commit to a docs branch.
//!
//! Built so far: [`api_file`] parses go-zero's `.api` language, [`api_diff`] classifies the
//! change between two versions as oasdiff does, [`proto_file`] does both for the RPC side's
//! `.proto` files, [`swagger`] diffs the generated Swagger 2.0 as a second source and says where
//! it disagrees with the `.api` diff, [`notion_page`] builds a service's API page as Notion
//! blocks, [`sections`] rewrites only the marked sections
//! of a document (and writes the `commands` and `api` sections), and [`changelog`] writes a
//! Keep a Changelog entry from the API diff and the conventional commits. The run is not built
//! yet: the descriptor is
//! here (its name, that it needs a repository, its `kubectl agent run` form), so its jobs are
//! validated, queued and run, and end `Failed` with the reason "the doc-sync agent is not
//! available in this build".

pub mod api_diff;
pub mod api_file;
pub mod changelog;
pub mod notion_page;
pub mod proto_file;
pub mod sections;
pub mod swagger;

use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use crate::api::AgentKind;

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
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let mut p = json!({});
        form::set_opt(&mut p, "pullRequest", self.pr);
        form::set_opt(&mut p, "baseRef", self.base_ref);
        form::set_opt(&mut p, "headRef", self.head_ref);
        Ok(Block {
            params: p,
            name_prefix: "doc-sync".into(),
        })
    }
}
