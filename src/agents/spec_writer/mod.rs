//! `spec-writer`: the plan's @spec-writer: spec.md, plan.md and tasks.md in spec-kit format, grounded in
//! the repository.
//!
//! Not built yet: the descriptor is here (its name, what it will do, that it needs a
//! repository), so its jobs are validated, queued and run, and end `Failed` with the reason
//! "the spec-writer agent is not available in this build".

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
}
