//! What an agent needs from its surroundings ([`Host`]): the agent API in a Pod, the local
//! host of `agent-runner local`, stand-ins in tests. [`DynHost`] is the same, object-safe,
//! so the registry's agents take any host.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

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
    /// The agent API is there (in a Pod): an agent's own endpoints ([`Host::call`]) work.
    fn agent_api(&self) -> bool {
        false
    }
    /// An agent's own endpoint of the agent API (`route` below the job's path, e.g.
    /// `/deploy`): `method`, a JSON body, the JSON answer (`None`: no content).
    fn call(
        &self,
        _method: &str,
        _route: &str,
        _body: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, HostError>> + Send {
        async { Err(HostError::refused("this needs the agent API")) }
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
    fn agent_api(&self) -> bool;
    fn call<'a>(
        &'a self,
        method: &'a str,
        route: &'a str,
        body: Option<serde_json::Value>,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, HostError>>;
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
    fn agent_api(&self) -> bool {
        Host::agent_api(self)
    }
    fn call<'a>(
        &'a self,
        method: &'a str,
        route: &'a str,
        body: Option<serde_json::Value>,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, HostError>> {
        Box::pin(Host::call(self, method, route, body))
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
    fn agent_api(&self) -> bool {
        DynHost::agent_api(self)
    }
    async fn call(
        &self,
        method: &str,
        route: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, HostError> {
        DynHost::call(self, method, route, body).await
    }
}
