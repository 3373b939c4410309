//! The agents' GitHub client (octocrab). The base URL is configurable: `https://api.github.com`,
//! a GitHub Enterprise Server's `https://<host>/api/v3`, or a test double. What the agents
//! need: pull requests (metadata, the unified diff, the changed files with pagination, opening
//! one), reviews with inline comments, issue comments and check runs.

use octocrab::Octocrab;
use serde::{Deserialize, Serialize};

pub const DEFAULT_API_URL: &str = "https://api.github.com";

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
            .build()
            .map_err(|e| GitHubError::from_octocrab(what, e))?;
        Ok(GitHub {
            crab,
            owner: owner.into(),
            repo: repo.into(),
        })
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    fn err(&self, what: impl std::fmt::Display) -> impl FnOnce(octocrab::Error) -> GitHubError {
        let what = format!("{what} of {}/{}", self.owner, self.repo);
        move |e| GitHubError::from_octocrab(what, e)
    }

    pub async fn pull(&self, number: u64) -> Result<PullRequest, GitHubError> {
        self.crab
            .pulls(&self.owner, &self.repo)
            .get(number)
            .await
            .map(PullRequest::from)
            .map_err(self.err(format_args!("pull request #{number}")))
    }

    /// The pull request as a unified diff (`application/vnd.github.diff`).
    pub async fn pull_diff(&self, number: u64) -> Result<String, GitHubError> {
        self.crab
            .pulls(&self.owner, &self.repo)
            .get_diff(number)
            .await
            .map_err(self.err(format_args!("the diff of pull request #{number}")))
    }

    /// Every changed file, following the `Link: rel="next"` pages.
    pub async fn pull_files(&self, number: u64) -> Result<Vec<ChangedFile>, GitHubError> {
        let what = format!("the files of pull request #{number}");
        let first: octocrab::Page<ChangedFile> = self
            .crab
            .get(
                self.route(&format!("pulls/{number}/files")),
                Some(&[("per_page", 100)]),
            )
            .await
            .map_err(self.err(&what))?;
        self.crab.all_pages(first).await.map_err(self.err(&what))
    }

    /// Open a pull request from `head` into `base`.
    pub async fn create_pull(
        &self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> Result<PullRequest, GitHubError> {
        self.crab
            .pulls(&self.owner, &self.repo)
            .create(title, head, base)
            .body(body)
            .send()
            .await
            .map(PullRequest::from)
            .map_err(self.err(format_args!("opening a pull request from {head}")))
    }

    /// One review with inline comments on `commit_id`.
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
        self.crab
            .post(self.route(&format!("pulls/{number}/reviews")), Some(&req))
            .await
            .map_err(self.err(format_args!("a review on pull request #{number}")))
    }

    /// The review comments already on the pull request (all pages).
    pub async fn review_comments(&self, number: u64) -> Result<Vec<ExistingComment>, GitHubError> {
        let what = format!("the review comments of pull request #{number}");
        let first: octocrab::Page<ExistingComment> = self
            .crab
            .get(
                self.route(&format!("pulls/{number}/comments")),
                Some(&[("per_page", 100)]),
            )
            .await
            .map_err(self.err(&what))?;
        self.crab.all_pages(first).await.map_err(self.err(&what))
    }

    /// The bodies of the reviews already on the pull request (all pages).
    pub async fn review_bodies(&self, number: u64) -> Result<Vec<String>, GitHubError> {
        #[derive(Deserialize)]
        struct ReviewBody {
            #[serde(default)]
            body: Option<String>,
        }
        let what = format!("the reviews of pull request #{number}");
        let first: octocrab::Page<ReviewBody> = self
            .crab
            .get(
                self.route(&format!("pulls/{number}/reviews")),
                Some(&[("per_page", 100)]),
            )
            .await
            .map_err(self.err(&what))?;
        let all = self.crab.all_pages(first).await.map_err(self.err(&what))?;
        Ok(all.into_iter().filter_map(|r| r.body).collect())
    }

    /// A comment on the pull request's conversation (an issue comment).
    pub async fn comment(&self, number: u64, body: &str) -> Result<Created, GitHubError> {
        self.crab
            .post(
                self.route(&format!("issues/{number}/comments")),
                Some(&serde_json::json!({ "body": body })),
            )
            .await
            .map_err(self.err(format_args!("a comment on #{number}")))
    }

    pub async fn create_check_run(&self, run: &CheckRun) -> Result<Created, GitHubError> {
        self.crab
            .post(self.route("check-runs"), Some(run))
            .await
            .map_err(self.err(format_args!("check run {}", run.name)))
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
