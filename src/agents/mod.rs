//! The agents that run inside the runner, one folder each, and what they need from their
//! surroundings ([`Host`]: the agent API in a Pod, stand-ins in tests).

use std::future::Future;

use crate::llm::gateway::CompletionRequest;

pub mod deployer;
pub mod generator;
pub mod reviewer;

/// What an agent needs from its surroundings (the agent API in a Pod; stand-ins in tests).
pub trait Host {
    fn progress(&self, line: &str) -> impl Future<Output = Result<(), String>> + Send;
    fn action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// One completion: `Ok(Ok(text))`, or `Ok(Err(why))` when LLM steps are skipped.
    fn llm(
        &self,
        req: &CompletionRequest,
    ) -> impl Future<Output = Result<Result<String, String>, String>> + Send;
}
