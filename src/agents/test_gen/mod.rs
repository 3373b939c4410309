//! `test-gen`: the plan's @test-gen: table-driven Go tests, mocks and fixtures until coverage is
//! reached, kept only when they build, pass and raise coverage.
//!
//! Not built yet: the descriptor is here (its name, what it will do, that it needs a
//! repository), so its jobs are validated, queued and run, and end `Failed` with the reason
//! "the test-gen agent is not available in this build".

use crate::api::AgentKind;

pub struct TestGen;

impl super::Agent for TestGen {
    fn kind(&self) -> AgentKind {
        AgentKind::TestGen
    }
    fn description(&self) -> &'static str {
        "table-driven Go tests until coverage is reached"
    }
    fn needs_repository(&self) -> bool {
        true
    }
}
