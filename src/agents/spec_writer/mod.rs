//! `spec-writer`: the plan's @spec-writer: spec.md, plan.md and tasks.md in spec-kit format, grounded in
//! the repository.
//!
//! Built so far: [`check`], the deterministic spec-kit format checker the run will check its
//! output with, and [`ground`], the repository facts a spec is grounded in (entities, routes,
//! RPCs, Makefile targets, layout) and the conflicts of a proposal with them. The run is not
//! built yet: the descriptor is here (its name, what it will do, that it needs a repository,
//! its `kubectl agent run` form), so its jobs are validated, queued and run, and end `Failed`
//! with the reason "the spec-writer agent is not available in this build".

pub mod check;
pub mod ground;

use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
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
