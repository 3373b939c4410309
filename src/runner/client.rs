//! The runner's client for the agent API. Every agent uses it. Requests are retried with
//! exponential backoff while the operator is unreachable or answers 5xx/429 (an operator
//! restart or a leader change); when it stays unreachable the runner exits with the transient
//! code, so the attempt is retried rather than failed.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::ArtifactRef;
use crate::contract::TOKEN_DIR;
use crate::contract::bodies::{
    ACTIONS, APPROVALS, ARTIFACTS, ActionBody, ApprovalRequest, JobInput, PROGRESS, ProgressBody,
    RESULT, ResultBody,
};
pub use crate::contract::{ENV_API_CA, ENV_API_URL};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Worth retrying the whole attempt (network, operator down, 5xx).
    #[error("agent API unreachable: {0}")]
    Transient(String),
    /// The request itself is wrong or forbidden.
    #[error("agent API refused the request ({0}): {1}")]
    Refused(u16, String),
    #[error("agent API client: {0}")]
    Setup(String),
}

/// Progress lines on their way to the operator.
type InFlight = tokio::task::JoinHandle<Result<(), ClientError>>;

#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: String,
    token_path: std::path::PathBuf,
    /// Total time spent retrying one request before giving up.
    pub patience: Duration,
    /// The progress lines on their way (one send at a time, in order): an agent goes on with
    /// its work while they travel; the next call to the API waits for them and reports their
    /// failure.
    pending: std::sync::Arc<tokio::sync::Mutex<Option<InFlight>>>,
    /// The result the agent gave, held until the runner knows how the run ends (see
    /// [`AgentClient::hold_result`]).
    held: std::sync::Arc<std::sync::Mutex<Option<ResultBody>>>,
}

impl AgentClient {
    /// From the Pod's environment: `DEVAGENTS_API_URL`, `DEVAGENTS_API_CA` (PEM), the job's
    /// name and namespace, and the projected token. `None` when no API is configured.
    pub fn from_env() -> Result<Option<AgentClient>, ClientError> {
        let Ok(url) = std::env::var(ENV_API_URL) else {
            return Ok(None);
        };
        let ns = std::env::var(crate::contract::ENV_JOB_NAMESPACE)
            .map_err(|_| ClientError::Setup("DEVAGENTS_JOB_NAMESPACE is not set".into()))?;
        let name = std::env::var(crate::contract::ENV_JOB_NAME)
            .map_err(|_| ClientError::Setup("DEVAGENTS_JOB_NAME is not set".into()))?;
        let ca = std::env::var(ENV_API_CA).ok();
        let token_path = super::container_path(&format!("{TOKEN_DIR}/token"));
        Self::new(&url, ca.as_deref(), &ns, &name, token_path).map(Some)
    }

    pub fn new(
        url: &str,
        ca_pem: Option<&str>,
        ns: &str,
        name: &str,
        token_path: std::path::PathBuf,
    ) -> Result<AgentClient, ClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| ClientError::Setup(format!("CA: {e}")))?;
            b = b.tls_certs_only([cert]);
        }
        let http = b.build().map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(AgentClient {
            http,
            base: format!("{}/v1/jobs/{ns}/{name}", url.trim_end_matches('/')),
            token_path,
            patience: Duration::from_secs(90),
            pending: Default::default(),
            held: Default::default(),
        })
    }

    fn token(&self) -> Result<String, ClientError> {
        // Re-read every time: the kubelet rotates projected tokens.
        std::fs::read_to_string(&self.token_path)
            .map(|t| t.trim().to_string())
            .map_err(|e| ClientError::Setup(format!("token {}: {e}", self.token_path.display())))
    }

    /// Wait until the progress lines sent so far have arrived; their failure is this call's.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let prev = self.pending.lock().await.take();
        match prev {
            Some(h) => h
                .await
                .map_err(|e| ClientError::Transient(format!("progress: {e}")))?,
            None => Ok(()),
        }
    }

    /// After the progress lines on their way: send, with retries while the operator is
    /// unreachable or answers 5xx/429; returns the first successful response.
    async fn respond(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Body<'_>,
    ) -> Result<reqwest::Response, ClientError> {
        self.flush().await?;
        self.respond_now(method, path, body).await
    }

    async fn respond_now(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Body<'_>,
    ) -> Result<reqwest::Response, ClientError> {
        let deadline = tokio::time::Instant::now() + self.patience;
        let mut wait = Duration::from_millis(200);
        loop {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(self.token()?);
            req = match body {
                Body::None => req,
                Body::Json(v) => req.json(v),
                Body::Bytes(b) => req
                    .header("content-type", "application/octet-stream")
                    .body(b.to_vec()),
            };
            let outcome = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    if code >= 500 || code == 429 {
                        ClientError::Transient(format!("{code}: {text}"))
                    } else {
                        return Err(ClientError::Refused(code, text));
                    }
                }
                Err(e) => ClientError::Transient(e.to_string()),
            };
            if tokio::time::Instant::now() + wait > deadline {
                return Err(outcome);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<Option<T>, ClientError> {
        let resp = self.respond(method, path, &body).await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        resp.json::<T>()
            .await
            .map(Some)
            .map_err(|e| ClientError::Transient(e.to_string()))
    }

    pub async fn job(&self) -> Result<JobInput, ClientError> {
        self.send(reqwest::Method::GET, "", Body::None)
            .await?
            .ok_or_else(|| ClientError::Transient("empty job input".into()))
    }

    /// Progress lines, in order, without waiting for them to arrive (the next call does; a
    /// failure to deliver the previous lines is returned here or there).
    pub async fn progress(&self, lines: &[String]) -> Result<(), ClientError> {
        let mut pending = self.pending.lock().await;
        if let Some(prev) = pending.take() {
            prev.await
                .map_err(|e| ClientError::Transient(format!("progress: {e}")))??;
        }
        let c = self.clone();
        let body = Body::Json(
            serde_json::to_value(ProgressBody {
                lines: lines.to_vec(),
            })
            .unwrap_or_default(),
        );
        *pending = Some(tokio::spawn(async move {
            c.respond_now(reqwest::Method::POST, PROGRESS, &body)
                .await
                .map(|_| ())
        }));
        Ok(())
    }

    pub async fn action(
        &self,
        type_: &str,
        target: &str,
        digest: Option<&str>,
        approval: Option<&str>,
    ) -> Result<(), ClientError> {
        let body = serde_json::to_value(ActionBody {
            type_: type_.into(),
            target: target.into(),
            digest: digest.map(Into::into),
            requires_approval: approval.is_some(),
            approval: approval.map(Into::into),
        })
        .unwrap_or_default();
        self.send::<serde_json::Value>(reqwest::Method::POST, ACTIONS, Body::Json(body))
            .await
            .map(|_| ())
    }

    pub async fn artifact(&self, name: &str, bytes: &[u8]) -> Result<ArtifactRef, ClientError> {
        self.send(
            reqwest::Method::PUT,
            &format!("{ARTIFACTS}/{name}"),
            Body::Bytes(bytes),
        )
        .await?
        .ok_or_else(|| ClientError::Transient("empty artifact reference".into()))
    }

    /// Keep the agent's result for the end of the run: a success sends it in its termination
    /// message when it fits ([`crate::contract::result_message`]), anything else through
    /// [`AgentClient::send_result`]. A later result replaces an earlier one, as it would in
    /// status.
    pub fn hold_result(
        &self,
        summary: &str,
        data: Option<serde_json::Value>,
        artifacts: &[ArtifactRef],
    ) {
        let body = ResultBody {
            summary: summary.into(),
            data,
            artifacts: artifacts.to_vec(),
        };
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
    }

    /// The result held, if any (taken: it is sent once).
    pub fn take_result(&self) -> Option<ResultBody> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Send a result through the agent API (into the job's status at once).
    pub async fn send_result(&self, body: ResultBody) -> Result<(), ClientError> {
        self.result(&body.summary, body.data, &body.artifacts).await
    }

    pub async fn result<D: Serialize>(
        &self,
        summary: &str,
        data: Option<D>,
        artifacts: &[ArtifactRef],
    ) -> Result<(), ClientError> {
        let body = serde_json::to_value(ResultBody {
            summary: summary.into(),
            data: data.and_then(|d| serde_json::to_value(d).ok()),
            artifacts: artifacts.to_vec(),
        })
        .unwrap_or_default();
        self.send::<serde_json::Value>(reqwest::Method::POST, RESULT, Body::Json(body))
            .await
            .map(|_| ())
    }
}

impl AgentClient {
    /// An agent's own endpoint (`route` below the job's path): JSON in, JSON out.
    pub async fn call(
        &self,
        method: &str,
        route: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, ClientError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Refused(405, e.to_string()))?;
        let body = match body {
            Some(v) => Body::Json(v),
            None => Body::None,
        };
        self.send(method, route, body).await
    }

    /// One LLM completion through the operator's gateway (the runner never holds a key).
    pub async fn llm(
        &self,
        req: &crate::llm::gateway::CompletionRequest,
    ) -> Result<crate::agentapi::LlmAnswer, ClientError> {
        self.send(
            reqwest::Method::POST,
            "/llm",
            Body::Json(serde_json::to_value(req).unwrap_or_default()),
        )
        .await?
        .ok_or_else(|| ClientError::Transient("empty LLM answer".into()))
    }

    /// A streamed LLM completion: `on_delta` gets the text as the provider produces it; the
    /// final answer (or why it was skipped) is returned at the end.
    pub async fn llm_stream(
        &self,
        req: &crate::llm::gateway::CompletionRequest,
        mut on_delta: impl FnMut(&str),
    ) -> Result<crate::agentapi::LlmAnswer, ClientError> {
        use crate::agentapi::StreamLine;
        let body = Body::Json(serde_json::to_value(req).unwrap_or_default());
        let mut resp = self
            .respond(reqwest::Method::POST, "/llm/stream", &body)
            .await?;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| ClientError::Transient(format!("LLM stream: {e}")))?;
            if let Some(c) = &chunk {
                buf.extend_from_slice(c);
            } else if !buf.is_empty() {
                buf.push(b'\n');
            }
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<StreamLine>(&line) {
                    Ok(StreamLine::Delta(d)) => on_delta(&d),
                    Ok(StreamLine::Done(answer)) => return Ok(answer),
                    Ok(StreamLine::Error { status, message }) if status >= 500 || status == 429 => {
                        return Err(ClientError::Transient(format!("{status}: {message}")));
                    }
                    Ok(StreamLine::Error { status, message }) => {
                        return Err(ClientError::Refused(status, message));
                    }
                    Err(e) => {
                        return Err(ClientError::Transient(format!("LLM stream line: {e}")));
                    }
                }
            }
            if chunk.is_none() {
                return Err(ClientError::Transient(
                    "the LLM stream ended without an answer".into(),
                ));
            }
        }
    }

    /// Ask for an approval of `action` pinned to `pins`, then wait until it is decided (or
    /// `wait` runs out). Returns the final state: Approved, Rejected, Expired or Voided.
    pub async fn approval(
        &self,
        action: &str,
        description: &str,
        pins: &[crate::api::Pin],
        wait: Duration,
    ) -> Result<crate::agentapi::ApprovalState, ClientError> {
        let body = serde_json::to_value(ApprovalRequest {
            action: action.into(),
            description: description.into(),
            pins: pins.to_vec(),
        })
        .unwrap_or_default();
        let mut st: crate::agentapi::ApprovalState = self
            .send(reqwest::Method::POST, APPROVALS, Body::Json(body))
            .await?
            .ok_or_else(|| ClientError::Transient("empty approval".into()))?;
        let deadline = tokio::time::Instant::now() + wait;
        while st.phase == crate::api::ApprovalPhase::Pending
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
            st = self
                .send(
                    reqwest::Method::GET,
                    &format!("{APPROVALS}/{}", st.name),
                    Body::None,
                )
                .await?
                .ok_or_else(|| ClientError::Transient("empty approval".into()))?;
        }
        Ok(st)
    }
}

enum Body<'a> {
    None,
    Json(serde_json::Value),
    Bytes(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::routing::{get, post};

    use super::*;

    /// Serve `app` on a free local port; its base URL.
    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// A stand-in operator: 503 twice (restarting), then the job; `result` is forbidden.
    async fn flaky_operator(calls: Arc<AtomicUsize>, refused: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new()
            .route(
                "/v1/jobs/ns/j",
                get(move |headers: axum::http::HeaderMap| {
                    let calls = calls.clone();
                    async move {
                        assert_eq!(headers["authorization"], "Bearer tok-1");
                        if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                            return Err(StatusCode::SERVICE_UNAVAILABLE);
                        }
                        Ok(axum::Json(serde_json::json!({
                            "name": "j", "namespace": "ns", "uid": "u", "attempt": 1,
                            "spec": {"agent": "probe", "probe": {}}
                        })))
                    }
                }),
            )
            .route(
                "/v1/jobs/ns/j/result",
                post(move || {
                    let refused = refused.clone();
                    async move {
                        refused.fetch_add(1, Ordering::SeqCst);
                        StatusCode::FORBIDDEN
                    }
                }),
            );
        serve(app).await
    }

    #[tokio::test]
    async fn retries_while_the_operator_restarts_but_not_refusals() {
        let (calls, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let url = flaky_operator(calls.clone(), refused.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok-1\n").unwrap();
        let c = AgentClient::new(&url, None, "ns", "j", dir.path().join("token")).unwrap();
        let input = c.job().await.unwrap();
        assert_eq!(input.name, "j");
        assert_eq!(calls.load(Ordering::SeqCst), 3, "two 503s, then success");
        match c.result::<()>("x", None, &[]).await {
            Err(ClientError::Refused(403, _)) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            refused.load(Ordering::SeqCst),
            1,
            "a refusal is final, not retried"
        );
    }

    #[tokio::test]
    async fn an_unreachable_operator_is_transient() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = AgentClient::new(
            &format!("http://127.0.0.1:{port}"),
            None,
            "ns",
            "j",
            dir.path().join("token"),
        )
        .unwrap();
        c.patience = Duration::from_millis(700);
        assert!(matches!(c.job().await, Err(ClientError::Transient(_))));
    }

    /// A stand-in operator whose progress endpoint answers only when `gate` lets it, records
    /// the lines in arrival order, and refuses the batch that contains "refuse me".
    async fn slow_progress(
        seen: Arc<std::sync::Mutex<Vec<String>>>,
        gate: Arc<tokio::sync::Semaphore>,
    ) -> String {
        let app = axum::Router::new()
            .route(
                "/v1/jobs/ns/j/progress",
                post(move |body: axum::Json<serde_json::Value>| {
                    let (seen, gate) = (seen.clone(), gate.clone());
                    async move {
                        gate.acquire().await.unwrap().forget();
                        let lines: Vec<String> =
                            serde_json::from_value(body["lines"].clone()).unwrap();
                        let refuse = lines.iter().any(|l| l == "refuse me");
                        seen.lock().unwrap().extend(lines);
                        if refuse {
                            StatusCode::FORBIDDEN
                        } else {
                            StatusCode::NO_CONTENT
                        }
                    }
                }),
            )
            .route(
                "/v1/jobs/ns/j/result",
                post(|| async { StatusCode::NO_CONTENT }),
            );
        serve(app).await
    }

    #[tokio::test]
    async fn progress_travels_while_the_agent_works_in_order_and_its_failure_is_reported() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let url = slow_progress(seen.clone(), gate.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok").unwrap();
        let c = AgentClient::new(&url, None, "ns", "j", dir.path().join("token")).unwrap();

        // The operator holds the lines; the agent goes on.
        tokio::time::timeout(Duration::from_secs(10), c.progress(&["one".into()]))
            .await
            .expect("progress waited for the operator")
            .unwrap();
        assert!(seen.lock().unwrap().is_empty(), "not arrived yet");
        gate.add_permits(100);
        // The next lines go after the first have arrived; the result after both.
        c.progress(&["two".into()]).await.unwrap();
        c.result::<()>("done", None, &[]).await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec!["one", "two"]);

        // A refused batch fails the next call (here: flush, as the runner does at its end).
        c.progress(&["refuse me".into()]).await.unwrap();
        match c.flush().await {
            Err(ClientError::Refused(403, _)) => {}
            other => panic!("expected the refusal, got {other:?}"),
        }
        assert!(c.flush().await.is_ok(), "reported once");
    }
}
