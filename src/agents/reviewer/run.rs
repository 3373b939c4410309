//! The reviewer's run: fetch the pull request and its diff, check out its head, collect the
//! findings of the selected sources, fingerprint and deduplicate them, split them by the filter
//! mode, and post one review — only what is new since the earlier reviews.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::finding::{self, Finding};
use super::{diff, i18n, linters, review, security, tests_check};
use crate::agents::Host;
use crate::api::{Repository, ReviewCheck, ReviewerParams};
use crate::services::git::{AllowedPaths, Credentials, Identity, Workspace, WorkspaceOptions};
use crate::services::github::{GitHub, repo_of};

/// The repository's own review conventions, given to the LLM when present.
pub const CONVENTIONS_FILE: &str = ".devagents/review-conventions.md";

#[derive(Clone, Debug)]
pub struct Setup {
    /// An empty directory for the checkout.
    pub workdir: PathBuf,
    pub github_api: String,
    pub credentials: Option<Credentials>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub summary: String,
    pub head_sha: String,
    pub review_url: Option<String>,
    /// Inline comments posted by this run.
    pub posted: usize,
    /// Earlier findings gone now.
    pub fixed: usize,
    pub by_severity: BTreeMap<String, usize>,
    pub by_category: BTreeMap<String, usize>,
    pub findings: Vec<Finding>,
    /// Sources that could not run, and why (a linter missing, a package not building).
    pub notes: Vec<String>,
    /// `go test -cover` of the changed packages: package → percent of statements.
    pub coverage: BTreeMap<String, f64>,
    /// The review as it would be posted, when it is printed instead (a local run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<PrintedReview>,
}

/// A review not posted: its verdict, summary and inline comments.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PrintedReview {
    pub event: crate::services::github::ReviewEvent,
    pub body: String,
    pub comments: Vec<crate::services::github::InlineComment>,
}

pub use crate::agents::step::RunFailure as Failure;
use crate::agents::step::{fail, reported as report};

fn enabled(p: &ReviewerParams, c: ReviewCheck) -> bool {
    p.checks.is_empty() || p.checks.contains(&c)
}

/// Every file path under `root` (relative, `/`-separated), without `.git`.
fn tree(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

async fn tool(dir: &Path, program: &str, args: &[String]) -> Option<(i32, String, String)> {
    let out = super::sandbox::offline(program, dir)
        .args(args)
        .output()
        .await
        .ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// go vet, staticcheck and golangci-lint (each when installed) on the touched packages.
async fn lint(root: &Path, files: &[diff::FileDiff], notes: &mut Vec<String>) -> Vec<Finding> {
    let pkgs = linters::touched_packages(files);
    if pkgs.is_empty() || !root.join("go.mod").exists() {
        return Vec::new();
    }
    let root_s = root.to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut args = vec!["vet".to_string()];
    args.extend(pkgs.iter().cloned());
    match tool(root, "go", &args).await {
        Some((code, _, stderr)) => {
            let found = linters::parse_go_vet(&stderr, &root_s);
            if code != 0 && found.is_empty() {
                notes.push(format!(
                    "go vet could not check the packages: {}",
                    stderr.lines().last().unwrap_or_default()
                ));
            }
            out.extend(found);
        }
        None => notes.push("go vet: Go is not installed".into()),
    }
    let staticcheck = ["staticcheck", "go-staticcheck"]
        .into_iter()
        .find(|p| which(p));
    match staticcheck {
        Some(sc) => {
            let mut args = vec!["-f".to_string(), "json".to_string()];
            args.extend(pkgs.iter().cloned());
            if let Some((_, stdout, _)) = tool(root, sc, &args).await {
                out.extend(linters::parse_staticcheck(&stdout, &root_s));
            }
        }
        None => notes.push("staticcheck is not installed; skipped".into()),
    }
    if which("golangci-lint") {
        let mut args = vec!["run".to_string(), "--out-format".into(), "json".into()];
        args.extend(pkgs.iter().cloned());
        if let Some((_, stdout, _)) = tool(root, "golangci-lint", &args).await {
            match linters::parse_golangci(&stdout, &root_s) {
                Ok(f) => out.extend(f),
                Err(e) => notes.push(e),
            }
        }
    }
    out
}

pub async fn run<H: Host + ?Sized>(
    host: &H,
    repo: Option<&Repository>,
    p: &ReviewerParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    let slug = p
        .repo
        .clone()
        .or_else(|| repo.map(|r| r.url.clone()))
        .ok_or_else(|| fail("reviewer: give reviewer.repo or spec.repository"))?;
    let (owner, name) = repo_of(&slug).map_err(|e| fail(e.to_string()))?;
    let token = setup
        .credentials
        .as_ref()
        .map(|c| c.token.clone())
        .ok_or_else(|| {
            fail("reviewer: reading the pull request needs repository.credentialsSecret")
        })?;
    let gh =
        GitHub::new(&setup.github_api, &token, &owner, &name).map_err(|e| fail(e.to_string()))?;
    let n = p.pull_request.max(0) as u64;
    let pr = gh.pull(n).await.map_err(|e| {
        if e.is_not_found() {
            fail(format!(
                "reviewer: pull request #{n} of {owner}/{name} does not exist"
            ))
        } else {
            fail(format!("reviewer: {e}"))
        }
    })?;
    if let Some(want) = &p.head_sha
        && *want != pr.head_sha
    {
        return Err(fail(format!(
            "reviewer: pull request #{n} is at {} now, not at the pinned {want}",
            pr.head_sha
        )));
    }
    // Past GitHub's diff limits (300 files, 20,000 lines) the files API's patches stand in.
    let changes = gh
        .pull_changes(n)
        .await
        .map_err(|e| fail(format!("reviewer: {e}")))?;
    let text = changes.diff;
    let files = diff::parse(&text).map_err(|e| fail(format!("reviewer: the diff of #{n}: {e}")))?;
    let mut out = Outcome {
        head_sha: pr.head_sha.clone(),
        ..Default::default()
    };
    if changes.from_files {
        out.notes.push(format!(
            "GitHub does not serve the diff of #{n} (more than {} files or {} lines): reviewed from the {} changed files' patches",
            crate::services::github::DIFF_MAX_FILES,
            crate::services::github::DIFF_MAX_LINES,
            changes.files
        ));
    }
    if !changes.without_patch.is_empty() {
        out.notes.push(format!(
            "not reviewed, GitHub gives no patch for them (binary or too large): {}",
            changes.without_patch.join(", ")
        ));
    }
    if files.is_empty() {
        out.summary = format!("pull request #{n} changes no files; nothing to review");
        return Ok(out);
    }
    if files.iter().all(|f| f.binary || f.hunks.is_empty()) {
        out.summary = format!(
            "pull request #{n} changes only binary or mode-only files ({}); nothing to review",
            files.len()
        );
        return Ok(out);
    }
    report(
        host.progress(&format!("reviewing #{n}: {} files", files.len()))
            .await,
    )?;

    // The head, checked out: linters, locale files and the package tree need it.
    let url = repo.map(|r| r.url.clone()).unwrap_or_else(|| slug.clone());
    let opts = WorkspaceOptions {
        base_branch: pr.base_ref.clone(),
        allowed_paths: AllowedPaths::new(&[]).map_err(|e| fail(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("reviewer"),
    };
    let (dir, head_ref, head_sha) = (
        setup.workdir.clone(),
        pr.head_ref.clone(),
        pr.head_sha.clone(),
    );
    let root = tokio::task::spawn_blocking(move || {
        let ws = Workspace::clone(&url, &dir, opts)?;
        let pull = format!("+refs/pull/{n}/head:refs/remotes/origin/pr-{n}");
        let branch = format!("+refs/heads/{head_ref}:refs/remotes/origin/pr-{n}");
        ws.fetch_and_checkout(&[&pull], &head_sha)
            .or_else(|_| ws.fetch_and_checkout(&[&branch], &head_sha))?;
        Ok::<_, crate::services::git::GitError>(ws.path())
    })
    .await
    .map_err(|e| fail(format!("reviewer: {e}")))?
    .map_err(|e| {
        fail(format!(
            "reviewer: checking out #{n} at {}: {e}",
            pr.head_sha
        ))
    })?;

    let untrusted = (pr.from_fork() && !p.run_fork_code).then(|| {
        format!(
            "go test -cover not run: the pull request comes from {} (its code is untrusted); set reviewer.runForkCode: true to run it in an isolated sandbox Pod",
            pr.head_repo.as_deref().unwrap_or("a deleted fork")
        )
    });
    let (inline, off) = analyse(host, p, &files, &text, &root, untrusted, &mut out).await?;
    let earlier_comments = gh
        .review_comments(n)
        .await
        .map_err(|e| fail(format!("reviewer: {e}")))?;
    let earlier_bodies = gh
        .review_bodies(n)
        .await
        .map_err(|e| fail(format!("reviewer: {e}")))?;
    let earlier = review::Earlier {
        comments: &earlier_comments,
        bodies: &earlier_bodies,
    };
    let cap = p
        .max_inline_comments
        .map(|c| c.max(1) as usize)
        .unwrap_or(review::DEFAULT_MAX_COMMENTS);
    let plan = review::plan(inline, off, &earlier, cap, p.request_changes_at);
    let total = out.findings.len();
    match plan {
        None => {
            out.summary =
                format!("#{n}: {total} findings, none new since the last review; nothing posted");
        }
        Some(r) => {
            out.posted = r.comments.len();
            out.fixed = r.fixed.len();
            if p.auto_comment {
                let created = gh
                    .create_review(n, &pr.head_sha, r.event, &r.body, &r.comments)
                    .await
                    .map_err(|e| fail(format!("reviewer: {e}")))?;
                report(
                    host.action("pr_review", &created.html_url, Some(&pr.head_sha))
                        .await,
                )?;
                out.review_url = Some(created.html_url);
            }
            out.summary = format!(
                "#{n}: {total} findings; {} new inline comments, {} fixed since the last review{}",
                out.posted,
                out.fixed,
                if p.auto_comment {
                    ""
                } else {
                    " (not posted: autoComment is off)"
                }
            );
        }
    }
    Ok(out)
}

/// The findings of the selected sources on the checkout at `root` (the diff's head): all of
/// them into `out`, and those to post split into inline and off-diff ones. `untrusted`: why
/// the head's code must not run here (its tests are then skipped, with that note).
async fn analyse<H: Host + ?Sized>(
    host: &H,
    p: &ReviewerParams,
    files: &[diff::FileDiff],
    text: &str,
    root: &Path,
    untrusted: Option<String>,
    out: &mut Outcome,
) -> Result<(Vec<Finding>, Vec<Finding>), Failure> {
    let mut all: Vec<Finding> = Vec::new();
    if enabled(p, ReviewCheck::Lint) {
        all.extend(lint(root, files, &mut out.notes).await);
    }
    if enabled(p, ReviewCheck::I18n) {
        let locales: BTreeMap<String, String> = tree(root)
            .into_iter()
            .filter(|f| i18n::is_locale(f))
            .filter_map(|f| std::fs::read_to_string(root.join(&f)).ok().map(|t| (f, t)))
            .collect();
        all.extend(i18n::check(files, &locales));
    }
    if enabled(p, ReviewCheck::Tests) {
        all.extend(tests_check::check(files, &tree(root)));
        let pkgs = linters::touched_packages(files);
        if let (Some(why), false) = (&untrusted, pkgs.is_empty()) {
            out.notes.push(why.clone());
        } else if !pkgs.is_empty() && root.join("go.mod").exists() {
            // go vet runs separately (lint); its findings must not stop the coverage run.
            // The pull request's code runs where it reaches nothing (the host decides: in a
            // Pod, an isolated sandbox Pod).
            match super::sandbox::run_tests(host, root, &pkgs).await {
                Err(e) => out.notes.push(format!("go test -cover could not run: {e}")),
                Ok(Some((code, stdout))) => {
                    out.coverage = tests_check::parse_cover(&stdout);
                    if code != 0 {
                        out.notes.push(format!(
                            "go test -cover failed: {}",
                            stdout
                                .lines()
                                .filter(|l| l.starts_with("FAIL"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                }
                Ok(None) => out.notes.push("go test -cover: Go is not installed".into()),
            }
        }
    }
    if enabled(p, ReviewCheck::Security) {
        // The head's imports decide whether `rand.` is math/rand.
        let imports_math_rand = |path: &str| {
            std::fs::read_to_string(root.join(path))
                .is_ok_and(|t| t.contains("\"math/rand\"") || t.contains("\"math/rand/v2\""))
        };
        all.extend(security::check(files, &imports_math_rand));
    }
    if enabled(p, ReviewCheck::Llm) {
        report(host.progress("asking the LLM").await)?;
        let covered = all.iter().map(|f| (f.file.clone(), f.line)).collect();
        let conventions = std::fs::read_to_string(root.join(CONVENTIONS_FILE)).unwrap_or_default();
        let (found, notes) = super::llm::review(host, text, &conventions, &covered).await;
        all.extend(found);
        out.notes.extend(notes);
    }
    // Fingerprints from the head's text of each line.
    let mut cache: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &all {
        cache.entry(f.file.clone()).or_insert_with(|| {
            std::fs::read_to_string(root.join(&f.file))
                .map(|t| t.lines().map(str::to_string).collect())
                .unwrap_or_default()
        });
    }
    finding::fingerprint_all(&mut all, |path, line| {
        cache
            .get(path)
            .and_then(|l| l.get((line as usize).saturating_sub(1)))
            .cloned()
    });
    let all = finding::dedup(linters::prefer_errcheck(all));
    for f in &all {
        *out.by_severity
            .entry(format!("{:?}", f.severity).to_lowercase())
            .or_default() += 1;
        *out.by_category.entry(f.category.clone()).or_default() += 1;
    }
    let (inline, off) = finding::filter(all.clone(), files, p.filter_mode);
    out.findings = all;
    Ok((inline, off))
}

/// A review of `head` against `base` of the repository at `url` (no pull request, no GitHub):
/// the same checks on the same kind of diff (`base...head`), and the review printed into the
/// outcome instead of posted. The head's code runs here (`go test`): it is the user's own.
pub async fn run_local<H: Host + ?Sized>(
    host: &H,
    url: &str,
    base: &str,
    head: &str,
    p: &ReviewerParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    let opts = WorkspaceOptions {
        base_branch: base.to_string(),
        allowed_paths: AllowedPaths::new(&[]).map_err(|e| fail(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("reviewer"),
    };
    let (dir, url_owned, head_owned, base_owned) = (
        setup.workdir.clone(),
        url.to_string(),
        head.to_string(),
        base.to_string(),
    );
    let (root, text, head_sha) = tokio::task::spawn_blocking(move || {
        let ws = Workspace::clone(&url_owned, &dir, opts)?;
        let spec = format!("+refs/heads/{head_owned}:refs/remotes/origin/{head_owned}");
        let sha = ws.fetch_and_checkout(&[&spec], &format!("origin/{head_owned}"))?;
        let text = ws.unified_diff(&format!("origin/{base_owned}"), &sha)?;
        Ok::<_, crate::services::git::GitError>((ws.path(), text, sha))
    })
    .await
    .map_err(|e| fail(format!("reviewer: {e}")))?
    .map_err(|e| fail(format!("reviewer: {head} against {base}: {e}")))?;
    let files = diff::parse(&text).map_err(|e| fail(format!("reviewer: the diff: {e}")))?;
    let mut out = Outcome {
        head_sha,
        ..Default::default()
    };
    if files.is_empty() {
        out.summary = format!("{head} changes no files against {base}; nothing to review");
        return Ok(out);
    }
    host.progress(&format!(
        "reviewing {head} against {base}: {} files",
        files.len()
    ))
    .await
    .map_err(|e| Failure {
        message: e,
        transient: true,
    })?;
    let (inline, off) = analyse(host, p, &files, &text, &root, None, &mut out).await?;
    let cap = p
        .max_inline_comments
        .map(|c| c.max(1) as usize)
        .unwrap_or(review::DEFAULT_MAX_COMMENTS);
    let earlier = review::Earlier {
        comments: &[],
        bodies: &[],
    };
    let total = out.findings.len();
    if let Some(r) = review::plan(inline, off, &earlier, cap, p.request_changes_at) {
        out.posted = r.comments.len();
        out.review = Some(PrintedReview {
            event: r.event,
            body: r.body,
            comments: r.comments,
        });
    }
    out.summary = format!(
        "{head} against {base}: {total} findings; {} inline comments (printed, not posted)",
        out.posted
    );
    Ok(out)
}
