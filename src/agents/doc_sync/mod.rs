//! `doc-sync`: the plan's @doc-sync: detect API changes, regenerate swagger, update marked doc sections,
//! write a changelog entry and Notion pages, commit to a docs branch.
//!
//! Not built yet: the descriptor is here (its name, what it will do, that it needs a
//! repository), so its jobs are validated, queued and run, and end `Failed` with the reason
//! "the doc-sync agent is not available in this build".

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
}
