//! TEST DOUBLES of Slack's incoming webhooks and of the Notion API (local HTTP servers
//! standing in for the third-party services; no network). They follow the real services'
//! request and response shapes and the limits the clients must respect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use serde_json::{Value, json};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct SlackState {
    /// Messages accepted, as posted.
    pub messages: Vec<Value>,
    /// Answers to give before accepting: (status, retry-after).
    pub failures: VecDeque<(u16, Option<u64>)>,
    pub attempts: usize,
}

/// Slack incoming webhooks at `<url>/services/T000/B000/XXXX`.
pub struct SlackDouble {
    pub url: String,
    pub state: Arc<Mutex<SlackState>>,
    _served: super::Served,
}

impl SlackDouble {
    pub async fn start() -> std::io::Result<SlackDouble> {
        let state = Arc::new(Mutex::new(SlackState::default()));
        let app = axum::Router::new()
            .route("/services/{t}/{b}/{secret}", post(slack_post))
            .with_state(state.clone());
        let served = super::serve(app).await?;
        Ok(SlackDouble {
            url: served.url(),
            state,
            _served: served,
        })
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX", self.url)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut SlackState) -> R) -> R {
        f(&mut lock(&self.state))
    }
}

async fn slack_post(State(s): State<Arc<Mutex<SlackState>>>, body: String) -> Response {
    let mut st = lock(&s);
    st.attempts += 1;
    if let Some((code, ra)) = st.failures.pop_front() {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let word = if code == 429 {
            "rate_limited"
        } else {
            "service_unavailable"
        };
        let mut r = (status, word).into_response();
        if let Some(ra) = ra
            && let Ok(v) = ra.to_string().parse()
        {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if v["text"].as_str().is_none_or(str::is_empty) && !v["blocks"].is_array() {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    st.messages.push(v);
    (StatusCode::OK, "ok").into_response()
}

#[derive(Default)]
pub struct NotionState {
    pub token: String,
    /// Pages and rows created: (id, the request body).
    pub pages: Vec<(String, Value)>,
    /// Blocks appended: (block id, children).
    pub appended: Vec<(String, Vec<Value>)>,
    /// Property updates: (page id, properties).
    pub updates: Vec<(String, Value)>,
    /// Rows a database query returns, per database id.
    pub rows: std::collections::BTreeMap<String, Vec<Value>>,
    next: u64,
}

/// The Notion API (version 2022-06-28) at `<url>/v1/...`.
pub struct NotionDouble {
    pub url: String,
    pub state: Arc<Mutex<NotionState>>,
    _served: super::Served,
}

type Ns = Arc<Mutex<NotionState>>;

fn notion_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "object": "error", "status": status.as_u16(), "code": code, "message": message })),
    )
        .into_response()
}

/// Notion's checks on every request: the bearer token and the version header.
/// The error answer, if any.
fn check(st: &NotionState, h: &HeaderMap) -> Option<Response> {
    let auth = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", st.token) {
        return Some(notion_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        ));
    }
    if h.get("notion-version").is_none() {
        return Some(notion_error(
            StatusCode::BAD_REQUEST,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined.",
        ));
    }
    None
}

/// Notion's limits: at most 100 children per request, 2,000 characters per text content.
fn check_children(children: &[Value]) -> Option<Response> {
    if children.len() > 100 {
        return Some(notion_error(
            StatusCode::BAD_REQUEST,
            "validation_error",
            &format!(
                "body failed validation: body.children.length should be ≤ `100`, instead was `{}`.",
                children.len()
            ),
        ));
    }
    let too_long = children.iter().any(|c| {
        let kind = c["type"].as_str().unwrap_or("");
        c[kind]["rich_text"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t["text"]["content"]
                    .as_str()
                    .is_some_and(|s| s.chars().count() > 2000)
            })
    });
    if too_long {
        return Some(notion_error(
            StatusCode::BAD_REQUEST,
            "validation_error",
            "body failed validation: text.content.length should be ≤ `2000`.",
        ));
    }
    None
}

impl NotionDouble {
    pub async fn start(token: &str) -> std::io::Result<NotionDouble> {
        let state: Ns = Arc::new(Mutex::new(NotionState {
            token: token.into(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/v1/pages", post(create_page))
            .route("/v1/pages/{id}", patch(update_page))
            .route("/v1/blocks/{id}/children", patch(append))
            .route("/v1/databases/{id}/query", post(query))
            .with_state(state.clone());
        let served = super::serve(app).await?;
        Ok(NotionDouble {
            url: served.url(),
            state,
            _served: served,
        })
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut NotionState) -> R) -> R {
        f(&mut lock(&self.state))
    }
}

fn page_json(id: &str) -> Value {
    json!({ "object": "page", "id": id, "url": format!("https://www.notion.so/{}", id.replace('-', "")),
            "created_time": "2026-01-01T00:00:00.000Z", "archived": false, "properties": {} })
}

async fn create_page(State(s): State<Ns>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&st, &h) {
        return r;
    }
    if b["parent"]["page_id"].is_null() && b["parent"]["database_id"].is_null() {
        return notion_error(
            StatusCode::BAD_REQUEST,
            "validation_error",
            "body.parent should be defined",
        );
    }
    if let Some(r) = check_children(b["children"].as_array().map(Vec::as_slice).unwrap_or(&[])) {
        return r;
    }
    st.next += 1;
    let id = format!("00000000-0000-4000-8000-{:012}", st.next);
    st.pages.push((id.clone(), b));
    Json(page_json(&id)).into_response()
}

async fn update_page(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&st, &h) {
        return r;
    }
    if !st.pages.iter().any(|(p, _)| *p == id)
        && !st.rows.values().flatten().any(|r| r["id"] == id.as_str())
    {
        return notion_error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find page with ID: {id}."),
        );
    }
    st.updates.push((id.clone(), b["properties"].clone()));
    Json(page_json(&id)).into_response()
}

async fn append(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&st, &h) {
        return r;
    }
    let children = b["children"].as_array().cloned().unwrap_or_default();
    if let Some(r) = check_children(&children) {
        return r;
    }
    st.appended.push((id, children.clone()));
    Json(json!({ "object": "list", "results": children, "has_more": false, "next_cursor": null }))
        .into_response()
}

async fn query(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let st = lock(&s);
    if let Some(r) = check(&st, &h) {
        return r;
    }
    let rows = st.rows.get(&id).cloned().unwrap_or_default();
    let size = b["page_size"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let start: usize = b["start_cursor"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = rows.iter().skip(start).take(size).cloned().collect();
    let more = start + size < rows.len();
    Json(json!({
        "object": "list", "results": page, "has_more": more,
        "next_cursor": if more { json!((start + size).to_string()) } else { Value::Null }
    }))
    .into_response()
}

/// A TEST DOUBLE of the Anthropic Messages API that answers the given texts in turn (the
/// last one again once they run out), and a gateway in front of it — what agent tests use
/// for their LLM steps.
pub struct AnthropicDouble {
    pub url: String,
    /// Requests received.
    pub hits: Arc<Mutex<usize>>,
    _served: super::Served,
}

impl AnthropicDouble {
    pub async fn start(answers: Vec<String>) -> std::io::Result<AnthropicDouble> {
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let hits = Arc::new(Mutex::new(0usize));
        let h2 = hits.clone();
        let app = axum::Router::new().route(
            "/v1/messages",
            post(move |body: Json<Value>| {
                let (answers, hits) = (answers.clone(), h2.clone());
                async move {
                    *lock(&hits) += 1;
                    let text = {
                        let mut a = lock(&answers);
                        if a.len() > 1 {
                            a.pop_front().unwrap_or_default()
                        } else {
                            a.front().cloned().unwrap_or_default()
                        }
                    };
                    Json(json!({
                        "id": "msg", "type": "message", "role": "assistant", "model": body["model"],
                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 900, "output_tokens": 300}
                    }))
                }
            }),
        );
        let served = super::serve(app).await?;
        Ok(AnthropicDouble {
            url: served.url(),
            hits,
            _served: served,
        })
    }

    /// A gateway in front of this double (50 requests a minute, 1 s cache).
    pub fn gateway(&self) -> crate::llm::gateway::Gateway {
        use std::time::Duration;
        crate::llm::gateway::Gateway::new(
            crate::llm::gateway::Provider::new(
                crate::llm::gateway::ProviderKind::Anthropic,
                &self.url,
                "test-key",
                "test-model",
            ),
            crate::llm::limiter::Limiter::per_minute(50, 1_000_000, Duration::from_secs(60)),
            crate::llm::cache::ResponseCache::new(Duration::from_secs(1), 10),
            crate::llm::retry::RetryPolicy::default(),
            crate::llm::pricing::PriceTable::default(),
        )
    }
}
