//! What an agent needs from its surroundings ([`Host`]): the agent API in a Pod, the local
//! host of `agent-runner local`, stand-ins in tests. [`DynHost`] is the same, object-safe,
//! so the registry's agents take any host.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{deployer, reviewer};
use crate::agentapi::ApprovalState;
use crate::api::{ArtifactRef, Pin};
use crate::llm::gateway::CompletionRequest;

/// A failure of the host itself; a transient one (the operator unreachable) is worth another
/// attempt.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub transient: bool,
    pub message: String,
}

impl HostError {
    pub fn refused(message: impl Into<String>) -> HostError {
        HostError {
            transient: false,
            message: message.into(),
        }
    }
}

/// A completion's text, or why LLM steps are skipped.
pub type LlmText = Result<String, String>;

/// What an agent needs from its surroundings.
pub trait Host {
    fn progress(&self, line: &str) -> impl Future<Output = Result<(), String>> + Send;
    fn action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// An action taken on an approval's strength: the audit trail names the approval.
    fn approved_action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
        _approval: &str,
    ) -> impl Future<Output = Result<(), String>> + Send {
        self.action(kind, target, digest)
    }
    /// One completion: `Ok(Ok(text))`, or `Ok(Err(why))` when LLM steps are skipped.
    fn llm(
        &self,
        req: &CompletionRequest,
    ) -> impl Future<Output = Result<LlmText, HostError>> + Send;
    /// One completion, streamed: as [`Host::llm`], with the number of chunks it came in.
    fn llm_stream(
        &self,
        req: &CompletionRequest,
    ) -> impl Future<Output = Result<(LlmText, usize), HostError>> + Send {
        let answer = self.llm(req);
        async move { Ok((answer.await?, 1)) }
    }
    /// A file of the result (any size), referenced from the result.
    fn artifact(
        &self,
        _name: &str,
        _bytes: &[u8],
    ) -> impl Future<Output = Result<ArtifactRef, HostError>> + Send {
        async { Err(HostError::refused("this host keeps no artifacts")) }
    }
    /// The attempt's result: summary, small data, artifacts.
    fn result(
        &self,
        _summary: &str,
        _data: Option<serde_json::Value>,
        _artifacts: &[ArtifactRef],
    ) -> impl Future<Output = Result<(), HostError>> + Send {
        async { Err(HostError::refused("this host keeps no result")) }
    }
    /// Ask people to approve `action` (pinned to `pins`) and wait up to `wait` for them.
    fn approval(
        &self,
        _action: &str,
        _description: &str,
        _pins: &[Pin],
        _wait: Duration,
    ) -> impl Future<Output = Result<ApprovalState, HostError>> + Send {
        async { Err(HostError::refused("approvals need the agent API")) }
    }
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

/// [`Host`], object-safe: every `Host` is one, and `dyn DynHost` is a `Host` again.
pub trait DynHost: Send + Sync {
    fn progress<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<(), String>>;
    fn action<'a>(
        &'a self,
        kind: &'a str,
        target: &'a str,
        digest: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>>;
    fn approved_action<'a>(
        &'a self,
        kind: &'a str,
        target: &'a str,
        digest: Option<&'a str>,
        approval: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
    fn llm<'a>(&'a self, req: &'a CompletionRequest) -> BoxFuture<'a, Result<LlmText, HostError>>;
    fn llm_stream<'a>(
        &'a self,
        req: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<(LlmText, usize), HostError>>;
    fn artifact<'a>(
        &'a self,
        name: &'a str,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<ArtifactRef, HostError>>;
    fn result<'a>(
        &'a self,
        summary: &'a str,
        data: Option<serde_json::Value>,
        artifacts: &'a [ArtifactRef],
    ) -> BoxFuture<'a, Result<(), HostError>>;
    fn approval<'a>(
        &'a self,
        action: &'a str,
        description: &'a str,
        pins: &'a [Pin],
        wait: Duration,
    ) -> BoxFuture<'a, Result<ApprovalState, HostError>>;
    fn go_test<'a>(
        &'a self,
        root: &'a std::path::Path,
        packages: &'a [String],
    ) -> BoxFuture<'a, Result<Option<(i32, String)>, String>>;
    fn deploy<'a>(
        &'a self,
        op: &'a deployer::ops::DeployOp,
    ) -> BoxFuture<'a, Result<deployer::ops::DeployReply, String>>;
}

impl<T: Host + Send + Sync> DynHost for T {
    fn progress<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(Host::progress(self, line))
    }
    fn action<'a>(
        &'a self,
        kind: &'a str,
        target: &'a str,
        digest: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(Host::action(self, kind, target, digest))
    }
    fn approved_action<'a>(
        &'a self,
        kind: &'a str,
        target: &'a str,
        digest: Option<&'a str>,
        approval: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(Host::approved_action(self, kind, target, digest, approval))
    }
    fn llm<'a>(&'a self, req: &'a CompletionRequest) -> BoxFuture<'a, Result<LlmText, HostError>> {
        Box::pin(Host::llm(self, req))
    }
    fn llm_stream<'a>(
        &'a self,
        req: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<(LlmText, usize), HostError>> {
        Box::pin(Host::llm_stream(self, req))
    }
    fn artifact<'a>(
        &'a self,
        name: &'a str,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<ArtifactRef, HostError>> {
        Box::pin(Host::artifact(self, name, bytes))
    }
    fn result<'a>(
        &'a self,
        summary: &'a str,
        data: Option<serde_json::Value>,
        artifacts: &'a [ArtifactRef],
    ) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(Host::result(self, summary, data, artifacts))
    }
    fn approval<'a>(
        &'a self,
        action: &'a str,
        description: &'a str,
        pins: &'a [Pin],
        wait: Duration,
    ) -> BoxFuture<'a, Result<ApprovalState, HostError>> {
        Box::pin(Host::approval(self, action, description, pins, wait))
    }
    fn go_test<'a>(
        &'a self,
        root: &'a std::path::Path,
        packages: &'a [String],
    ) -> BoxFuture<'a, Result<Option<(i32, String)>, String>> {
        Box::pin(Host::go_test(self, root, packages))
    }
    fn deploy<'a>(
        &'a self,
        op: &'a deployer::ops::DeployOp,
    ) -> BoxFuture<'a, Result<deployer::ops::DeployReply, String>> {
        Box::pin(Host::deploy(self, op))
    }
}

impl<'h> Host for dyn DynHost + 'h {
    async fn progress(&self, line: &str) -> Result<(), String> {
        DynHost::progress(self, line).await
    }
    async fn action(&self, kind: &str, target: &str, digest: Option<&str>) -> Result<(), String> {
        DynHost::action(self, kind, target, digest).await
    }
    async fn approved_action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
        approval: &str,
    ) -> Result<(), String> {
        DynHost::approved_action(self, kind, target, digest, approval).await
    }
    async fn llm(&self, req: &CompletionRequest) -> Result<LlmText, HostError> {
        DynHost::llm(self, req).await
    }
    async fn llm_stream(&self, req: &CompletionRequest) -> Result<(LlmText, usize), HostError> {
        DynHost::llm_stream(self, req).await
    }
    async fn artifact(&self, name: &str, bytes: &[u8]) -> Result<ArtifactRef, HostError> {
        DynHost::artifact(self, name, bytes).await
    }
    async fn result(
        &self,
        summary: &str,
        data: Option<serde_json::Value>,
        artifacts: &[ArtifactRef],
    ) -> Result<(), HostError> {
        DynHost::result(self, summary, data, artifacts).await
    }
    async fn approval(
        &self,
        action: &str,
        description: &str,
        pins: &[Pin],
        wait: Duration,
    ) -> Result<ApprovalState, HostError> {
        DynHost::approval(self, action, description, pins, wait).await
    }
    async fn go_test(
        &self,
        root: &std::path::Path,
        packages: &[String],
    ) -> Result<Option<(i32, String)>, String> {
        DynHost::go_test(self, root, packages).await
    }
    async fn deploy(
        &self,
        op: &deployer::ops::DeployOp,
    ) -> Result<deployer::ops::DeployReply, String> {
        DynHost::deploy(self, op).await
    }
}
