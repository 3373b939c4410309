//! What the agents' runs share: how a run fails (a message, and whether another attempt may
//! do better), and how its end is reported to the host (the summary and data, or the failure's
//! first line and the whole message).

use serde::Serialize;
use serde_json::json;

use super::{DynHost, Failed, Outcome};

/// Why a run stopped.
#[derive(Debug)]
pub struct RunFailure {
    pub message: String,
    /// Worth another attempt (network, the agent API away).
    pub transient: bool,
}

/// A failure another attempt would meet again (bad input, a failing command).
pub fn fail(m: impl Into<String>) -> RunFailure {
    RunFailure {
        message: m.into(),
        transient: false,
    }
}

/// A progress line or action the host did not take: the agent API is away, so another
/// attempt may do better.
pub fn reported(r: Result<(), String>) -> Result<(), RunFailure> {
    r.map_err(|message| RunFailure {
        message,
        transient: true,
    })
}

/// Report the run's end: on success its summary and `data`, on failure the first line as the
/// summary and the whole message as the data's `error`.
pub async fn finish<T: Serialize>(
    host: &dyn DynHost,
    r: Result<T, RunFailure>,
    summary: impl FnOnce(&T) -> String,
) -> Outcome {
    finish_with(host, r, |o| (summary(o), Vec::new())).await
}

/// [`finish`], with the artifacts the run made referenced from its result.
pub async fn finish_with<T: Serialize>(
    host: &dyn DynHost,
    r: Result<T, RunFailure>,
    summary: impl FnOnce(&T) -> (String, Vec<crate::api::ArtifactRef>),
) -> Outcome {
    match r {
        Ok(out) => {
            let (s, artifacts) = summary(&out);
            let data = serde_json::to_value(&out).unwrap_or_default();
            host.result(&s, Some(data), &artifacts).await?;
            Ok(s)
        }
        Err(f) => {
            let first = f.message.lines().next().unwrap_or_default().to_string();
            host.result(&first, Some(json!({ "error": f.message })), &[])
                .await?;
            Err(Failed::of(f.transient, f.message))
        }
    }
}

/// Commit everything changed in the checkout at `root` as `title` and, when `publish`, push
/// `branch` (the usual checks: not the base branch, only inside allowedPaths). The commit SHA.
pub async fn commit_and_push(
    agent: &'static str,
    root: &std::path::Path,
    opts: &crate::services::git::WorkspaceOptions,
    title: &str,
    branch: &str,
    publish: bool,
) -> Result<String, RunFailure> {
    let (dir, o, t, b) = (
        root.to_path_buf(),
        opts.clone(),
        title.to_string(),
        branch.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let ws = crate::services::git::Workspace::open(&dir, o)?;
        let sha = ws.commit_all(&t)?;
        if publish {
            ws.push(&b)?;
        }
        Ok::<_, crate::services::git::GitError>(sha)
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(|e| fail(format!("{agent}: {e}")))
}

/// A branch a run committed, and where it goes.
pub struct Branch<'a> {
    pub agent: &'static str,
    pub repo: &'a crate::api::Repository,
    pub github_api: &'a str,
    pub credentials: Option<&'a crate::services::git::Credentials>,
    /// Pushed (see [`commit_and_push`]); off: the branch stays local and nothing is opened.
    pub publish: bool,
    pub title: &'a str,
    pub branch: &'a str,
    pub commit: &'a str,
}

/// The end of a run that committed `b.branch`: unpublished, the summary says it stays local;
/// published, the push is recorded, the pull request into the repository's base branch opened
/// and recorded, and the summary names it.
pub async fn propose<H: super::Host + ?Sized>(
    host: &H,
    b: &Branch<'_>,
    body: &str,
    summary: &mut String,
) -> Result<Option<crate::services::github::PullRequest>, RunFailure> {
    if !b.publish {
        summary.push_str(&format!(
            "; committed on the local branch {} (not pushed)",
            b.branch
        ));
        return Ok(None);
    }
    let agent = b.agent;
    reported(host.action("git_push", b.branch, Some(b.commit)).await)?;
    let (owner, name) =
        crate::services::github::repo_of(&b.repo.url).map_err(|e| fail(e.to_string()))?;
    let token = b.credentials.map(|c| c.token.clone()).ok_or_else(|| {
        fail(format!(
            "{agent}: opening a pull request needs repository.credentialsSecret"
        ))
    })?;
    let gh = crate::services::github::GitHub::new(b.github_api, &token, &owner, &name)
        .map_err(|e| fail(e.to_string()))?;
    let pr = gh
        .create_pull(b.title, b.branch, &b.repo.base_branch, body)
        .await
        .map_err(|e| fail(format!("{agent}: pushed {}, but {e}", b.branch)))?;
    reported(host.action("pr_open", &pr.html_url, Some(b.commit)).await)?;
    summary.push_str(&format!("; pull request #{}", pr.number));
    Ok(Some(pr))
}
