//! A TEST DOUBLE of the two LLM provider APIs the gateway speaks — Anthropic's Messages API
//! (`POST /v1/messages`) and OpenAI's Chat Completions (`POST /v1/chat/completions`) — on one
//! local HTTP server. It follows the published references where the gateway once disagreed
//! with them (issue 23): answers and stream events in the official shapes (the official Python
//! SDKs parse them, `tests/sdk_contracts.rs`), `stop_reason: max_tokens` / `finish_reason:
//! length` when the output limit cuts an answer, prompt caching only for a prefix marked with
//! `cache_control` that reaches the model's minimum length (`cache_creation_input_tokens` on
//! the first call, `cache_read_input_tokens` after), OpenAI's automatic caching from 1,024
//! tokens, `max_tokens` refused by reasoning models, typed errors with `retry-after`, and an
//! `error` event in the middle of a stream.
//!
//! Token counts are the double's own approximation (4 bytes a token), not a real tokenizer.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the double answers next.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An answer (cut at the request's output limit, as the real APIs do).
    Text(String),
    /// Anthropic: `stop_reason: refusal`; OpenAI: a `refusal` message, `finish_reason:
    /// content_filter`.
    Refusal(String),
    /// An error answer: status, the error's type, and a `retry-after` in seconds.
    Error {
        status: u16,
        kind: String,
        retry_after: Option<u64>,
    },
    /// A stream that sends `text` and then an `error` event of this type (non-streaming
    /// requests get the same error as an HTTP answer with its status).
    StreamError { text: String, kind: String },
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct ProviderState {
    pub key: String,
    /// Replies in turn; when only one is left it is given again.
    pub replies: VecDeque<Reply>,
    pub received: Vec<Received>,
    /// Prompt prefixes in the provider's cache (their text).
    cached: HashSet<String>,
    next: u64,
}

/// The provider double (both APIs on one server).
pub struct ProviderDouble {
    pub url: String,
    pub state: Arc<Mutex<ProviderState>>,
    _served: super::Served,
}

type Ps = Arc<Mutex<ProviderState>>;

/// The double's token count: 4 bytes a token (at least one for a non-empty text).
pub fn tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// Anthropic's minimum cacheable prefix of `model` (the published table).
fn anthropic_min_cacheable(model: &str) -> u64 {
    crate::llm::gateway::min_cacheable_tokens(model)
}

/// OpenAI's reasoning models refuse `max_tokens`.
fn reasoning_model(model: &str) -> bool {
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| model.starts_with(p))
}

impl ProviderDouble {
    pub async fn start(key: &str, replies: Vec<Reply>) -> std::io::Result<ProviderDouble> {
        let state: Ps = Arc::new(Mutex::new(ProviderState {
            key: key.into(),
            replies: replies.into(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/v1/messages", post(anthropic))
            .route("/v1/chat/completions", post(openai))
            .with_state(state.clone());
        let served = super::serve(app).await?;
        Ok(ProviderDouble {
            url: served.url(),
            state,
            _served: served,
        })
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut ProviderState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }
}

fn next_reply(st: &mut ProviderState) -> Reply {
    if st.replies.len() > 1 {
        st.replies.pop_front().unwrap_or(Reply::Text(String::new()))
    } else {
        st.replies
            .front()
            .cloned()
            .unwrap_or(Reply::Text("ok".into()))
    }
}

/// `text` cut to `max` tokens: (the text, whether it was cut).
fn cut(text: &str, max: u64) -> (String, bool) {
    if tokens(text) <= max {
        return (text.to_string(), false);
    }
    let mut end = (max as usize * 4).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

fn sse(events: &[(&str, Value)]) -> Response {
    let mut body = String::new();
    for (name, data) in events {
        body.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }
    ([("content-type", "text/event-stream; charset=utf-8")], body).into_response()
}

fn text_chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if cur.len() >= 8 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

// ---- Anthropic -------------------------------------------------------------------------

fn anthropic_error(status: u16, kind: &str, message: &str, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (
        code,
        Json(
            json!({ "type": "error", "error": { "type": kind, "message": message },
                     "request_id": "req_double" }),
        ),
    )
        .into_response();
    r.headers_mut().insert(
        "request-id",
        axum::http::HeaderValue::from_static("req_double"),
    );
    if let Some(s) = retry_after
        && let Ok(v) = s.to_string().parse()
    {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

/// The text of a `system` or message `content` (a string or text blocks), and the text up to
/// and including the last block marked with `cache_control` (with how many markers).
fn blocks_text(v: &Value) -> (String, Option<String>, usize) {
    match v {
        Value::String(s) => (s.clone(), None, 0),
        Value::Array(blocks) => {
            let mut all = String::new();
            let mut prefix = None;
            let mut marks = 0;
            for b in blocks {
                all.push_str(b["text"].as_str().unwrap_or_default());
                if b.get("cache_control").is_some() {
                    marks += 1;
                    prefix = Some(all.clone());
                }
            }
            (all, prefix, marks)
        }
        _ => (String::new(), None, 0),
    }
}

async fn anthropic(State(s): State<Ps>, h: HeaderMap, body: String) -> Response {
    let mut st = lock(&s);
    let b: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return anthropic_error(
                400,
                "invalid_request_error",
                &format!("invalid JSON: {e}"),
                None,
            );
        }
    };
    st.received.push(Received {
        path: "/v1/messages".into(),
        headers: h.clone(),
        body: b.clone(),
    });
    // The key as `x-api-key`, or (what newer official SDKs send) as a bearer token.
    let bearer = format!("Bearer {}", st.key);
    let keyed = h.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(st.key.as_str())
        || h.get("authorization").and_then(|v| v.to_str().ok()) == Some(bearer.as_str());
    if !keyed {
        return anthropic_error(401, "authentication_error", "invalid x-api-key", None);
    }
    if h.get("anthropic-version").is_none() {
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
            None,
        );
    }
    let model = b["model"].as_str().unwrap_or_default().to_string();
    let Some(max) = b["max_tokens"].as_u64().filter(|m| *m >= 1) else {
        return anthropic_error(
            400,
            "invalid_request_error",
            "max_tokens: Field required",
            None,
        );
    };
    let Some(messages) = b["messages"].as_array().filter(|m| !m.is_empty()) else {
        return anthropic_error(
            400,
            "invalid_request_error",
            "messages: Field required",
            None,
        );
    };
    let (system, prefix, mut marks) = blocks_text(&b["system"]);
    let mut prompt = system.clone();
    for m in messages {
        let (t, _, n) = blocks_text(&m["content"]);
        marks += n;
        prompt.push_str(&t);
    }
    if marks > 4 {
        return anthropic_error(
            400,
            "invalid_request_error",
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
            None,
        );
    }
    // Prompt caching: a marked prefix that reaches the model's minimum is written on the
    // first call and read on the next ones; a shorter one is processed uncached.
    let (mut read, mut write) = (0, 0);
    if let Some(p) = prefix.filter(|p| tokens(p) >= anthropic_min_cacheable(&model)) {
        if st.cached.contains(&p) {
            read = tokens(&p);
        } else {
            write = tokens(&p);
            st.cached.insert(p);
        }
    }
    let input = tokens(&prompt).saturating_sub(read + write).max(1);
    st.next += 1;
    let id = format!("msg_01double{:012}", st.next);
    let reply = next_reply(&mut st);
    drop(st);
    let (text, stop, stream_error) = match reply {
        Reply::Error {
            status,
            kind,
            retry_after,
        } => return anthropic_error(status, &kind, "the double was told to fail", retry_after),
        Reply::Text(t) => {
            let (t, was_cut) = cut(&t, max);
            (t, if was_cut { "max_tokens" } else { "end_turn" }, None)
        }
        Reply::Refusal(t) => (t, "refusal", None),
        Reply::StreamError { text, kind } => (text, "end_turn", Some(kind)),
    };
    let usage = json!({
        "input_tokens": input, "output_tokens": tokens(&text),
        "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
        "service_tier": "standard",
    });
    if !b["stream"].as_bool().unwrap_or(false) {
        if let Some(kind) = stream_error {
            return anthropic_error(
                crate::llm::gateway::anthropic_error_status(&kind),
                &kind,
                "the double was told to fail",
                None,
            );
        }
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{ "type": "text", "text": text }],
            "stop_reason": stop, "stop_sequence": null, "usage": usage,
        }))
        .into_response();
    }
    let mut start_usage = usage.clone();
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![
        (
            "message_start",
            json!({ "type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": start_usage } }),
        ),
        (
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0,
                    "content_block": { "type": "text", "text": "" } }),
        ),
        ("ping", json!({ "type": "ping" })),
    ];
    for c in text_chunks(&text) {
        events.push((
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0,
                    "delta": { "type": "text_delta", "text": c } }),
        ));
    }
    if let Some(kind) = stream_error {
        events.push((
            "error",
            json!({ "type": "error", "error": { "type": kind, "message": "the double was told to fail" } }),
        ));
        return sse(&events);
    }
    events.push((
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    events.push((
        "message_delta",
        json!({ "type": "message_delta", "delta": { "stop_reason": stop, "stop_sequence": null },
                "usage": { "output_tokens": tokens(&text) } }),
    ));
    events.push(("message_stop", json!({ "type": "message_stop" })));
    sse(&events)
}

// ---- OpenAI ----------------------------------------------------------------------------

fn openai_error(
    status: u16,
    kind: &str,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let sc = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        sc,
        Json(
            json!({ "error": { "message": message, "type": kind, "param": param, "code": code } }),
        ),
    )
        .into_response()
}

async fn openai(State(s): State<Ps>, h: HeaderMap, body: String) -> Response {
    let mut st = lock(&s);
    let b: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(_) => {
            return openai_error(
                400,
                "invalid_request_error",
                "We could not parse the JSON body of your request.",
                None,
                None,
            );
        }
    };
    st.received.push(Received {
        path: "/v1/chat/completions".into(),
        headers: h.clone(),
        body: b.clone(),
    });
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {}", st.key)) {
        return openai_error(
            401,
            "invalid_request_error",
            "Incorrect API key provided.",
            None,
            Some("invalid_api_key"),
        );
    }
    let model = b["model"].as_str().unwrap_or_default().to_string();
    if reasoning_model(&model) && b.get("max_tokens").is_some() {
        return openai_error(
            400,
            "invalid_request_error",
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            Some("max_tokens"),
            Some("unsupported_parameter"),
        );
    }
    let Some(messages) = b["messages"].as_array().filter(|m| !m.is_empty()) else {
        return openai_error(
            400,
            "invalid_request_error",
            "Missing required parameter: 'messages'.",
            Some("messages"),
            Some("missing_required_parameter"),
        );
    };
    let max = b["max_completion_tokens"]
        .as_u64()
        .or_else(|| b["max_tokens"].as_u64())
        .unwrap_or(u64::MAX);
    let prompt: String = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default())
        .collect();
    // Automatic caching: prompts of 1,024 tokens and more; a prefix seen before is read
    // back in steps of 128 tokens.
    let system = messages
        .first()
        .filter(|m| m["role"] == "system")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut cached = 0;
    if tokens(&prompt) >= 1024 && !system.is_empty() {
        if st.cached.contains(&system) {
            cached = tokens(&system) / 128 * 128;
        } else {
            st.cached.insert(system);
        }
    }
    st.next += 1;
    let id = format!("chatcmpl-double{:012}", st.next);
    let reply = next_reply(&mut st);
    drop(st);
    let (content, refusal, finish, stream_error) = match reply {
        Reply::Error {
            status,
            kind,
            retry_after,
        } => {
            let mut r = openai_error(status, &kind, "the double was told to fail", None, None);
            if let Some(s) = retry_after
                && let Ok(v) = s.to_string().parse()
            {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        Reply::Text(t) => {
            let (t, was_cut) = cut(&t, max);
            (Some(t), None, if was_cut { "length" } else { "stop" }, None)
        }
        Reply::Refusal(t) => (None, Some(t), "stop", None),
        Reply::StreamError { text, kind } => (Some(text), None, "stop", Some(kind)),
    };
    let out = tokens(
        content
            .as_deref()
            .or(refusal.as_deref())
            .unwrap_or_default(),
    );
    let usage = json!({
        "prompt_tokens": tokens(&prompt), "completion_tokens": out,
        "total_tokens": tokens(&prompt) + out,
        "prompt_tokens_details": { "cached_tokens": cached, "audio_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 },
    });
    let created = 1_767_225_600u64;
    if !b["stream"].as_bool().unwrap_or(false) {
        if stream_error.is_some() {
            return openai_error(
                500,
                "server_error",
                "The server had an error while processing your request.",
                None,
                None,
            );
        }
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": content,
                "refusal": refusal, "annotations": [] }, "logprobs": null, "finish_reason": finish }],
            "usage": usage, "service_tier": "default", "system_fingerprint": "fp_double",
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_double",
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
    };
    let mut lines = vec![chunk(
        json!({ "role": "assistant", "content": "", "refusal": null }),
        Value::Null,
    )];
    for c in text_chunks(content.as_deref().unwrap_or_default()) {
        lines.push(chunk(json!({ "content": c }), Value::Null));
    }
    if let Some(r) = &refusal {
        lines.push(chunk(json!({ "refusal": r }), Value::Null));
    }
    let mut body = String::new();
    for l in &lines {
        body.push_str(&format!("data: {l}\n\n"));
    }
    if stream_error.is_some() {
        body.push_str(&format!(
            "data: {}\n\n",
            json!({ "error": { "message": "The server had an error while processing your request.",
                               "type": "server_error", "param": null, "code": null } })
        ));
        return ([("content-type", "text/event-stream; charset=utf-8")], body).into_response();
    }
    body.push_str(&format!("data: {}\n\n", chunk(json!({}), json!(finish))));
    if b["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false)
    {
        body.push_str(&format!(
            "data: {}\n\n",
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_double", "choices": [], "usage": usage })
        ));
    }
    body.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream; charset=utf-8")], body).into_response()
}
