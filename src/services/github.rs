//! The agents' GitHub client (octocrab for authentication and transport). The base URL is
//! configurable: `https://api.github.com`, a GitHub Enterprise Server's `https://<host>/api/v3`,
//! or a test double. What the agents need: pull requests (metadata, the unified diff — or, past
//! GitHub's diff limits, the changed files' patches —, the changed files with pagination,
//! opening one), reviews with inline comments, issue comments, and check runs (a GitHub App's
//! right; with a personal token, a commit status instead).
//!
//! Retries follow GitHub's documented rules rather than octocrab's (which re-sends at once on
//! 429/5xx, whatever the method): a rate-limited answer (429, or 403 with `retry-after`,
//! `x-ratelimit-remaining: 0` or a secondary-limit message) is waited out — `retry-after`, else
//! until `x-ratelimit-reset`, else at least a minute — up to [`Retry::max_wait`]; it was not
//! carried out, so any method is sent again. After a 5xx or a broken connection a read is sent
//! again with backoff; a write that adds something (a pull request, a review, a comment, a
//! check run) is not re-sent blindly: the client first looks whether it was carried out (lists
//! the pull requests of the head, the reviews or comments with the same body, the check runs of
//! the commit) and returns what it finds.

use std::time::Duration;

use futures::future::BoxFuture;
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// GitHub's limits of `GET pulls/N` as a diff: past them it answers 406 `too_large`.
pub const DIFF_MAX_FILES: usize = 300;
pub const DIFF_MAX_LINES: usize = 20_000;

/// How the client waits and retries.
#[derive(Clone, Debug)]
pub struct Retry {
    /// Attempts of one request (rate-limit waits included).
    pub max_attempts: u32,
    /// Backoff after a 5xx or a transport error: base · 2^(n-1).
    pub base: Duration,
    /// The longest rate-limit wait the client sits out; a longer one is an error that says
    /// when the limit resets.
    pub max_wait: Duration,
    /// A secondary rate limit without `retry-after`: GitHub says wait at least a minute.
    pub secondary_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
            secondary_wait: Duration::from_secs(60),
        }
    }
}

/// How long a refused request asks to be waited out, if it was refused by a rate limit:
/// `retry-after`; else, with `x-ratelimit-remaining: 0`, until `x-ratelimit-reset`; else, for
/// a 429 or a 403 that says "secondary rate limit", `secondary`. `None`: not a rate limit.
pub fn rate_limit_wait(
    status: u16,
    headers: &http::HeaderMap,
    message: &str,
    now_epoch: i64,
    secondary: Duration,
) -> Option<Duration> {
    if status != 429 && status != 403 {
        return None;
    }
    let num = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(s) = num("retry-after") {
        return Some(Duration::from_secs(s.max(0) as u64));
    }
    if num("x-ratelimit-remaining") == Some(0)
        && let Some(reset) = num("x-ratelimit-reset")
    {
        return Some(Duration::from_secs((reset - now_epoch).max(1) as u64));
    }
    let m = message.to_ascii_lowercase();
    if status == 429 || m.contains("secondary rate limit") || m.contains("rate limit exceeded") {
        return Some(secondary);
    }
    None
}

/// A pull request's changes: its unified diff, or — past GitHub's diff limits — the diff put
/// together from the changed files' patches, with the files GitHub gave no patch for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub diff: String,
    /// True when the diff endpoint refused (406 `too_large`) and the files API was used.
    pub from_files: bool,
    /// Files without a patch (binary, or too large for GitHub to show).
    pub without_patch: Vec<String>,
    /// All changed files (known when the files API was used).
    pub files: usize,
}

/// Where a check's result went.
#[derive(Clone, Debug, PartialEq)]
pub enum Published {
    CheckRun(Created),
    /// A personal token cannot create check runs (GitHub Apps only): a commit status.
    CommitStatus {
        id: u64,
        context: String,
    },
}

/// One answer.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

/// Did the write happen after all? Looks and returns the created object's JSON if so.
type Look<'a> = &'a (dyn Fn() -> BoxFuture<'a, Result<Option<String>, GitHubError>> + Send + Sync);

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub: {what} not found (404)")]
    NotFound { what: String },
    #[error("GitHub answered {status} for {what}: {message}")]
    Api {
        what: String,
        status: u16,
        message: String,
    },
    #[error("GitHub request for {what} failed: {message}")]
    Transport { what: String, message: String },
    #[error("not a GitHub repository URL: {0}")]
    BadRepository(String),
}

impl GitHubError {
    fn from_octocrab(what: String, e: octocrab::Error) -> GitHubError {
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                if status == 404 {
                    GitHubError::NotFound { what }
                } else {
                    let mut message = source.message.clone();
                    if let Some(errs) = &source.errors {
                        message.push_str(&format!(" {}", serde_json::Value::from(errs.clone())));
                    }
                    GitHubError::Api {
                        what,
                        status,
                        message: crate::services::redact::redact(&message).into_owned(),
                    }
                }
            }
            other => GitHubError::Transport {
                what,
                message: crate::services::redact::redact(&other.to_string()).into_owned(),
            },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, GitHubError::NotFound { .. })
    }
}

/// `owner/name` from a clone URL (`https://github.com/o/n.git`, `git@github.com:o/n.git`, a
/// test server's `http://127.0.0.1:port/o/n.git`) or from `owner/name` itself.
pub fn repo_of(url: &str) -> Result<(String, String), GitHubError> {
    let bad = || GitHubError::BadRepository(url.to_string());
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    let path = match trimmed.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).ok_or_else(bad)?,
        None => trimmed.rsplit_once(':').map(|(_, p)| p).unwrap_or(trimmed),
    };
    let mut parts = path.rsplit('/');
    let name = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    let owner = parts.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
    Ok((owner.to_string(), name.to_string()))
}

/// What the agents use of a pull request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub html_url: String,
    pub state: String,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    /// `owner/name` of the head's repository (None: the fork was deleted).
    pub head_repo: Option<String>,
    /// `owner/name` of the base's repository.
    pub base_repo: Option<String>,
}

impl PullRequest {
    /// Does the head come from another repository (a fork, or a deleted one)? Its code is
    /// then its author's, not the repository's.
    pub fn from_fork(&self) -> bool {
        self.head_repo.is_none() || self.head_repo != self.base_repo
    }
}

impl From<octocrab::models::pulls::PullRequest> for PullRequest {
    fn from(p: octocrab::models::pulls::PullRequest) -> Self {
        PullRequest {
            number: p.number,
            title: p.title.unwrap_or_default(),
            body: p.body.unwrap_or_default(),
            html_url: p.html_url.map(|u| u.to_string()).unwrap_or_default(),
            state: p
                .state
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_default(),
            head_repo: p.head.repo.as_ref().and_then(|r| r.full_name.clone()),
            base_repo: p.base.repo.as_ref().and_then(|r| r.full_name.clone()),
            head_ref: p.head.ref_field,
            head_sha: p.head.sha,
            base_ref: p.base.ref_field,
            base_sha: p.base.sha,
        }
    }
}

/// One changed file of a pull request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChangedFile {
    pub filename: String,
    /// added, removed, modified, renamed, copied, changed, unchanged
    pub status: String,
    #[serde(default)]
    pub additions: u64,
    #[serde(default)]
    pub deletions: u64,
    #[serde(default, alias = "previous_filename")]
    pub previous_filename: Option<String>,
    /// The file's unified-diff hunks (absent for binary and very large files).
    #[serde(default)]
    pub patch: Option<String>,
}

/// The review's verdict.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewEvent {
    Comment,
    RequestChanges,
    Approve,
}

/// An inline comment on the new side of the diff (`line`, optionally from `start_line`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InlineComment {
    pub path: String,
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u64>,
    pub side: String,
    pub body: String,
}

impl InlineComment {
    pub fn new(path: &str, line: u64, body: &str) -> InlineComment {
        InlineComment {
            path: path.into(),
            line,
            start_line: None,
            side: "RIGHT".into(),
            body: body.into(),
        }
    }
}

/// A created object's id and address.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Created {
    pub id: u64,
    pub html_url: String,
}

/// A review comment already on a pull request (for re-runs: never comment twice).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ExistingComment {
    pub id: u64,
    pub path: String,
    #[serde(default)]
    pub line: Option<u64>,
    pub body: String,
}

/// A check run (`status` completed with a `conclusion`, or queued / in_progress).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckRun {
    pub name: String,
    pub head_sha: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    pub output: CheckOutput,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
}

pub struct GitHub {
    crab: Octocrab,
    owner: String,
    repo: String,
    pub retry: Retry,
}

impl GitHub {
    /// A client for `owner/repo` at `api_url` with `token`.
    pub fn new(api_url: &str, token: &str, owner: &str, repo: &str) -> Result<GitHub, GitHubError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let what = format!("client for {api_url}");
        let crab = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|e| GitHubError::from_octocrab(what.clone(), e))?
            .personal_token(token.to_string())
            // Retries are this client's (GitHub's rules, no blind re-send of a write).
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .build()
            .map_err(|e| GitHubError::from_octocrab(what, e))?;
        Ok(GitHub {
            crab,
            owner: owner.into(),
            repo: repo.into(),
            retry: Retry::default(),
        })
    }

    /// One request, one answer (or a transport error).
    async fn exchange(
        &self,
        method: http::Method,
        uri: &str,
        body: Option<&Value>,
        accept: Option<&str>,
    ) -> Result<Answer, String> {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(a) = accept {
            b = b.header(http::header::ACCEPT, a);
        }
        let req = self
            .crab
            .build_request(b, body)
            .map_err(|e| e.to_string())?;
        let resp = self.crab.execute(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = self
            .crab
            .body_to_string(resp)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Send a request under GitHub's retry rules (see the module). `look`, for a write that
    /// adds something, says whether an unanswered attempt was carried out after all.
    async fn send(
        &self,
        what: &str,
        method: http::Method,
        uri: &str,
        body: Option<&Value>,
        accept: Option<&str>,
        look: Option<Look<'_>>,
    ) -> Result<Answer, GitHubError> {
        let what = format!("{what} of {}/{}", self.owner, self.repo);
        let idempotent = matches!(method, http::Method::GET | http::Method::HEAD);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.max_attempts;
            let failure = match self.exchange(method.clone(), uri, body, accept).await {
                Ok(a) if (200..300).contains(&a.status) => return Ok(a),
                Ok(a) => {
                    let message = error_message(&a.body, a.status);
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    if let Some(wait) = rate_limit_wait(
                        a.status,
                        &a.headers,
                        &message,
                        now,
                        self.retry.secondary_wait,
                    ) {
                        // Refused, not carried out: any method may be sent again.
                        if wait > self.retry.max_wait || last {
                            return Err(GitHubError::Api {
                                what,
                                status: a.status,
                                message: format!(
                                    "{message} (rate limited: GitHub asks to wait {} s{})",
                                    wait.as_secs(),
                                    if last {
                                        "; out of attempts"
                                    } else {
                                        ", longer than this client waits"
                                    }
                                ),
                            });
                        }
                        tracing::info!(what = %what, status = a.status, wait_secs = wait.as_secs(), "GitHub rate limit: waiting");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    if a.status < 500 {
                        return Err(if a.status == 404 {
                            GitHubError::NotFound { what }
                        } else {
                            GitHubError::Api {
                                what,
                                status: a.status,
                                message,
                            }
                        });
                    }
                    GitHubError::Api {
                        what: what.clone(),
                        status: a.status,
                        message,
                    }
                }
                Err(e) => GitHubError::Transport {
                    what: what.clone(),
                    message: crate::services::redact::redact(&e).into_owned(),
                },
            };
            // A 5xx or a broken exchange: the request may or may not have been carried out.
            if last {
                return Err(failure);
            }
            tokio::time::sleep(self.retry.base.saturating_mul(1 << (attempt - 1).min(6))).await;
            if !idempotent {
                let Some(look) = look else {
                    return Err(failure);
                };
                if let Some(found) = look().await? {
                    tracing::info!(what = %what, "GitHub answered an error, but the write was carried out");
                    return Ok(Answer {
                        status: 200,
                        headers: http::HeaderMap::new(),
                        body: found,
                    });
                }
            }
        }
    }

    /// A JSON answer of a request, decoded.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: http::Method,
        uri: &str,
        body: Option<&Value>,
        look: Option<Look<'_>>,
    ) -> Result<T, GitHubError> {
        let a = self.send(what, method, uri, body, None, look).await?;
        serde_json::from_str(&a.body).map_err(|e| GitHubError::Api {
            what: format!("{what} of {}/{}", self.owner, self.repo),
            status: a.status,
            message: format!("an answer this client does not understand: {e}"),
        })
    }

    /// Every item of a list, following the `Link: rel="next"` pages.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        first: String,
    ) -> Result<Vec<T>, GitHubError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(uri) = next.take() {
            let a = self
                .send(what, http::Method::GET, &uri, None, None, None)
                .await?;
            let page: Vec<T> = serde_json::from_str(&a.body).map_err(|e| GitHubError::Api {
                what: format!("{what} of {}/{}", self.owner, self.repo),
                status: a.status,
                message: format!("an answer this client does not understand: {e}"),
            })?;
            out.extend(page);
            next = a
                .headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
        }
        Ok(out)
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    pub async fn pull(&self, number: u64) -> Result<PullRequest, GitHubError> {
        self.json::<octocrab::models::pulls::PullRequest>(
            &format!("pull request #{number}"),
            http::Method::GET,
            &self.route(&format!("pulls/{number}")),
            None,
            None,
        )
        .await
        .map(PullRequest::from)
    }

    /// The pull request as a unified diff (`application/vnd.github.diff`). Past 300 files or
    /// 20,000 lines GitHub answers 406 `too_large`: see [`Self::pull_changes`].
    pub async fn pull_diff(&self, number: u64) -> Result<String, GitHubError> {
        self.send(
            &format!("the diff of pull request #{number}"),
            http::Method::GET,
            &self.route(&format!("pulls/{number}")),
            None,
            Some("application/vnd.github.diff"),
            None,
        )
        .await
        .map(|a| a.body)
    }

    /// The pull request's changes: its diff, or past GitHub's diff limits the diff put
    /// together from the files API's patches (which names the files it has no patch for).
    pub async fn pull_changes(&self, number: u64) -> Result<Changes, GitHubError> {
        match self.pull_diff(number).await {
            Ok(diff) => Ok(Changes {
                diff,
                ..Changes::default()
            }),
            Err(GitHubError::Api { status: 406, .. }) => {
                let files = self.pull_files(number).await?;
                Ok(diff_of_files(&files))
            }
            Err(e) => Err(e),
        }
    }

    /// Every changed file, following the `Link: rel="next"` pages (GitHub lists at most
    /// 3,000).
    pub async fn pull_files(&self, number: u64) -> Result<Vec<ChangedFile>, GitHubError> {
        self.all(
            &format!("the files of pull request #{number}"),
            self.route(&format!("pulls/{number}/files?per_page=100")),
        )
        .await
    }

    /// The open pull request from branch `head` of this repository into `base`, if any.
    pub async fn open_pull(
        &self,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, GitHubError> {
        let list = self.route(&format!(
            "pulls?state=open&head={}:{head}&base={base}&per_page=100",
            self.owner
        ));
        let open: Vec<octocrab::models::pulls::PullRequest> =
            self.all("the open pull requests", list).await?;
        Ok(open
            .into_iter()
            .map(PullRequest::from)
            .find(|p| p.head_ref == head && p.base_ref == base))
    }

    /// Open a pull request from `head` into `base` (after an unanswered attempt, an open pull
    /// request of `head` is the one it made).
    pub async fn create_pull(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> Result<PullRequest, GitHubError> {
        let req = serde_json::json!({ "title": title, "head": head, "base": base, "body": body });
        let list = self.route(&format!(
            "pulls?state=open&head={}:{head}&per_page=100",
            self.owner
        ));
        let look = || -> BoxFuture<'_, Result<Option<String>, GitHubError>> {
            Box::pin(async {
                let open: Vec<Value> = self.all("the open pull requests", list.clone()).await?;
                Ok(open
                    .into_iter()
                    .find(|p| p["head"]["ref"] == head && p["base"]["ref"] == base)
                    .map(|p| p.to_string()))
            })
        };
        self.json::<octocrab::models::pulls::PullRequest>(
            &format!("opening a pull request from {head}"),
            http::Method::POST,
            &self.route("pulls"),
            Some(&req),
            Some(&look),
        )
        .await
        .map(PullRequest::from)
    }

    /// One review with inline comments on `commit_id` (after an unanswered attempt, a review
    /// with the same body on the same commit is the one it made).
    pub async fn create_review(
        &self,
        number: u64,
        commit_id: &str,
        event: ReviewEvent,
        body: &str,
        comments: &[InlineComment],
    ) -> Result<Created, GitHubError> {
        let req = serde_json::json!({
            "commit_id": commit_id, "event": event, "body": body, "comments": comments,
        });
        let list = self.route(&format!("pulls/{number}/reviews?per_page=100"));
        let look = || -> BoxFuture<'_, Result<Option<String>, GitHubError>> {
            Box::pin(async {
                let reviews: Vec<Value> = self.all("the reviews", list.clone()).await?;
                Ok(reviews
                    .into_iter()
                    .find(|r| r["body"] == body && r["commit_id"] == commit_id)
                    .map(|r| r.to_string()))
            })
        };
        self.json(
            &format!("a review on pull request #{number}"),
            http::Method::POST,
            &self.route(&format!("pulls/{number}/reviews")),
            Some(&req),
            Some(&look),
        )
        .await
    }

    /// The review comments already on the pull request (all pages).
    pub async fn review_comments(&self, number: u64) -> Result<Vec<ExistingComment>, GitHubError> {
        self.all(
            &format!("the review comments of pull request #{number}"),
            self.route(&format!("pulls/{number}/comments?per_page=100")),
        )
        .await
    }

    /// The bodies of the reviews already on the pull request (all pages).
    pub async fn review_bodies(&self, number: u64) -> Result<Vec<String>, GitHubError> {
        #[derive(Deserialize)]
        struct ReviewBody {
            #[serde(default)]
            body: Option<String>,
        }
        let all: Vec<ReviewBody> = self
            .all(
                &format!("the reviews of pull request #{number}"),
                self.route(&format!("pulls/{number}/reviews?per_page=100")),
            )
            .await?;
        Ok(all.into_iter().filter_map(|r| r.body).collect())
    }

    /// A comment on the pull request's conversation (an issue comment; after an unanswered
    /// attempt, a comment with the same body is the one it made).
    pub async fn comment(&self, number: u64, body: &str) -> Result<Created, GitHubError> {
        let list = self.route(&format!("issues/{number}/comments?per_page=100"));
        let look = || -> BoxFuture<'_, Result<Option<String>, GitHubError>> {
            Box::pin(async {
                let comments: Vec<Value> = self.all("the comments", list.clone()).await?;
                Ok(comments
                    .into_iter()
                    .find(|c| c["body"] == body)
                    .map(|c| c.to_string()))
            })
        };
        self.json(
            &format!("a comment on #{number}"),
            http::Method::POST,
            &self.route(&format!("issues/{number}/comments")),
            Some(&serde_json::json!({ "body": body })),
            Some(&look),
        )
        .await
    }

    /// A check run (GitHub Apps only: a personal token is refused with 403 — see
    /// [`Self::publish_check`]).
    pub async fn create_check_run(&self, run: &CheckRun) -> Result<Created, GitHubError> {
        let body = serde_json::to_value(run).unwrap_or_default();
        let list = self.route(&format!(
            "commits/{}/check-runs?check_name={}&per_page=100",
            run.head_sha, run.name
        ));
        let look = || -> BoxFuture<'_, Result<Option<String>, GitHubError>> {
            Box::pin(async {
                let a = self
                    .send("the check runs", http::Method::GET, &list, None, None, None)
                    .await?;
                let v: Value = serde_json::from_str(&a.body).unwrap_or_default();
                Ok(v["check_runs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["name"] == run.name.as_str())
                    .map(|c| c.to_string()))
            })
        };
        self.json(
            &format!("check run {}", run.name),
            http::Method::POST,
            &self.route("check-runs"),
            Some(&body),
            Some(&look),
        )
        .await
    }

    /// A check's result: a check run where the token may create one (a GitHub App's), else —
    /// a personal token, which GitHub refuses check runs — a commit status with the same name
    /// (context), state and summary.
    pub async fn publish_check(&self, run: &CheckRun) -> Result<Published, GitHubError> {
        match self.create_check_run(run).await {
            Ok(c) => Ok(Published::CheckRun(c)),
            Err(GitHubError::Api { status: 403, .. }) => {
                let state = match (run.status.as_str(), run.conclusion.as_deref()) {
                    ("completed", Some("success" | "neutral" | "skipped")) => "success",
                    ("completed", Some("failure" | "action_required" | "timed_out")) => "failure",
                    ("completed", _) => "error",
                    _ => "pending",
                };
                let description: String = format!("{}: {}", run.output.title, run.output.summary)
                    .chars()
                    .take(140)
                    .collect();
                // A status sets the context's state: sending it twice changes nothing.
                let created: Value = self
                    .json(
                        &format!("commit status {}", run.name),
                        http::Method::POST,
                        &self.route(&format!("statuses/{}", run.head_sha)),
                        Some(&serde_json::json!({
                            "state": state, "context": run.name, "description": description,
                        })),
                        Some(&|| Box::pin(async { Ok(None) })),
                    )
                    .await?;
                Ok(Published::CommitStatus {
                    id: created["id"].as_u64().unwrap_or_default(),
                    context: run.name.clone(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// GitHub's error message of an answer (its JSON `message` and `errors`), redacted.
fn error_message(body: &str, status: u16) -> String {
    let m = match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut m = v["message"].as_str().unwrap_or_default().to_string();
            if let Some(errs) = v.get("errors").filter(|e| !e.is_null()) {
                m.push_str(&format!(" {errs}"));
            }
            m
        }
        Err(_) => body.trim().chars().take(500).collect(),
    };
    let m = if m.is_empty() {
        format!("HTTP {status}")
    } else {
        m
    };
    crate::services::redact::redact(&m).into_owned()
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// A unified diff put together from the files API's patches.
pub fn diff_of_files(files: &[ChangedFile]) -> Changes {
    let mut diff = String::new();
    let mut without_patch = Vec::new();
    for f in files {
        let old = f.previous_filename.as_deref().unwrap_or(&f.filename);
        diff.push_str(&format!("diff --git a/{old} b/{}\n", f.filename));
        let Some(patch) = f.patch.as_deref().filter(|p| !p.is_empty()) else {
            // A pure rename or mode change has no patch to miss.
            if f.additions + f.deletions > 0 || f.status == "added" {
                without_patch.push(f.filename.clone());
            }
            continue;
        };
        let (from, to) = match f.status.as_str() {
            "added" => ("/dev/null".to_string(), format!("b/{}", f.filename)),
            "removed" => (format!("a/{old}"), "/dev/null".to_string()),
            _ => (format!("a/{old}"), format!("b/{}", f.filename)),
        };
        diff.push_str(&format!("--- {from}\n+++ {to}\n{patch}"));
        if !patch.ends_with('\n') {
            diff.push('\n');
        }
    }
    Changes {
        diff,
        from_files: true,
        without_patch,
        files: files.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_from_urls() {
        for (url, want) in [
            ("https://github.com/acme/core.git", ("acme", "core")),
            ("https://github.com/acme/core", ("acme", "core")),
            ("git@github.com:acme/core.git", ("acme", "core")),
            ("http://127.0.0.1:4000/acme/core.git", ("acme", "core")),
            ("acme/core", ("acme", "core")),
        ] {
            let (o, n) = repo_of(url).unwrap();
            assert_eq!((o.as_str(), n.as_str()), want, "{url}");
        }
        assert!(repo_of("https://github.com/").is_err());
        assert!(repo_of("core").is_err());
    }
}
