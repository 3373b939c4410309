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
}
