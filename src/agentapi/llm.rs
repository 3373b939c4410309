//! LLM calls through the operator's gateway: one call at a time per job, within its budget.

use super::*;

/// What an agent gets back from `POST /llm`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct LlmAnswer {
    /// Why no completion was made (no provider configured, budget spent).
    #[serde(default)]
    pub skipped: Option<String>,
    #[serde(default)]
    pub completion: Option<crate::llm::gateway::Completion>,
}

/// An LLM call that may go ahead: the job's turn is held until its tokens are accounted.
pub(crate) struct LlmGo {
    job: AgentJob,
    gw: Arc<crate::llm::gateway::Gateway>,
    req: crate::llm::gateway::CompletionRequest,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

/// A rough count of a request's input tokens (about four bytes a token), for reserving.
pub(crate) fn estimated_input_tokens(req: &crate::llm::gateway::CompletionRequest) -> i64 {
    let bytes = req.system.as_ref().map_or(0, String::len)
        + req.context.as_ref().map_or(0, String::len)
        + req.messages.iter().map(|m| m.content.len()).sum::<usize>();
    (bytes / 4) as i64 + 1
}

/// What a request may use of the job's token budget: `None` when nothing is left, else
/// the request with `max_tokens` cut to what remains after its estimated input.
pub fn reserve(
    req: &crate::llm::gateway::CompletionRequest,
    used: &crate::api::LlmUsage,
    budget: Option<&crate::api::Budget>,
) -> Option<crate::llm::gateway::CompletionRequest> {
    let mut req = req.clone();
    if let Some(b) = budget {
        if b.max_cost_usd.is_some_and(|m| used.cost_usd >= m) {
            return None;
        }
        if let Some(max) = b.max_tokens {
            let left = max - used.input_tokens - used.output_tokens - estimated_input_tokens(&req);
            if left < 1 {
                return None;
            }
            req.max_tokens = req.max_tokens.min(u32::try_from(left).unwrap_or(u32::MAX));
        }
    }
    Some(req)
}

/// Authorize an LLM call of job `ns/name` and decide whether it may reach the provider:
/// `Err(answer)` when it is skipped (no provider configured, budget spent), recorded in the
/// job's status. A job's calls take turns (its budget is checked and reserved against what
/// the previous call used, never against a stale count).
pub(crate) async fn llm_gate(
    s: &ApiState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
    body: axum::body::Body,
) -> Result<Result<LlmGo, LlmAnswer>, ApiError> {
    let job = authorize(s, headers, ns, name).await?;
    let req: crate::llm::gateway::CompletionRequest = read_json(body, BODY_LLM).await?;
    let turn = {
        let mut turns = s.llm_turns.lock().await;
        if turns.len() > 1_000 {
            turns.retain(|_, t| Arc::strong_count(t) > 1);
        }
        turns
            .entry(job.uid().unwrap_or_default())
            .or_default()
            .clone()
    }
    .lock_owned()
    .await;
    // Re-read after waiting for the turn: the previous call's tokens are in status now.
    let job: AgentJob = Api::namespaced(s.client.clone(), ns).get(name).await?;
    let why = match s.llm.clone() {
        None => "no LLM provider is configured; LLM steps were skipped",
        Some(gw) => {
            let used = job
                .status
                .as_ref()
                .and_then(|st| st.llm.clone())
                .unwrap_or_default();
            // The job's budget stops LLM use, not the job.
            match reserve(&req, &used, job.spec.budget.as_ref()) {
                Some(req) => {
                    return Ok(Ok(LlmGo {
                        job,
                        gw,
                        req,
                        _turn: turn,
                    }));
                }
                None => "the job's LLM budget is spent; LLM steps were skipped",
            }
        }
    };
    update_status(&s.client, job, move |st| {
        st.llm.get_or_insert_with(Default::default).skipped = Some(why.to_string());
    })
    .await?;
    Ok(Err(LlmAnswer {
        skipped: Some(why.into()),
        completion: None,
    }))
}

pub(crate) fn llm_error(e: crate::llm::gateway::LlmError) -> ApiError {
    match e {
        crate::llm::gateway::LlmError::Limit(l) => {
            ApiError(StatusCode::TOO_MANY_REQUESTS, l.to_string())
        }
        // The same request would be cut again: not worth a retry.
        e @ crate::llm::gateway::LlmError::Incomplete { .. } => {
            ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        other => ApiError(StatusCode::BAD_GATEWAY, other.to_string()),
    }
}

/// Account what a provider call spent — a complete answer, or the tokens of an incomplete
/// one — and hand the completion or the error on.
pub(crate) async fn settle(
    client: &Client,
    job: AgentJob,
    r: Result<crate::llm::gateway::Completion, crate::llm::gateway::LlmError>,
) -> Result<crate::llm::gateway::Completion, ApiError> {
    match r {
        Ok(c) => {
            account(client, job, &c).await?;
            Ok(c)
        }
        Err(e) => {
            if let crate::llm::gateway::LlmError::Incomplete { spent, .. } = &e {
                account(client, job, spent).await?;
            }
            Err(llm_error(e))
        }
    }
}

/// Add a provider call's tokens and cost to the job's `status.llm`.
pub(crate) async fn account(
    client: &Client,
    job: AgentJob,
    c: &crate::llm::gateway::Completion,
) -> Result<(), ApiError> {
    if c.from_cache {
        return Ok(());
    }
    let c2 = c.clone();
    update_status(client, job, move |st| {
        let u = st.llm.get_or_insert_with(Default::default);
        u.requests += 1;
        u.input_tokens += c2.input_tokens as i64;
        u.output_tokens += c2.output_tokens as i64;
        u.cached_tokens += c2.cached_tokens as i64;
        u.cache_write_tokens += c2.cache_write_tokens as i64;
        u.cost_usd += c2.cost_usd;
    })
    .await
    .map(|_| ())
}

pub(crate) async fn llm(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    if let Some(p) = s.peers.get()
        && !p.serve_here(&headers)
    {
        return p
            .forward(&format!("/v1/jobs/{ns}/{name}/llm"), &headers, body)
            .await;
    }
    let go = match llm_gate(&s, &headers, &ns, &name, body).await? {
        Ok(go) => go,
        Err(skipped) => return Ok(axum::Json(skipped).into_response()),
    };
    let r = go
        .gw
        .complete(&format!("{ns}/{name}"), go.job.spec.agent.as_str(), &go.req)
        .await;
    let c = settle(&s.client, go.job, r).await?;
    Ok(axum::Json(LlmAnswer {
        skipped: None,
        completion: Some(c),
    })
    .into_response())
}

/// One line of the streaming answer (NDJSON): text deltas as they arrive, then either the
/// final answer or the error.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub enum StreamLine {
    Delta(String),
    Done(LlmAnswer),
    Error { status: u16, message: String },
}

pub(crate) fn ndjson(line: &StreamLine) -> Bytes {
    let mut v = serde_json::to_vec(line).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// `POST /llm/stream`: the provider's stream passed through as NDJSON lines.
pub(crate) async fn llm_stream(
    State(s): State<Arc<ApiState>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    if let Some(p) = s.peers.get()
        && !p.serve_here(&headers)
    {
        return p
            .forward(&format!("/v1/jobs/{ns}/{name}/llm/stream"), &headers, body)
            .await;
    }
    let body = match llm_gate(&s, &headers, &ns, &name, body).await? {
        Err(skipped) => axum::body::Body::from(ndjson(&StreamLine::Done(skipped))),
        Ok(LlmGo {
            job,
            gw,
            req,
            _turn,
        }) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
            let client = s.client.clone();
            tokio::spawn(async move {
                let key = format!("{ns}/{name}");
                let agent = job.spec.agent.as_str();
                let r = gw
                    .stream(&key, agent, &req, |d| {
                        let _ = tx.send(ndjson(&StreamLine::Delta(d.to_string())));
                    })
                    .await;
                let last = match settle(&client, job, r).await {
                    Ok(c) => StreamLine::Done(LlmAnswer {
                        skipped: None,
                        completion: Some(c),
                    }),
                    Err(ApiError(code, message)) => StreamLine::Error {
                        status: code.as_u16(),
                        message,
                    },
                };
                let _ = tx.send(ndjson(&last));
                drop(_turn);
            });
            let lines = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
            });
            axum::body::Body::from_stream(lines)
        }
    };
    Ok(([("content-type", "application/x-ndjson")], body).into_response())
}
