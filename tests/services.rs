//! The agents' shared services against real and stand-in peers: the git workspace against a
//! real git server on loopback (`git http-backend` with Basic auth, real bare repositories),
//! and the GitHub, Slack and Notion clients against local TEST DOUBLES of those services.

use std::path::Path;
use std::time::Duration;

use devagents::llm::retry::RetryPolicy;
use devagents::services::git::{
    AllowedPaths, Credentials, GitError, Identity, Workspace, WorkspaceOptions,
};
use devagents::services::github::{
    CheckOutput, CheckRun, GitHub, GitHubError, InlineComment, Published, ReviewEvent,
    rate_limit_wait,
};
use devagents::services::notion::{self, Notion};
use devagents::services::slack::{Message, Slack};
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::{GitHubDouble, PullFixture};
use devagents::testing::saas_doubles::{NotionDouble, SlackDouble};
use serde_json::json;

const TOKEN: &str = "s3cret-git-token";

fn options(creds: Option<Credentials>) -> WorkspaceOptions {
    WorkspaceOptions {
        base_branch: "main".into(),
        allowed_paths: AllowedPaths::new(&["rpc/**".to_string(), "api/**".to_string()]).unwrap(),
        credentials: creds,
        identity: Identity::agent("generator"),
    }
}

fn creds() -> Option<Credentials> {
    Some(Credentials {
        username: "x-access-token".into(),
        token: TOKEN.into(),
    })
}

fn remote_ref(bare: &Path, r: &str) -> Option<String> {
    git(bare, &["rev-parse", "--verify", "-q", r]).ok()
}

// The git calls block; the server they talk to runs on the other worker thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_workspace_refuses_the_base_branch_and_paths_outside_allowed_paths() {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repo_with(
        root.path(),
        "acme/core",
        "main",
        &[
            ("README.md", "# core\n"),
            ("rpc/a.go", "package rpc\n"),
            ("Makefile", "all:\n"),
        ],
    )
    .unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let url = server.url("acme/core");
    let main_before = remote_ref(&bare, "refs/heads/main").unwrap();

    let work = tempfile::tempdir().unwrap();
    let (url2, dir, main2) = (url.clone(), work.path().to_path_buf(), main_before.clone());
    tokio::task::spawn_blocking(move || {
        // No credentials: a clear error, not a prompt or a hang.
        let e = Workspace::clone(&url2, &dir.join("anon"), options(None))
            .err()
            .expect("anonymous clone must fail");
        assert!(e.to_string().contains("credentialsSecret"), "{e}");
        // Wrong credentials.
        let wrong = Some(Credentials {
            username: "x".into(),
            token: "nope".into(),
        });
        let e = Workspace::clone(&url2, &dir.join("wrong"), options(wrong))
            .err()
            .expect("wrong token must fail");
        assert!(
            e.to_string()
                .contains("rejected the repository credentials"),
            "{e}"
        );

        let ws = Workspace::clone(&url2, &dir.join("ws"), options(creds())).unwrap();
        assert_eq!(ws.head_sha().unwrap(), main2);

        // The base branch: never a branch of the agent's, never pushed.
        assert!(matches!(
            ws.create_branch("main"),
            Err(GitError::BaseBranch(_))
        ));
        let e = ws.push("main").unwrap_err();
        assert!(matches!(e, GitError::BaseBranch(_)));
        assert!(
            e.to_string()
                .contains("refusing to push to the base branch \"main\""),
            "{e}"
        );

        // A normal branch push works.
        ws.create_branch("agents/generator/department-1a2b")
            .unwrap();
        std::fs::create_dir_all(ws.path().join("rpc/ent/schema")).unwrap();
        std::fs::write(
            ws.path().join("rpc/ent/schema/department.go"),
            "package schema\n",
        )
        .unwrap();
        std::fs::create_dir_all(ws.path().join("api")).unwrap();
        std::fs::write(ws.path().join("api/x.api"), "syntax = \"v1\"\n").unwrap();
        let sha = ws.commit_all("feat: Department module").unwrap();
        ws.push("agents/generator/department-1a2b").unwrap();
        sha
    })
    .await
    .map(|sha| {
        assert_eq!(
            remote_ref(&bare, "refs/heads/agents/generator/department-1a2b").as_deref(),
            Some(sha.as_str()),
            "the branch reached the server"
        );
        let author = git(&bare, &["log", "-1", "--format=%an <%ae>", &sha]).unwrap();
        assert_eq!(
            author,
            "devagents generator <generator@agents.devagents.io>"
        );
        let files = git(&bare, &["show", "--name-only", "--format=", &sha]).unwrap();
        assert_eq!(files, "api/x.api\nrpc/ent/schema/department.go");
    })
    .unwrap();

    // A change outside allowedPaths: refused at commit time, nothing committed.
    let dir = work.path().join("ws");
    let ws = Workspace::open(&dir, options(creds())).unwrap();
    let head = ws.head_sha().unwrap();
    std::fs::write(dir.join("Makefile"), "all:\n\techo changed\n").unwrap();
    std::fs::write(dir.join("rpc/b.go"), "package rpc\n").unwrap();
    let e = ws.commit_all("touch the Makefile").unwrap_err();
    assert!(
        matches!(&e, GitError::OutsideAllowedPaths { paths, .. } if paths == &vec!["Makefile".to_string()]),
        "{e}"
    );
    assert!(
        e.to_string().contains(
            "refusing changes outside repository.allowedPaths [rpc/**, api/**]: Makefile"
        ),
        "{e}"
    );
    assert_eq!(ws.head_sha().unwrap(), head, "nothing was committed");

    // Committed behind the workspace's back (plain git): the push still refuses it.
    git(&dir, &["add", "-A"]).unwrap();
    git(&dir, &["commit", "-q", "-m", "sneak"]).unwrap();
    let e = ws.push("agents/generator/department-1a2b").unwrap_err();
    assert!(matches!(e, GitError::OutsideAllowedPaths { .. }), "{e}");
    assert_eq!(
        remote_ref(&bare, "refs/heads/agents/generator/department-1a2b").as_deref(),
        Some(head.as_str()),
        "the remote branch did not move"
    );
    assert_eq!(
        remote_ref(&bare, "refs/heads/main").unwrap(),
        main_before,
        "main never moved"
    );

    // The remote's own refusal (a non-fast-forward) is reported, not swallowed.
    git(&dir, &["reset", "-q", "--hard", &main_before]).unwrap();
    std::fs::write(dir.join("rpc/c.go"), "package rpc\n").unwrap();
    ws.commit_all("diverge").unwrap();
    let e = ws.push("agents/generator/department-1a2b").unwrap_err();
    assert!(e.to_string().contains("department-1a2b"), "{e}");
}

fn diff_fixture() -> String {
    [
        "diff --git a/rpc/a.go b/rpc/a.go",
        "index 1111111..2222222 100644",
        "--- a/rpc/a.go",
        "+++ b/rpc/a.go",
        "@@ -1,3 +1,4 @@",
        " package rpc",
        " ",
        "+var password = \"hunter2\"",
        " func A() {}",
        "diff --git a/api/new.api b/api/new.api",
        "new file mode 100644",
        "index 0000000..3333333",
        "--- /dev/null",
        "+++ b/api/new.api",
        "@@ -0,0 +1,2 @@",
        "+syntax = \"v1\"",
        "+type X {}",
        "",
    ]
    .join("\n")
}

#[tokio::test]
async fn github_client_against_the_rest_test_double() {
    let gh = GitHubDouble::start("ghp_testtoken").await.unwrap();
    gh.add_pull(
        "acme/core",
        7,
        PullFixture {
            title: "Add Department".into(),
            body: "body".into(),
            head_ref: "feature".into(),
            head_sha: "a".repeat(40),
            base_ref: "main".into(),
            base_sha: "b".repeat(40),
            diff: diff_fixture(),
            files: vec![],
            fork: None,
            merged: false,
        },
    );
    let many: Vec<_> = (0..250)
        .map(|i| json!({"sha": "0", "filename": format!("pkg/f{i:03}.go"), "status": "modified", "additions": 1,
                        "deletions": 0, "changes": 1, "blob_url": "https://x/b", "raw_url": "https://x/r",
                        "contents_url": "https://x/c", "patch": "@@ -1 +1 @@\n-a\n+b"}))
        .collect();
    gh.add_pull(
        "acme/core",
        8,
        PullFixture {
            files: many,
            head_sha: "c".repeat(40),
            ..Default::default()
        },
    );

    let client = GitHub::new(&gh.url, "ghp_testtoken", "acme", "core").unwrap();
    let pr = client.pull(7).await.unwrap();
    assert_eq!(
        (
            pr.number,
            pr.title.as_str(),
            pr.head_ref.as_str(),
            pr.base_ref.as_str()
        ),
        (7, "Add Department", "feature", "main")
    );
    assert_eq!(pr.head_sha, "a".repeat(40));
    // Head and base repositories, as GitHub sends them: not a fork.
    assert_eq!(pr.head_repo.as_deref(), Some("acme/core"));
    assert!(!pr.from_fork());
    gh.mark_fork("acme/core", 7, "mallory/core");
    let forked = client.pull(7).await.unwrap();
    assert_eq!(
        (forked.head_repo.as_deref(), forked.base_repo.as_deref()),
        (Some("mallory/core"), Some("acme/core"))
    );
    assert!(forked.from_fork());

    // The diff media type.
    assert_eq!(client.pull_diff(7).await.unwrap(), diff_fixture());
    assert!(gh.with(|s| {
        s.requests
            .iter()
            .any(|r| r.starts_with("GET /repos/acme/core/pulls/7 ") && r.contains("diff"))
    }));

    let files = client.pull_files(7).await.unwrap();
    assert_eq!(
        files
            .iter()
            .map(|f| (f.filename.as_str(), f.status.as_str()))
            .collect::<Vec<_>>(),
        vec![("rpc/a.go", "modified"), ("api/new.api", "added")]
    );
    assert_eq!(files[1].additions, 2);

    // Pagination: 250 files, 100 per page, three requests following Link rel="next".
    let before = gh.with(|s| s.requests.len());
    let files = client.pull_files(8).await.unwrap();
    assert_eq!(files.len(), 250);
    assert_eq!(files[249].filename, "pkg/f249.go");
    let pages = gh.with(|s| {
        s.requests[before..]
            .iter()
            .filter(|r| r.contains("/pulls/8/files"))
            .count()
    });
    assert_eq!(pages, 3);

    // A review with inline comments on diff lines.
    let review = client
        .create_review(
            7,
            &pr.head_sha,
            ReviewEvent::RequestChanges,
            "2 findings",
            &[
                InlineComment::new("rpc/a.go", 3, "hard-coded credential"),
                InlineComment::new("api/new.api", 2, "empty type"),
            ],
        )
        .await
        .unwrap();
    assert!(
        review.html_url.contains("pullrequestreview-"),
        "{}",
        review.html_url
    );
    let posted = gh.with(|s| s.reviews[0].2.clone());
    assert_eq!(posted["event"], "REQUEST_CHANGES");
    assert_eq!(
        posted["comments"][0],
        json!({"path": "rpc/a.go", "line": 3, "side": "RIGHT", "body": "hard-coded credential"})
    );
    let existing = client.review_comments(7).await.unwrap();
    assert_eq!(existing.len(), 2);
    assert_eq!(
        (existing[0].path.as_str(), existing[0].line),
        ("rpc/a.go", Some(3))
    );

    // A comment on a line outside the diff: GitHub's 422, reported clearly.
    let e = client
        .create_review(
            7,
            &pr.head_sha,
            ReviewEvent::Comment,
            "x",
            &[InlineComment::new("rpc/a.go", 40, "far away")],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, GitHubError::Api { status: 422, .. }), "{e}");
    assert!(e.to_string().contains("must be part of the diff"), "{e}");

    // Issue comment, check run, a new pull request.
    let c = client.comment(7, "summary").await.unwrap();
    assert!(c.html_url.contains("issuecomment-"));
    // Issue 23, point 9: a personal token cannot create check runs (GitHub Apps only); the
    // check becomes a commit status of the same name.
    let check = CheckRun {
        name: "devagents/reviewer".into(),
        head_sha: pr.head_sha.clone(),
        status: "completed".into(),
        conclusion: Some("neutral".into()),
        output: CheckOutput {
            title: "2 findings".into(),
            summary: "…".into(),
        },
    };
    let e = client.create_check_run(&check).await.unwrap_err();
    assert!(
        matches!(e, GitHubError::Api { status: 403, .. }) && e.to_string().contains("GitHub App"),
        "{e}"
    );
    match client.publish_check(&check).await.unwrap() {
        Published::CommitStatus { context, .. } => assert_eq!(context, "devagents/reviewer"),
        other => panic!("a personal token's check is a commit status: {other:?}"),
    }
    gh.with(|s| {
        assert!(s.check_runs.is_empty());
        assert_eq!(s.statuses[0].1, pr.head_sha);
        assert_eq!(s.statuses[0].2["state"], "success");
        assert_eq!(s.statuses[0].2["context"], "devagents/reviewer");
    });
    // With a GitHub App's installation token it is a check run.
    let app = GitHubDouble::start("ghs_installationtoken").await.unwrap();
    let app_client = GitHub::new(&app.url, "ghs_installationtoken", "acme", "core").unwrap();
    match app_client.publish_check(&check).await.unwrap() {
        Published::CheckRun(run) => assert!(run.id > 0),
        other => panic!("{other:?}"),
    }
    let new_pr = client
        .create_pull(
            "feat: Department",
            "agents/generator/department-1a2b",
            "main",
            "files…",
        )
        .await
        .unwrap();
    assert_eq!(
        (new_pr.number, new_pr.head_ref.as_str()),
        (9, "agents/generator/department-1a2b")
    );

    // Missing PR and bad credentials.
    let e = client.pull(404).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(
        e.to_string(),
        "GitHub: pull request #404 of acme/core not found (404)"
    );
    let bad = GitHub::new(&gh.url, "ghp_wrong", "acme", "core").unwrap();
    let e = bad.pull(7).await.unwrap_err();
    assert!(
        matches!(e, GitHubError::Api { status: 401, .. })
            && e.to_string().contains("Bad credentials"),
        "{e}"
    );
}

/// A GitHub client that does not wait long between attempts.
fn github(url: &str) -> GitHub {
    let mut c = GitHub::new(url, "ghp_testtoken", "acme", "core").unwrap();
    c.retry.base = Duration::from_millis(10);
    c.retry.max_wait = Duration::from_secs(5);
    c.retry.secondary_wait = Duration::from_secs(1);
    c
}

fn pull_of(files: usize, head_sha: &str) -> PullFixture {
    let mut diff = String::new();
    for i in 0..files {
        diff.push_str(&format!(
            "diff --git a/pkg/f{i:03}.go b/pkg/f{i:03}.go\n--- a/pkg/f{i:03}.go\n+++ b/pkg/f{i:03}.go\n@@ -1 +1 @@\n-a\n+b\n"
        ));
    }
    PullFixture {
        title: "Big".into(),
        head_ref: "big".into(),
        head_sha: head_sha.into(),
        base_ref: "main".into(),
        base_sha: "b".repeat(40),
        diff,
        ..Default::default()
    }
}

/// Issue 23, point 1: past 300 files GitHub refuses the diff (406 `too_large`); the client
/// puts the diff together from the files API's patches and names the files without one.
#[tokio::test]
async fn a_pull_request_past_the_diff_limits_is_read_through_its_files() {
    let gh = GitHubDouble::start("ghp_testtoken").await.unwrap();
    let mut big = pull_of(301, &"d".repeat(40));
    big.files = devagents::testing::github_double::files_of_diff(&big.diff);
    // GitHub omits the patch of a file too large to show.
    big.files[7].as_object_mut().unwrap().remove("patch");
    gh.add_pull("acme/core", 1, big);
    gh.add_pull("acme/core", 2, pull_of(3, &"e".repeat(40)));
    let c = github(&gh.url);
    let e = c.pull_diff(1).await.unwrap_err();
    assert!(
        matches!(e, GitHubError::Api { status: 406, .. }) && e.to_string().contains("too_large"),
        "{e}"
    );
    let changes = c.pull_changes(1).await.unwrap();
    assert!(changes.from_files);
    assert_eq!(changes.files, 301);
    assert_eq!(changes.without_patch, vec!["pkg/f007.go".to_string()]);
    assert_eq!(changes.diff.matches("diff --git").count(), 301);
    assert_eq!(changes.diff.matches("@@ -1 +1 @@").count(), 300);
    assert!(
        changes
            .diff
            .contains("--- a/pkg/f300.go\n+++ b/pkg/f300.go\n@@ -1 +1 @@\n-a\n+b\n")
    );
    // A small one comes as GitHub's own diff.
    let small = c.pull_changes(2).await.unwrap();
    assert!(!small.from_files && small.without_patch.is_empty());
}

/// Issue 23, point 2: GitHub's rate limits are waited out as GitHub documents — until
/// `x-ratelimit-reset` (primary), `retry-after` (secondary, 429) — and a wait longer than the
/// client's limit is an error at once; a 403 that is no rate limit is not retried.
#[tokio::test]
async fn github_rate_limits_are_waited_out_as_documented() {
    use devagents::testing::github_double::Failure;
    let gh = GitHubDouble::start("ghp_testtoken").await.unwrap();
    gh.add_pull("acme/core", 1, pull_of(1, &"d".repeat(40)));
    let c = github(&gh.url);
    for (f, at_least) in [
        (Failure::primary(2), Duration::from_secs(1)),
        (Failure::secondary(Some(1)), Duration::from_secs(1)),
        (Failure::too_many(1), Duration::from_secs(1)),
        // No retry-after: the client's secondary wait (a minute by default; 1 s here).
        (Failure::secondary(None), Duration::from_secs(1)),
    ] {
        let what = format!("{} {:?}", f.status, f.headers);
        gh.with(|s| s.failures.push_back(f));
        let t0 = std::time::Instant::now();
        c.pull(1).await.unwrap();
        assert!(
            t0.elapsed() >= at_least,
            "{what}: waited {:?}",
            t0.elapsed()
        );
    }
    // A reset an hour away: not sat out.
    gh.with(|s| s.failures.push_back(Failure::primary(3600)));
    let t0 = std::time::Instant::now();
    let e = c.pull(1).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(
        e.to_string().contains("rate limit") && e.to_string().contains("wait"),
        "{e}"
    );
    // A POST refused by a rate limit was not carried out: sent again after the wait.
    gh.with(|s| s.failures.push_back(Failure::secondary(Some(1))));
    c.comment(1, "after the wait").await.unwrap();
    gh.with(|s| assert_eq!(s.issue_comments.len(), 1));
    // A 5xx on a read: sent again.
    gh.with(|s| s.failures.push_back(Failure::after_write(502, "GET")));
    c.pull(1).await.unwrap();
    // The unit rule behind it.
    let h = |pairs: &[(&str, &str)]| {
        let mut m = http::HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    };
    let sixty = Duration::from_secs(60);
    assert_eq!(
        rate_limit_wait(
            403,
            &h(&[]),
            "Resource not accessible by integration",
            0,
            sixty
        ),
        None
    );
    assert_eq!(
        rate_limit_wait(500, &h(&[("retry-after", "5")]), "", 0, sixty),
        None
    );
    assert_eq!(
        rate_limit_wait(
            403,
            &h(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1030")
            ]),
            "",
            1000,
            sixty
        ),
        Some(Duration::from_secs(30))
    );
    assert_eq!(rate_limit_wait(429, &h(&[]), "", 0, sixty), Some(sixty));
}

/// Issue 23, point 2: a write that GitHub carried out but answered with a 5xx is not sent
/// again: the client looks (reviews with the same body, comments, open pull requests of the
/// head) and returns what it finds — one review, one comment, one pull request.
#[tokio::test]
async fn a_write_answered_with_a_5xx_is_looked_for_not_sent_twice() {
    use devagents::testing::github_double::Failure;
    let gh = GitHubDouble::start("ghp_testtoken").await.unwrap();
    gh.add_pull("acme/core", 1, pull_of(2, &"d".repeat(40)));
    let c = github(&gh.url);
    gh.with(|s| s.failures.push_back(Failure::after_write(502, "POST")));
    let r = c
        .create_review(
            1,
            &"d".repeat(40),
            ReviewEvent::Comment,
            "<!-- devagents:reviewer --> 1 finding",
            &[InlineComment::new("pkg/f000.go", 1, "x")],
        )
        .await
        .unwrap();
    assert!(r.html_url.contains("pullrequestreview-"), "{}", r.html_url);
    gh.with(|s| assert_eq!(s.reviews.len(), 1, "the review was posted twice"));

    gh.with(|s| s.failures.push_back(Failure::after_write(500, "POST")));
    c.comment(1, "summary of the run").await.unwrap();
    gh.with(|s| assert_eq!(s.issue_comments.len(), 1, "the comment was posted twice"));

    gh.with(|s| s.failures.push_back(Failure::after_write(503, "POST")));
    let p = c
        .create_pull("feat: x", "agents/generator/x", "main", "body")
        .await
        .unwrap();
    assert_eq!(p.head_ref, "agents/generator/x");
    gh.with(|s| {
        assert_eq!(
            s.pulls
                .values()
                .filter(|p| p.head_ref == "agents/generator/x")
                .count(),
            1,
            "the pull request was opened twice"
        )
    });
    // Not carried out (a 5xx before the write): looked for, not found, sent again.
    gh.with(|s| {
        s.failures.push_back(Failure {
            after: false,
            ..Failure::after_write(502, "POST")
        })
    });
    c.comment(1, "second").await.unwrap();
    gh.with(|s| assert_eq!(s.issue_comments.len(), 2));
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(20),
        cap: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn slack_webhook_retries_rate_limits_and_reports_errors() {
    let d = SlackDouble::start().await.unwrap();
    d.with(|s| s.failures.extend([(429, Some(1))]));
    let mut slack = Slack::new(&d.webhook_url());
    slack.retry = quick_retries();
    let msg = |s: &str| Message {
        summary: s.into(),
        details: vec!["api ok".into()],
        link: None,
    };
    let t0 = std::time::Instant::now();
    slack
        .post(&msg("Deployed v1.7.2 to staging"))
        .await
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "retry-after was not honoured"
    );
    d.with(|s| {
        assert_eq!(s.attempts, 2);
        assert_eq!(s.messages.len(), 1);
        assert_eq!(s.messages[0]["text"], "Deployed v1.7.2 to staging");
    });
    // Issue 23, point 6: a 503 after Slack posted the message is not sent again (it would be
    // posted twice); the error says why.
    d.with(|s| s.failures.extend([(503, None)]));
    let e = slack.post(&msg("Deployed v1.7.3")).await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    assert!(e.to_string().contains("not sent again"), "{e}");
    d.with(|s| {
        assert_eq!(s.attempts, 3, "the post was sent again after a 5xx");
        assert_eq!(s.messages.len(), 2);
    });
    // A wrong webhook (404 no_service) is not retried and says so.
    let mut wrong = Slack::new(&format!("{}/services/T0/B0", d.url));
    wrong.retry = quick_retries();
    let e = wrong
        .post(&Message {
            summary: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
}

/// Issue 23, point 6: Notion's documented waits are honoured up to a minute.
#[test]
fn saas_clients_honour_a_retry_after_of_a_minute() {
    let p = devagents::services::http::saas_retry();
    assert_eq!(p.delay(1, Some("60"), 0.5), Duration::from_secs(60));
    assert_eq!(p.delay(1, Some("600"), 0.5), Duration::from_secs(60));
}

/// Issue 23, point 6: after a 5xx, a page creation and a block append (which add something
/// each time) are not sent again — the double carried them out before failing — while reads
/// and property updates are.
#[tokio::test]
async fn notion_does_not_send_a_page_or_an_append_twice() {
    let d = NotionDouble::start("secret_notion").await.unwrap();
    let mut n = Notion::new(&d.url, "secret_notion");
    n.retry = quick_retries();
    d.with(|s| s.failures.push_back((502, None)));
    let e = n.create_page("parent", "API", &[]).await.unwrap_err();
    assert!(
        e.to_string().contains("502") && e.to_string().contains("not sent again"),
        "{e}"
    );
    d.with(|s| assert_eq!(s.pages.len(), 1, "the page was created twice"));
    let page = d.with(|s| s.pages[0].0.clone());
    d.with(|s| s.failures.push_back((500, None)));
    assert!(
        n.append_blocks(&page, &[notion::paragraph("x")])
            .await
            .is_err()
    );
    d.with(|s| assert_eq!(s.appended.len(), 1, "the blocks were appended twice"));
    // A rate limit is refused before anything happens: sent again, once carried out.
    d.with(|s| s.failures.push_back((429, Some(0))));
    n.append_blocks(&page, &[notion::paragraph("y")])
        .await
        .unwrap();
    d.with(|s| assert_eq!(s.appended.len(), 2));
    // A property update sets a state: sent again after a 5xx.
    d.with(|s| s.failures.push_back((503, None)));
    n.update_page(&page, json!({"Status": {"select": {"name": "Done"}}}))
        .await
        .unwrap();
    d.with(|s| assert_eq!(s.updates.len(), 2));
}

/// Issue 23, points 7 and 10: Notion 2025-09-03 — rows go to a database's data source and are
/// queried through it; a database of several data sources needs the data source named (the
/// error lists them); a text longer than 100 rich-text objects becomes several blocks.
#[tokio::test]
async fn notion_data_sources_and_long_rich_text() {
    let d = NotionDouble::start("secret_notion").await.unwrap();
    let mut n = Notion::new(&d.url, "secret_notion");
    n.retry = quick_retries();
    d.with(|s| {
        s.database("tasks", &[("tasks-ds", "Tasks")]);
        s.database("multi", &[("multi-a", "Backlog"), ("multi-b", "Archive")]);
        s.rows.insert(
            "multi-b".into(),
            vec![json!({"object": "page", "id": "old-1", "url": "u"})],
        );
    });
    n.create_row(
        "tasks",
        json!({"Name": notion::title_property("T001")}),
        &[],
    )
    .await
    .unwrap();
    let e = n
        .create_row(
            "multi",
            json!({"Name": notion::title_property("T002")}),
            &[],
        )
        .await
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("2 data sources") && m.contains("Backlog (multi-a)"),
        "{m}"
    );
    n.create_row(
        "multi-a",
        json!({"Name": notion::title_property("T002")}),
        &[],
    )
    .await
    .unwrap();
    let rows = n.query_database("multi-b", None).await.unwrap();
    assert_eq!(rows[0].id, "old-1");
    d.with(|s| {
        assert_eq!(s.pages[0].1["parent"]["data_source_id"], "tasks-ds");
        assert_eq!(s.pages[1].1["parent"]["data_source_id"], "multi-a");
        assert!(s.requests.iter().all(|(_, _, v)| v == "2025-09-03"));
        assert!(
            s.requests
                .iter()
                .any(|(m, p, _)| m == "POST" && p == "/v1/data_sources/multi-b/query")
        );
    });
    // 250 rich-text objects (500,000 characters): three blocks, none over 100 objects.
    let long = notion::code(&"x".repeat(500_000), "go");
    let page = n.create_page("parent", "Long", &[long]).await.unwrap();
    d.with(|s| {
        let (_, body) = s.pages.iter().find(|(id, _)| *id == page.id).unwrap();
        let blocks = body["children"].as_array().unwrap();
        let sizes: Vec<usize> = blocks
            .iter()
            .map(|b| b["code"]["rich_text"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    });
    // A property cannot be split: cut at 100 objects, and the double accepts it.
    let title = notion::title_property(&"t".repeat(300_000));
    assert_eq!(title["title"].as_array().unwrap().len(), 100);
    n.create_page("parent", &"t".repeat(300_000), &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn notion_pages_rows_blocks_and_queries_respect_the_api_limits() {
    let d = NotionDouble::start("secret_notion").await.unwrap();
    d.with(|s| s.database("db-1", &[("db-1-source", "Tasks")]));
    let mut n = Notion::new(&d.url, "secret_notion");
    n.retry = quick_retries();
    let blocks: Vec<_> = (0..150)
        .map(|i| notion::bullet(&format!("task {i}")))
        .collect();
    let mut with_long = blocks.clone();
    with_long.push(notion::code(&"x".repeat(5000), "go"));
    let page = n
        .create_page("parent-page", "Department API", &with_long)
        .await
        .unwrap();
    assert!(page.url.starts_with("https://www.notion.so/"));
    d.with(|s| {
        assert_eq!(s.pages.len(), 1);
        assert_eq!(s.pages[0].1["children"].as_array().unwrap().len(), 100);
        assert_eq!(
            s.pages[0].1["properties"]["title"]["title"][0]["text"]["content"],
            "Department API"
        );
        assert_eq!(s.appended.len(), 1);
        assert_eq!(s.appended[0].0, page.id);
        assert_eq!(s.appended[0].1.len(), 51);
    });

    let row = n
        .create_row("db-1", json!({"Name": notion::title_property("Implement Department"), "Status": {"select": {"name": "Todo"}}}), &[])
        .await
        .unwrap();
    n.update_page(&row.id, json!({"Status": {"select": {"name": "Done"}}}))
        .await
        .unwrap();
    d.with(|s| {
        assert_eq!(s.pages[1].1["parent"]["data_source_id"], "db-1-source");
        assert_eq!(s.updates[0].1["Status"]["select"]["name"], "Done");
        s.database("db-2", &[("db-2-source", "Rows")]);
        s.rows.insert(
            "db-2-source".into(),
            (0..130)
                .map(|i| json!({"object": "page", "id": format!("row-{i}"), "url": "u"}))
                .collect(),
        );
    });
    let rows = n
        .query_database(
            "db-2",
            Some(json!({"property": "Status", "select": {"equals": "Todo"}})),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 130);
    assert_eq!(rows[129].id, "row-129");

    let bad = Notion::new(&d.url, "wrong");
    let e = bad.create_page("p", "t", &[]).await.unwrap_err();
    assert!(
        e.to_string().contains("401") && e.to_string().contains("API token is invalid"),
        "{e}"
    );
    let e = n.update_page("missing", json!({})).await.unwrap_err();
    assert!(e.to_string().contains("object_not_found"), "{e}");
}
