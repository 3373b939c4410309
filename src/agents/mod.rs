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
    /// `go test -vet=off -cover PACKAGES` of the checkout at `root`: `(exit code, stdout)`, or
    /// `Ok(None)` when Go is not installed. Here (run locally, on the user's own checkout) in
    /// place; through the agent API in an isolated sandbox Pod (the code is a pull request's).
    fn go_test(
        &self,
        root: &std::path::Path,
        packages: &[String],
    ) -> impl Future<Output = Result<Option<(i32, String)>, String>> + Send {
        let (root, packages) = (root.to_path_buf(), packages.to_vec());
        async move { Ok(reviewer::sandbox::go_test(&root, &packages, None).await) }
    }
    /// A deploy's write, done by the operator (only the agent API offers it).
    fn deploy(
        &self,
        _op: &deployer::ops::DeployOp,
    ) -> impl Future<Output = Result<deployer::ops::DeployReply, String>> + Send {
        async { Err("deploys need the agent API".to_string()) }
    }
}
