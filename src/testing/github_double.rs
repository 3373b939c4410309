//! A TEST DOUBLE of GitHub's REST API (a local HTTP server standing in for the third-party
//! service; no network). It follows the real API's shapes for what the agents use: pull
//! requests (JSON, and the diff under `Accept: application/vnd.github.diff`), the changed
//! files with `per_page`/`page` and `Link` pagination, reviews with inline comments (422 when
//! a comment's line is not part of the diff, as GitHub answers), review comments, issue
//! comments, check runs (a GitHub App's installation token, `ghs_…`, only: a personal token is
//! refused with 403, as GitHub does), commit statuses, and opening pull requests. Requests need
//! a bearer token. Like GitHub it refuses the diff of a pull request past 300 files or 20,000
//! lines (406 `too_large`), and it can be told to answer with GitHub's rate limits (primary:
//! 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`; secondary: 403 with or without
//! `retry-after`; 429) or with a 5xx after carrying a write out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A pull request the double serves.
#[derive(Clone, Debug, Default)]
pub struct PullFixture {
    pub title: String,
    pub body: String,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    /// The unified diff (`git diff base...head`).
    pub diff: String,
    /// The changed files (GitHub's diff-entry objects); derived from `diff` when empty.
    pub files: Vec<Value>,
    /// The head's repository when it is a fork (`owner/name`); None: the repository itself.
    pub fork: Option<String>,
    /// Merged (and so closed).
    pub merged: bool,
}

/// GitHub's objects as its OpenAPI description (npm `@octokit/openapi`) requires them: every
/// required field, with placeholder values (generated once from the description; the contract
/// test `tests/sdk_contracts.rs` checks the answers against it). The double's own values are
/// laid over them.
fn shape(name: &str, own: Value) -> Value {
    let template = match name {
        "pull-request" => include_str!("github_shapes/pull-request.json"),
        "pull-request-simple" => include_str!("github_shapes/pull-request-simple.json"),
        "review" => include_str!("github_shapes/review.json"),
        "review-comment" => include_str!("github_shapes/review-comment.json"),
        "issue-comment" => include_str!("github_shapes/issue-comment.json"),
        "check-run" => include_str!("github_shapes/check-run.json"),
        "status" => include_str!("github_shapes/status.json"),
        "diff-entry" => include_str!("github_shapes/diff-entry.json"),
        "repository" => include_str!("github_shapes/repository.json"),
        "user" => include_str!("github_shapes/user.json"),
        _ => "{}",
    };
    let mut v: Value = serde_json::from_str(template).unwrap_or_default();
    overlay(&mut v, own);
    v
}

/// Lay `own` over `base`, object by object.
fn overlay(base: &mut Value, own: Value) {
    match (base, own) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => overlay(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// GitHub's repository object (the fields a pull request's head and base carry).
fn repo_json(full_name: &str) -> Value {
    let name = full_name.rsplit('/').next().unwrap_or(full_name);
    shape(
        "repository",
        json!({
            "id": 1_000 + full_name.len() as u64, "node_id": format!("R_{name}"), "name": name,
            "full_name": full_name, "private": false, "fork": false,
            "url": format!("https://api.github.example/repos/{full_name}"),
            "html_url": format!("https://github.example/{full_name}"),
        }),
    )
}

#[derive(Default)]
pub struct GitHubState {
    pub token: String,
    /// GitHub caps `per_page` at 100; tests may lower it.
    pub max_per_page: usize,
    pub pulls: BTreeMap<(String, u64), PullFixture>,
    /// Reviews as posted: (repo, PR, request body).
    pub reviews: Vec<(String, u64, Value)>,
    /// Inline comments stored from reviews, per (repo, PR).
    pub review_comments: BTreeMap<(String, u64), Vec<Value>>,
    pub issue_comments: Vec<(String, u64, String)>,
    pub check_runs: Vec<(String, Value)>,
    /// Every request: "METHOD path?query accept".
    pub requests: Vec<String>,
    /// Answers to give instead of the next requests (of the method, when `method` is set).
    pub failures: std::collections::VecDeque<Failure>,
    /// Commit statuses posted: (repo, sha, body).
    pub statuses: Vec<(String, String, Value)>,
    /// Every request with its answer, for checking both against GitHub's OpenAPI description.
    pub exchanges: Vec<Exchange>,
    next_id: u64,
}

/// One request and its answer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub query: String,
    pub accept: String,
    /// The JSON body sent, if any.
    pub request: Option<Value>,
    pub status: u16,
    pub content_type: String,
    /// The JSON answer, if the answer is JSON.
    pub response: Option<Value>,
}

/// A scripted answer in place of GitHub's.
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub message: String,
    /// Carry the request out first, then answer this (a 5xx after the write happened).
    pub after: bool,
    /// Only a request of this method gets it.
    pub method: Option<String>,
}

impl Failure {
    /// The primary rate limit, spent until `reset_in` seconds from now.
    pub fn primary(reset_in: u64) -> Failure {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + reset_in;
        Failure {
            status: 403,
            headers: vec![
                ("x-ratelimit-limit".into(), "5000".into()),
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-used".into(), "5000".into()),
                ("x-ratelimit-reset".into(), reset.to_string()),
                ("x-ratelimit-resource".into(), "core".into()),
            ],
            message: "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.".into(),
            after: false,
            method: None,
        }
    }

    /// A secondary rate limit, with `retry-after` when given.
    pub fn secondary(retry_after: Option<u64>) -> Failure {
        Failure {
            status: 403,
            headers: retry_after
                .map(|s| vec![("retry-after".to_string(), s.to_string())])
                .unwrap_or_default(),
            message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.".into(),
            after: false,
            method: None,
        }
    }

    /// 429 Too Many Requests with `retry-after`.
    pub fn too_many(retry_after: u64) -> Failure {
        Failure {
            status: 429,
            headers: vec![("retry-after".into(), retry_after.to_string())],
            message: "Too Many Requests".into(),
            after: false,
            method: None,
        }
    }

    /// A 5xx given to the next request of `method` after it was carried out.
    pub fn after_write(status: u16, method: &str) -> Failure {
        Failure {
            status,
            headers: Vec::new(),
            message: "Server Error".into(),
            after: true,
            method: Some(method.into()),
        }
    }

    fn response(&self) -> Response {
        let mut r = gh_error(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &self.message,
        );
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

pub struct GitHubDouble {
    pub url: String,
    pub state: Arc<Mutex<GitHubState>>,
    _served: super::Served,
}

type St = Arc<Mutex<GitHubState>>;

fn lock(s: &St) -> std::sync::MutexGuard<'_, GitHubState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn gh_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "message": message, "documentation_url": "https://docs.github.com/rest" })),
    )
        .into_response()
}

impl GitHubDouble {
    pub async fn start(token: &str) -> std::io::Result<GitHubDouble> {
        let state: St = Arc::new(Mutex::new(GitHubState {
            token: token.into(),
            max_per_page: 100,
            next_id: 1000,
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/repos/{o}/{r}/pulls", post(create_pull).get(list_pulls))
            .route("/repos/{o}/{r}/pulls/{n}", get(get_pull))
            .route("/repos/{o}/{r}/pulls/{n}/files", get(pull_files))
            .route(
                "/repos/{o}/{r}/pulls/{n}/reviews",
                post(create_review).get(list_reviews),
            )
            .route(
                "/repos/{o}/{r}/pulls/{n}/comments",
                get(list_review_comments),
            )
            .route(
                "/repos/{o}/{r}/issues/{n}/comments",
                post(issue_comment).get(list_issue_comments),
            )
            .route("/repos/{o}/{r}/check-runs", post(check_run))
            .route(
                "/repos/{o}/{r}/commits/{sha}/check-runs",
                get(list_check_runs),
            )
            .route("/repos/{o}/{r}/statuses/{sha}", post(commit_status))
            .layer(axum::middleware::from_fn_with_state(state.clone(), auth))
            .with_state(state.clone());
        let served = super::serve(app).await?;
        Ok(GitHubDouble {
            url: served.url(),
            state,
            _served: served,
        })
    }

    /// Serve `pr` as pull request `number` of `owner/repo`.
    /// Serve pull request `number` of `repo` as coming from the fork `fork` (`owner/name`).
    pub fn mark_fork(&self, repo: &str, number: u64, fork: &str) {
        if let Some(p) = lock(&self.state).pulls.get_mut(&(repo.into(), number)) {
            p.fork = Some(fork.into());
        }
    }

    pub fn add_pull(&self, repo: &str, number: u64, pr: PullFixture) {
        lock(&self.state).pulls.insert((repo.into(), number), pr);
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut GitHubState) -> R) -> R {
        f(&mut lock(&self.state))
    }
}

async fn auth(
    State(s): State<St>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let h = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let (ok, failure) = {
        let mut st = lock(&s);
        st.requests.push(format!(
            "{} {} {accept}",
            req.method(),
            req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("")
        ));
        let ok = h == format!("Bearer {}", st.token) || h == format!("token {}", st.token);
        let due = st
            .failures
            .front()
            .is_some_and(|f| f.method.as_deref().is_none_or(|m| m == method));
        (
            ok,
            if ok && due {
                st.failures.pop_front()
            } else {
                None
            },
        )
    };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let request = serde_json::from_slice::<Value>(&bytes).ok();
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    let resp = if !ok {
        gh_error(StatusCode::UNAUTHORIZED, "Bad credentials")
    } else {
        match failure {
            Some(f) if f.after => {
                let _ = next.run(req).await;
                f.response()
            }
            Some(f) => f.response(),
            None => next.run(req).await,
        }
    };
    let (rp, rb) = resp.into_parts();
    let rbytes = axum::body::to_bytes(rb, 256 << 20)
        .await
        .unwrap_or_default();
    let content_type = rp
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    lock(&s).exchanges.push(Exchange {
        method,
        path,
        query,
        accept,
        request,
        status: rp.status.as_u16(),
        response: content_type
            .starts_with("application/json")
            .then(|| serde_json::from_slice(&rbytes).ok())
            .flatten(),
        content_type,
    });
    Response::from_parts(rp, axum::body::Body::from(rbytes))
}

fn user() -> Value {
    shape(
        "user",
        json!({
            "login": "devagents-bot", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "Bot", "site_admin": false,
            "avatar_url": "https://avatars.example/u/1", "gravatar_id": "",
            "url": "https://api.github.example/users/devagents-bot", "html_url": "https://github.example/devagents-bot",
            "followers_url": "https://api.github.example/users/devagents-bot/followers",
            "following_url": "https://api.github.example/users/devagents-bot/following{/other_user}",
            "gists_url": "https://api.github.example/users/devagents-bot/gists{/gist_id}",
            "starred_url": "https://api.github.example/users/devagents-bot/starred{/owner}{/repo}",
            "subscriptions_url": "https://api.github.example/users/devagents-bot/subscriptions",
            "organizations_url": "https://api.github.example/users/devagents-bot/orgs",
            "repos_url": "https://api.github.example/users/devagents-bot/repos",
            "events_url": "https://api.github.example/users/devagents-bot/events{/privacy}",
            "received_events_url": "https://api.github.example/users/devagents-bot/received_events"
        }),
    )
}

fn pull_json(o: &str, r: &str, n: u64, p: &PullFixture) -> Value {
    let api = format!("https://api.github.example/repos/{o}/{r}");
    let html = format!("https://github.example/{o}/{r}/pull/{n}");
    let mut v = shape(
        "pull-request",
        json!({
            "url": format!("{api}/pulls/{n}"), "id": 10_000 + n, "node_id": format!("PR_{n}"),
            "html_url": html, "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
            "issue_url": format!("{api}/issues/{n}"), "commits_url": format!("{api}/pulls/{n}/commits"),
            "review_comments_url": format!("{api}/pulls/{n}/comments"),
            "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
            "comments_url": format!("{api}/issues/{n}/comments"),
            "statuses_url": format!("{api}/statuses/{}", p.head_sha),
            "number": n, "state": if p.merged { "closed" } else { "open" }, "locked": false, "title": p.title, "user": user(), "body": p.body,
            "labels": [], "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "closed_at": if p.merged { json!("2026-01-02T00:00:00Z") } else { Value::Null }, "merged_at": if p.merged { json!("2026-01-02T00:00:00Z") } else { Value::Null }, "merge_commit_sha": null, "draft": false,
            "head": { "label": format!("{o}:{}", p.head_ref), "ref": p.head_ref, "sha": p.head_sha, "user": user(),
                      "repo": repo_json(p.fork.as_deref().unwrap_or(&format!("{o}/{r}"))) },
            "base": { "label": format!("{o}:{}", p.base_ref), "ref": p.base_ref, "sha": p.base_sha, "user": user(),
                      "repo": repo_json(&format!("{o}/{r}")) },
            "author_association": "OWNER", "merged": p.merged, "mergeable": true, "comments": 0,
            "review_comments": 0, "commits": 1, "additions": 0, "deletions": 0, "changed_files": 0
        }),
    );
    overlay(
        &mut v,
        json!({
            "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "milestone": null, "active_lock_reason": null, "auto_merge": null, "merged_by": null,
            "mergeable_state": "clean", "rebaseable": true, "maintainer_can_modify": false,
            "_links": {
                "self": { "href": format!("{api}/pulls/{n}") }, "html": { "href": html },
                "issue": { "href": format!("{api}/issues/{n}") },
                "comments": { "href": format!("{api}/issues/{n}/comments") },
                "review_comments": { "href": format!("{api}/pulls/{n}/comments") },
                "review_comment": { "href": format!("{api}/pulls/comments{{/number}}") },
                "commits": { "href": format!("{api}/pulls/{n}/commits") },
                "statuses": { "href": format!("{api}/statuses/{}", p.head_sha) }
            }
        }),
    );
    v
}

async fn get_pull(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let st = lock(&s);
    let Some(p) = st.pulls.get(&(format!("{o}/{r}"), n)) else {
        return gh_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/vnd.github.diff")
        || accept.contains("application/vnd.github.v3.diff")
    {
        // GitHub's limits of a diff: past them, 406 and the files API to use instead.
        let files = if p.files.is_empty() {
            files_of_diff(&p.diff).len()
        } else {
            p.files.len()
        };
        let lines = p.diff.lines().count();
        if files > 300 || lines > 20_000 {
            let what = if files > 300 {
                "files (300)"
            } else {
                "lines (20000)"
            };
            return (
                StatusCode::NOT_ACCEPTABLE,
                Json(json!({
                    "message": format!("Sorry, the diff exceeded the maximum number of {what}. Consider using 'List pull requests files' API or locally cloning the repository instead."),
                    "errors": [{ "resource": "PullRequest", "field": "diff", "code": "too_large" }],
                    "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
                    "status": "406"
                })),
            )
                .into_response();
        }
        return (
            [("content-type", "application/vnd.github.diff; charset=utf-8")],
            p.diff.clone(),
        )
            .into_response();
    }
    Json(pull_json(&o, &r, n, p)).into_response()
}

/// GitHub's diff-entry objects for a unified diff.
pub fn files_of_diff(diff: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for section in diff.split("diff --git ").skip(1) {
        let mut lines = section.lines();
        let header = lines.next().unwrap_or("");
        let (old, new) = header
            .split_once(" b/")
            .map(|(a, b)| (a.trim_start_matches("a/").to_string(), b.to_string()))
            .unwrap_or_default();
        let (mut adds, mut dels, mut status) = (0u64, 0u64, "modified");
        let mut patch = Vec::new();
        let mut binary = false;
        let mut in_hunks = false;
        for l in lines {
            if l.starts_with("new file mode") {
                status = "added";
            } else if l.starts_with("deleted file mode") {
                status = "removed";
            } else if l.starts_with("rename from") {
                status = "renamed";
            } else if l.starts_with("Binary files") {
                binary = true;
            }
            if l.starts_with("@@") {
                in_hunks = true;
            }
            if in_hunks {
                if l.starts_with('+') {
                    adds += 1;
                } else if l.starts_with('-') {
                    dels += 1;
                }
                patch.push(l);
            }
        }
        let mut f = shape(
            "diff-entry",
            json!({
                "sha": "0000000000000000000000000000000000000000", "filename": new, "status": status,
                "additions": adds, "deletions": dels, "changes": adds + dels,
                "blob_url": format!("https://github.example/blob/{new}"),
                "raw_url": format!("https://github.example/raw/{new}"),
                "contents_url": format!("https://api.github.example/contents/{new}"),
            }),
        );
        if !binary {
            f["patch"] = json!(patch.join("\n"));
        }
        if status == "renamed" {
            f["previous_filename"] = json!(old);
        }
        out.push(f);
    }
    out
}

/// The (path, new-side line) pairs a review comment may sit on: lines inside the hunks.
pub fn commentable_lines(diff: &str) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    let mut path = String::new();
    let mut line = 0u64;
    for l in diff.lines() {
        if let Some(p) = l.strip_prefix("+++ ") {
            path = p.trim_start_matches("b/").to_string();
        } else if l.starts_with("--- ") || l.starts_with("diff --git") {
            continue;
        } else if let Some(h) = l.strip_prefix("@@ ") {
            // @@ -a,b +c,d @@
            line = h
                .split_whitespace()
                .find_map(|t| t.strip_prefix('+'))
                .and_then(|t| t.split(',').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
        } else if l.starts_with('+') || l.starts_with(' ') {
            out.insert((path.clone(), line));
            line += 1;
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct PageQuery {
    per_page: Option<usize>,
    page: Option<usize>,
}

/// One page of `items` with GitHub's `Link` header.
fn paginate(url_path: &str, items: &[Value], q: &PageQuery, max: usize) -> Response {
    let per = q.per_page.unwrap_or(30).clamp(1, max.max(1));
    let page = q.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per).max(1);
    let slice: Vec<Value> = items
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect();
    let mut links = Vec::new();
    let link = |p: usize, rel: &str| format!("<{url_path}?per_page={per}&page={p}>; rel=\"{rel}\"");
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    let mut r = Json(slice).into_response();
    if !links.is_empty()
        && let Ok(v) = links.join(", ").parse()
    {
        r.headers_mut().insert("link", v);
    }
    r
}

async fn pull_files(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let st = lock(&s);
    let Some(p) = st.pulls.get(&(format!("{o}/{r}"), n)) else {
        return gh_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let files = if p.files.is_empty() {
        files_of_diff(&p.diff)
    } else {
        p.files.clone()
    };
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    paginate(
        &format!("http://{host}/repos/{o}/{r}/pulls/{n}/files"),
        &files,
        &q,
        st.max_per_page,
    )
}

/// `GET /repos/{o}/{r}/pulls`: filtered by `state` (default `open`), `head` (`owner:branch`)
/// and `base`, as GitHub filters.
async fn list_pulls(
    State(s): State<St>,
    Path((o, r)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let repo = format!("{o}/{r}");
    let st = lock(&s);
    let state = q.get("state").map_or("open", String::as_str);
    let v: Vec<Value> = st
        .pulls
        .iter()
        .filter(|((rr, _), _)| *rr == repo)
        .filter(|(_, p)| match state {
            "open" => !p.merged,
            "closed" => p.merged,
            _ => true,
        })
        .filter(|(_, p)| {
            q.get("head")
                .is_none_or(|h| *h == format!("{o}:{}", p.head_ref))
        })
        .filter(|(_, p)| q.get("base").is_none_or(|b| *b == p.base_ref))
        .map(|((_, n), p)| pull_json(&o, &r, *n, p))
        .collect();
    Json(v).into_response()
}

async fn create_pull(
    State(s): State<St>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<Value>,
) -> Response {
    let (Some(title), Some(head), Some(base)) =
        (b["title"].as_str(), b["head"].as_str(), b["base"].as_str())
    else {
        return gh_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    };
    if head == base {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: No commits between base and head",
        );
    }
    let mut st = lock(&s);
    let repo = format!("{o}/{r}");
    let n = st
        .pulls
        .keys()
        .filter(|(rr, _)| *rr == repo)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        + 1;
    let p = PullFixture {
        title: title.into(),
        body: b["body"].as_str().unwrap_or("").into(),
        head_ref: head.into(),
        base_ref: base.into(),
        ..Default::default()
    };
    let v = pull_json(&o, &r, n, &p);
    st.pulls.insert((repo, n), p);
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn create_review(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Value>,
) -> Response {
    let repo = format!("{o}/{r}");
    let mut st = lock(&s);
    let Some(p) = st.pulls.get(&(repo.clone(), n)) else {
        return gh_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let state = match b["event"].as_str() {
        Some("COMMENT") => "COMMENTED",
        Some("REQUEST_CHANGES") => "CHANGES_REQUESTED",
        Some("APPROVE") => "APPROVED",
        None => "PENDING",
        Some(_) => return gh_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed: event"),
    };
    if state != "APPROVED" && state != "PENDING" && b["body"].as_str().unwrap_or("").is_empty() {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Entity: Review Comment body is required",
        );
    }
    let lines = commentable_lines(&p.diff);
    let head_sha = p.head_sha.clone();
    let comments = b["comments"].as_array().cloned().unwrap_or_default();
    for c in &comments {
        let (Some(path), Some(line)) = (c["path"].as_str(), c["line"].as_u64()) else {
            return gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity: comments need path and line",
            );
        };
        if !lines.contains(&(path.to_string(), line)) {
            return gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity: \"Pull request review thread line must be part of the diff\"",
            );
        }
    }
    st.next_id += 1;
    let id = st.next_id;
    let html = format!("https://github.example/{o}/{r}/pull/{n}#pullrequestreview-{id}");
    for c in &comments {
        st.next_id += 1;
        let cid = st.next_id;
        let stored = shape(
            "review-comment",
            json!({
                "id": cid, "pull_request_review_id": id, "path": c["path"], "line": c["line"],
                "side": c["side"], "body": c["body"], "commit_id": b["commit_id"].as_str().unwrap_or(&head_sha),
                "user": user(),
                "html_url": format!("https://github.example/{o}/{r}/pull/{n}#discussion_r{cid}"),
            }),
        );
        st.review_comments
            .entry((repo.clone(), n))
            .or_default()
            .push(stored);
    }
    st.reviews.push((repo, n, b.clone()));
    Json(shape("review", json!({
        "id": id, "node_id": format!("PRR_{id}"), "user": user(), "body": b["body"], "state": state,
        "html_url": html, "commit_id": b["commit_id"].as_str().unwrap_or(&head_sha),
        "pull_request_url": format!("https://api.github.example/repos/{o}/{r}/pulls/{n}"),
        "submitted_at": "2026-01-01T00:00:00Z", "author_association": "NONE",
        "_links": { "html": { "href": html }, "pull_request": { "href": format!("https://api.github.example/repos/{o}/{r}/pulls/{n}") } }
    })))
    .into_response()
}

async fn list_reviews(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Response {
    let repo = format!("{o}/{r}");
    let st = lock(&s);
    let v: Vec<Value> = st
        .reviews
        .iter()
        .filter(|(rr, nn, _)| *rr == repo && *nn == n)
        .enumerate()
        .map(|(i, (_, _, b))| {
            shape("review", json!({ "id": i + 1, "node_id": format!("PRR_{}", i + 1), "user": user(), "body": b["body"],
                    "state": match b["event"].as_str() { Some("REQUEST_CHANGES") => "CHANGES_REQUESTED", Some("APPROVE") => "APPROVED", _ => "COMMENTED" },
                    "commit_id": b["commit_id"], "html_url": format!("https://github.example/{o}/{r}/pull/{n}#pullrequestreview-{}", i + 1) }))
        })
        .collect();
    Json(v).into_response()
}

async fn list_review_comments(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let st = lock(&s);
    let items = st
        .review_comments
        .get(&(format!("{o}/{r}"), n))
        .cloned()
        .unwrap_or_default();
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    paginate(
        &format!("http://{host}/repos/{o}/{r}/pulls/{n}/comments"),
        &items,
        &q,
        st.max_per_page,
    )
}

async fn issue_comment(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(b): Json<Value>,
) -> Response {
    let Some(body) = b["body"].as_str().filter(|s| !s.is_empty()) else {
        return gh_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed: body");
    };
    let mut st = lock(&s);
    st.next_id += 1;
    let id = st.next_id;
    st.issue_comments
        .push((format!("{o}/{r}"), n, body.to_string()));
    (
        StatusCode::CREATED,
        Json(shape(
            "issue-comment",
            json!({
                "id": id, "node_id": format!("IC_{id}"), "body": body, "user": user(),
                "html_url": format!("https://github.example/{o}/{r}/pull/{n}#issuecomment-{id}"),
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
            }),
        )),
    )
        .into_response()
}

async fn check_run(
    State(s): State<St>,
    Path((o, r)): Path<(String, String)>,
    Json(b): Json<Value>,
) -> Response {
    // Check runs are a GitHub App's (installation tokens start with `ghs_`).
    if !lock(&s).token.starts_with("ghs_") {
        return gh_error(
            StatusCode::FORBIDDEN,
            "You must authenticate via a GitHub App.",
        );
    }
    if b["name"].as_str().is_none() || b["head_sha"].as_str().is_none() {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: name, head_sha",
        );
    }
    if b["status"] == "completed" && b["conclusion"].is_null() {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: conclusion is required when status is completed",
        );
    }
    let mut st = lock(&s);
    st.next_id += 1;
    let id = st.next_id;
    st.check_runs.push((format!("{o}/{r}"), b.clone()));
    (
        StatusCode::CREATED,
        Json(shape(
            "check-run",
            json!({
                "id": id, "name": b["name"], "head_sha": b["head_sha"], "status": b["status"],
                "conclusion": b["conclusion"],
                "html_url": format!("https://github.example/{o}/{r}/runs/{id}")
            }),
        )),
    )
        .into_response()
}

async fn list_issue_comments(
    State(s): State<St>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let st = lock(&s);
    let repo = format!("{o}/{r}");
    let items: Vec<Value> = st
        .issue_comments
        .iter()
        .enumerate()
        .filter(|(_, (rr, nn, _))| *rr == repo && *nn == n)
        .map(|(i, (_, _, body))| {
            shape("issue-comment", json!({ "id": 500 + i, "body": body, "user": user(),
                    "html_url": format!("https://github.example/{o}/{r}/pull/{n}#issuecomment-{}", 500 + i) }))
        })
        .collect();
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    paginate(
        &format!("http://{host}/repos/{o}/{r}/issues/{n}/comments"),
        &items,
        &q,
        st.max_per_page,
    )
}

async fn list_check_runs(
    State(s): State<St>,
    Path((o, r, sha)): Path<(String, String, String)>,
) -> Response {
    let st = lock(&s);
    let repo = format!("{o}/{r}");
    let runs: Vec<Value> = st
        .check_runs
        .iter()
        .enumerate()
        .filter(|(_, (rr, b))| *rr == repo && b["head_sha"] == sha.as_str())
        .map(|(i, (_, b))| {
            shape("check-run", json!({ "id": 900 + i, "name": b["name"], "head_sha": b["head_sha"], "status": b["status"],
                    "conclusion": b["conclusion"], "html_url": format!("https://github.example/{o}/{r}/runs/{}", 900 + i) }))
        })
        .collect();
    Json(json!({ "total_count": runs.len(), "check_runs": runs })).into_response()
}

async fn commit_status(
    State(s): State<St>,
    Path((o, r, sha)): Path<(String, String, String)>,
    Json(b): Json<Value>,
) -> Response {
    let state = b["state"].as_str().unwrap_or_default();
    if !["error", "failure", "pending", "success"].contains(&state) {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: state is not included in the list",
        );
    }
    if b["description"]
        .as_str()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: description is too long (maximum is 140 characters)",
        );
    }
    let mut st = lock(&s);
    st.next_id += 1;
    let id = st.next_id;
    st.statuses
        .push((format!("{o}/{r}"), sha.clone(), b.clone()));
    (
        StatusCode::CREATED,
        Json(shape("status", json!({
            "id": id, "node_id": format!("SC_{id}"), "state": state,
            "context": b["context"].as_str().unwrap_or("default"), "description": b["description"],
            "target_url": b["target_url"], "creator": user(),
            "url": format!("https://api.github.example/repos/{o}/{r}/statuses/{sha}"),
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))),
    )
        .into_response()
}
