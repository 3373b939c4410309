//! TEST DOUBLES of Slack's incoming webhooks and of the Notion API (local HTTP servers
//! standing in for the third-party services; no network). They follow the real services'
//! request and response shapes and the limits the clients must respect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct SlackState {
    /// Messages accepted, as posted.
    pub messages: Vec<Value>,
    /// Answers to give instead of the next posts: (status, retry-after). A 429 is given
    /// before posting; a 5xx after the message was posted.
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
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    match st.failures.pop_front() {
        // Rate limited: refused before anything was posted.
        Some((429, ra)) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "rate_limited").into_response();
            if let Some(ra) = ra
                && let Ok(v) = ra.to_string().parse()
            {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        // A 5xx after the message was posted (Slack timed out on its side): a client that
        // sends it again posts it twice.
        Some((code, _)) => {
            st.messages.push(v);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, "service_unavailable").into_response();
        }
        None => {}
    }
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
    /// Databases: id → their data sources (id, name).
    pub databases: std::collections::BTreeMap<String, Vec<(String, String)>>,
    /// Rows a query returns, per data source id.
    pub rows: std::collections::BTreeMap<String, Vec<Value>>,
    /// Answers to give instead of the next requests: (status, retry-after seconds). A 5xx is
    /// given after the request was carried out (as when Notion times out on its side).
    pub failures: VecDeque<(u16, Option<u64>)>,
    /// Requests received: (method, path, Notion-Version).
    pub requests: Vec<(String, String, String)>,
    /// When each request arrived (to check the client's pace).
    pub times: Vec<std::time::Instant>,
    /// The blocks of each page or block, in order, with their ids (pages created under a page
    /// are `child_page` blocks of it).
    pub blocks: std::collections::BTreeMap<String, Vec<Value>>,
    /// Blocks deleted, by id.
    pub deleted: Vec<String>,
    next: u64,
}

impl NotionState {
    fn new_id(&mut self) -> String {
        self.next += 1;
        format!("00000000-0000-4000-8000-{:012}", self.next)
    }

    /// Store `children` under `parent`, each with an id of its own.
    fn add_blocks(&mut self, parent: &str, children: &[Value]) -> Vec<Value> {
        let mut added = Vec::new();
        for c in children {
            let mut b = c.clone();
            b["id"] = json!(self.new_id());
            b["object"] = json!("block");
            b["has_children"] = json!(false);
            added.push(b.clone());
            self.blocks.entry(parent.to_string()).or_default().push(b);
        }
        added
    }

    /// A page's blocks as `type: text` lines (sub-pages as `child_page: title`).
    pub fn page_lines(&self, id: &str) -> Vec<String> {
        self.blocks
            .get(id)
            .into_iter()
            .flatten()
            .map(|b| {
                let (kind, text, _) = crate::services::notion::block_text(b);
                match kind.as_str() {
                    "child_page" => {
                        format!(
                            "child_page: {}",
                            b["child_page"]["title"].as_str().unwrap_or("")
                        )
                    }
                    _ => format!("{kind}: {text}"),
                }
            })
            .collect()
    }

    /// The most requests that arrived within any one second, from request `from` on.
    pub fn busiest_second(&self, from: usize) -> usize {
        (from..self.times.len())
            .map(|i| {
                self.times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(self.times[i]).as_millis() < 1000)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// A page that exists already (made by someone in the workspace), without blocks.
    pub fn existing_page(&mut self, id: &str) {
        self.pages
            .push((id.into(), json!({ "parent": { "workspace": true } })));
        self.blocks.entry(id.into()).or_default();
    }

    /// A database with these data sources (id, name).
    pub fn database(&mut self, id: &str, sources: &[(&str, &str)]) {
        self.databases.insert(
            id.into(),
            sources
                .iter()
                .map(|(i, n)| (i.to_string(), n.to_string()))
                .collect(),
        );
    }
}

/// The Notion API at `<url>/v1/...`, as of version 2025-09-03: databases hold data sources,
/// rows are created under and queried through a data source. A request with an older
/// version that names a database of several data sources fails, as Notion's does.
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

const MULTI_SOURCE: &str =
    "Databases with multiple data sources are not supported in this API version.";

/// Notion's checks on every request: the bearer token and the version header; then a
/// scripted rate limit, if one is due (a scripted 5xx comes after the request, [`answer`]).
/// The error answer, if any.
fn check(st: &mut NotionState, h: &HeaderMap, method: &str, path: &str) -> Option<Response> {
    let auth = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let version = h
        .get("notion-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    st.requests
        .push((method.into(), path.into(), version.clone()));
    st.times.push(std::time::Instant::now());
    if auth != format!("Bearer {}", st.token) {
        return Some(notion_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        ));
    }
    if version.is_empty() {
        return Some(notion_error(
            StatusCode::BAD_REQUEST,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined.",
        ));
    }
    rate_limited(st)
}

fn new_api(h: &HeaderMap) -> bool {
    h.get("notion-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= "2025-09-03")
}

/// A scripted failure before the request is carried out (429), if one is due.
fn rate_limited(st: &mut NotionState) -> Option<Response> {
    match st.failures.front() {
        Some((429, ra)) => {
            let ra = *ra;
            st.failures.pop_front();
            let mut r = notion_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
            );
            if let Some(ra) = ra
                && let Ok(v) = ra.to_string().parse()
            {
                r.headers_mut().insert("retry-after", v);
            }
            Some(r)
        }
        _ => None,
    }
}

/// A scripted 5xx after the request was carried out, if one is due; else `ok`.
fn answer(st: &mut NotionState, ok: Response) -> Response {
    match st.failures.front() {
        Some((code, _)) if *code >= 500 => {
            let code = *code;
            st.failures.pop_front();
            notion_error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "service_unavailable",
                "Notion is unavailable, please try again later.",
            )
        }
        _ => ok,
    }
}

fn validation(message: String) -> Response {
    notion_error(StatusCode::BAD_REQUEST, "validation_error", &message)
}

/// Rich-text arrays: at most 100 objects of at most 2,000 characters.
fn check_rich_text(items: &[Value], at: &str) -> Option<Response> {
    if items.len() > 100 {
        return Some(validation(format!(
            "body failed validation: {at}.length should be ≤ `100`, instead was `{}`.",
            items.len()
        )));
    }
    if items.iter().any(|t| {
        t["text"]["content"]
            .as_str()
            .is_some_and(|s| s.chars().count() > 2000)
    }) {
        return Some(validation(format!(
            "body failed validation: {at}[].text.content.length should be ≤ `2000`."
        )));
    }
    None
}

/// Notion's limits: at most 100 children per request, and the rich-text limits.
fn check_children(children: &[Value]) -> Option<Response> {
    if children.len() > 100 {
        return Some(validation(format!(
            "body failed validation: body.children.length should be ≤ `100`, instead was `{}`.",
            children.len()
        )));
    }
    children.iter().enumerate().find_map(|(i, c)| {
        let kind = c["type"].as_str().unwrap_or("");
        check_rich_text(
            c[kind]["rich_text"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]),
            &format!("body.children[{i}].{kind}.rich_text"),
        )
    })
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
            .route("/v1/blocks/{id}/children", patch(append).get(list_children))
            .route("/v1/blocks/{id}", axum::routing::delete(delete_block))
            .route("/v1/databases/{id}", get(get_database))
            .route("/v1/databases/{id}/query", post(query_database))
            .route("/v1/data_sources/{id}", get(get_data_source))
            .route("/v1/data_sources/{id}/query", post(query_data_source))
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
            "created_time": "2026-01-01T00:00:00.000Z", "archived": false, "in_trash": false,
            "properties": {} })
}

async fn create_page(State(s): State<Ns>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "POST", "/v1/pages") {
        return r;
    }
    let parent = &b["parent"];
    if let Some(db) = parent["database_id"].as_str() {
        match st.databases.get(db) {
            None => {
                return notion_error(
                    StatusCode::NOT_FOUND,
                    "object_not_found",
                    &format!("Could not find database with ID: {db}."),
                );
            }
            Some(sources) if sources.len() > 1 => return validation(MULTI_SOURCE.into()),
            _ => {}
        }
    } else if let Some(ds) = parent["data_source_id"].as_str() {
        if !new_api(&h) || !st.databases.values().flatten().any(|(i, _)| i == ds) {
            return notion_error(
                StatusCode::NOT_FOUND,
                "object_not_found",
                &format!("Could not find data source with ID: {ds}."),
            );
        }
    } else if parent["page_id"].is_null() {
        return validation("body.parent should be defined".into());
    }
    if let Some(r) = check_children(b["children"].as_array().map(Vec::as_slice).unwrap_or(&[])) {
        return r;
    }
    for (name, v) in b["properties"].as_object().into_iter().flatten() {
        for kind in ["title", "rich_text"] {
            if let Some(items) = v[kind].as_array()
                && let Some(r) = check_rich_text(items, &format!("body.properties.{name}.{kind}"))
            {
                return r;
            }
        }
    }
    let id = st.new_id();
    if let Some(parent) = parent["page_id"].as_str() {
        let title: String = b["properties"]["title"]["title"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["text"]["content"].as_str())
            .collect();
        st.blocks
            .entry(parent.to_string())
            .or_default()
            .push(json!({
                "object": "block", "id": id, "type": "child_page", "has_children": true,
                "child_page": { "title": title }
            }));
    }
    let children = b["children"].as_array().cloned().unwrap_or_default();
    st.add_blocks(&id, &children);
    st.pages.push((id.clone(), b));
    answer(&mut st, Json(page_json(&id)).into_response())
}

async fn update_page(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "PATCH", &format!("/v1/pages/{id}")) {
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
    answer(&mut st, Json(page_json(&id)).into_response())
}

async fn append(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "PATCH", &format!("/v1/blocks/{id}/children")) {
        return r;
    }
    let children = b["children"].as_array().cloned().unwrap_or_default();
    if let Some(r) = check_children(&children) {
        return r;
    }
    let added = st.add_blocks(&id, &children);
    st.appended.push((id, children));
    answer(
        &mut st,
        Json(json!({ "object": "list", "results": added, "has_more": false, "next_cursor": null }))
            .into_response(),
    )
}

/// `GET /v1/blocks/{id}/children`: pages of at most `page_size` (≤ 100) blocks; the cursor is
/// the id of the next block.
async fn list_children(
    State(s): State<Ns>,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "GET", &format!("/v1/blocks/{id}/children")) {
        return r;
    }
    let known = st.pages.iter().any(|(p, _)| *p == id) || st.blocks.contains_key(&id);
    if !known {
        return notion_error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find block with ID: {id}."),
        );
    }
    let size: usize = q
        .get("page_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let all = st.blocks.get(&id).cloned().unwrap_or_default();
    let start = q
        .get("start_cursor")
        .and_then(|c| all.iter().position(|b| b["id"] == c.as_str()))
        .unwrap_or(0);
    let page: Vec<Value> = all[start..].iter().take(size).cloned().collect();
    let next = all.get(start + size).map(|b| b["id"].clone());
    answer(
        &mut st,
        Json(
            json!({ "object": "list", "type": "block", "block": {}, "results": page,
                     "has_more": next.is_some(), "next_cursor": next }),
        )
        .into_response(),
    )
}

/// `DELETE /v1/blocks/{id}`: the block is archived (gone from its parent's children).
async fn delete_block(State(s): State<Ns>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "DELETE", &format!("/v1/blocks/{id}")) {
        return r;
    }
    let mut found = None;
    for v in st.blocks.values_mut() {
        if let Some(i) = v.iter().position(|b| b["id"] == id.as_str()) {
            found = Some(v.remove(i));
            break;
        }
    }
    let Some(mut b) = found else {
        return notion_error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find block with ID: {id}."),
        );
    };
    st.deleted.push(id);
    b["archived"] = json!(true);
    b["in_trash"] = json!(true);
    answer(&mut st, Json(b).into_response())
}

async fn get_database(State(s): State<Ns>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "GET", &format!("/v1/databases/{id}")) {
        return r;
    }
    let Some(sources) = st.databases.get(&id).cloned() else {
        return notion_error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find database with ID: {id}."),
        );
    };
    let ds: Vec<Value> = sources
        .iter()
        .map(|(i, n)| json!({ "id": i, "name": n }))
        .collect();
    answer(
        &mut st,
        Json(json!({ "object": "database", "id": id, "data_sources": ds,
                     "title": [], "is_inline": false, "in_trash": false }))
        .into_response(),
    )
}

async fn get_data_source(State(s): State<Ns>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "GET", &format!("/v1/data_sources/{id}")) {
        return r;
    }
    let Some(db) = st
        .databases
        .iter()
        .find(|(_, srcs)| srcs.iter().any(|(i, _)| *i == id))
        .map(|(d, _)| d.clone())
    else {
        return notion_error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find data source with ID: {id}."),
        );
    };
    answer(
        &mut st,
        Json(json!({ "object": "data_source", "id": id,
                     "parent": { "type": "database_id", "database_id": db }, "properties": {} }))
        .into_response(),
    )
}

fn rows_page(rows: &[Value], b: &Value) -> Response {
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

/// The pre-2025-09-03 query of a database: only for a database of one data source.
async fn query_database(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "POST", &format!("/v1/databases/{id}/query")) {
        return r;
    }
    if new_api(&h) {
        return notion_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_url",
            "Invalid request URL: databases/{id}/query is data_sources/{id}/query since 2025-09-03.",
        );
    }
    let sources = st.databases.get(&id).cloned().unwrap_or_default();
    if sources.len() > 1 {
        return validation(MULTI_SOURCE.into());
    }
    let rows = sources
        .first()
        .and_then(|(ds, _)| st.rows.get(ds))
        .cloned()
        .unwrap_or_default();
    answer(&mut st, rows_page(&rows, &b))
}

async fn query_data_source(
    State(s): State<Ns>,
    Path(id): Path<String>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    let mut st = lock(&s);
    if let Some(r) = check(&mut st, &h, "POST", &format!("/v1/data_sources/{id}/query")) {
        return r;
    }
    let rows = st.rows.get(&id).cloned().unwrap_or_default();
    answer(&mut st, rows_page(&rows, &b))
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
