//! `probe`: the built-in diagnostic agent (health checks, tests, benchmarks): it sleeps,
//! exits with a chosen code, fails chosen attempts, asks for an approval, calls the LLM
//! gateway and writes a result of a chosen size, as its parameters say.

use crate::api::AgentKind;

pub struct Probe;

impl super::Agent for Probe {
    fn kind(&self) -> AgentKind {
        AgentKind::Probe
    }
    fn description(&self) -> &'static str {
        "the built-in diagnostic agent"
    }
}
