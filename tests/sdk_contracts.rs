//! Contract tests (issue 23): the test doubles and the clients checked against what the real
//! services publish — the official Anthropic and OpenAI Python SDKs parse every answer of the
//! provider double, the official Notion client (`notion-client` on PyPI) works against the
//! Notion double, and every request of the GitHub client and every answer of the GitHub double
//! conforms to GitHub's OpenAPI description (npm `@octokit/openapi`). The packages are pinned
//! and installed by `e2e/install-deps.sh` into the cache.

use std::path::PathBuf;
use std::process::Command;

use devagents::services::github::{
    CheckOutput, CheckRun, GitHub, InlineComment, Published, ReviewEvent,
};
use devagents::testing::github_double::{GitHubDouble, PullFixture, files_of_diff};
use devagents::testing::llm_doubles::{ProviderDouble, Reply};
use devagents::testing::saas_doubles::NotionDouble;

fn cache() -> PathBuf {
    PathBuf::from(
        std::env::var("DEVAGENTS_CACHE")
            .unwrap_or_else(|_| format!("{}/.cache/devagents", std::env::var("HOME").unwrap())),
    )
}

/// Run a contract script with the virtualenv's Python; its output, or a panic with it.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(cache().join("venv/bin/python"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contracts/").to_string() + script)
        .args(args)
        .output()
        .expect("the virtualenv of e2e/install-deps.sh");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{script} failed:\n{o}\n{e}");
    eprintln!("{e}");
    o
}

/// [`python`] off the runtime's thread, so the doubles keep serving meanwhile.
async fn python_async(script: &'static str, args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python(script, &args)
    })
    .await
    .unwrap()
}

fn diff(files: usize) -> String {
    (0..files)
        .map(|i| format!("diff --git a/pkg/f{i:03}.go b/pkg/f{i:03}.go\n--- a/pkg/f{i:03}.go\n+++ b/pkg/f{i:03}.go\n@@ -1,2 +1,2 @@\n package pkg\n-var a = 1\n+var a = 2\n"))
        .collect()
}

#[tokio::test]
async fn github_client_and_double_follow_githubs_openapi_description() {
    let sha = "a".repeat(40);
    let pr = |files: usize| PullFixture {
        title: "Add Department".into(),
        body: "body".into(),
        head_ref: "feature".into(),
        head_sha: sha.clone(),
        base_ref: "main".into(),
        base_sha: "b".repeat(40),
        diff: diff(files),
        ..Default::default()
    };
    let gh = GitHubDouble::start("ghp_contract").await.unwrap();
    gh.add_pull("acme/core", 1, pr(3));
    let mut big = pr(301);
    big.files = files_of_diff(&big.diff);
    gh.add_pull("acme/core", 2, big);
    let c = GitHub::new(&gh.url, "ghp_contract", "acme", "core").unwrap();
    c.pull(1).await.unwrap();
    c.pull_diff(1).await.unwrap();
    assert!(c.pull_changes(2).await.unwrap().from_files);
    c.create_review(
        1,
        &sha,
        ReviewEvent::RequestChanges,
        "1 finding",
        &[InlineComment::new("pkg/f000.go", 2, "a finding")],
    )
    .await
    .unwrap();
    c.review_comments(1).await.unwrap();
    c.review_bodies(1).await.unwrap();
    c.comment(1, "summary").await.unwrap();
    c.create_pull("feat: x", "agents/generator/x", "main", "body")
        .await
        .unwrap();
    let check = CheckRun {
        name: "devagents/reviewer".into(),
        head_sha: sha.clone(),
        status: "completed".into(),
        conclusion: Some("failure".into()),
        output: CheckOutput {
            title: "1 finding".into(),
            summary: "see the review".into(),
        },
    };
    assert!(matches!(
        c.publish_check(&check).await.unwrap(),
        Published::CommitStatus { .. }
    ));
    let app = GitHubDouble::start("ghs_contract").await.unwrap();
    let a = GitHub::new(&app.url, "ghs_contract", "acme", "core").unwrap();
    assert!(matches!(
        a.publish_check(&check).await.unwrap(),
        Published::CheckRun(_)
    ));
    app.with(|s| {
        s.failures
            .push_back(devagents::testing::github_double::Failure::after_write(
                502, "POST",
            ))
    });
    a.create_check_run(&check).await.unwrap();

    let mut exchanges = gh.with(|s| s.exchanges.clone());
    exchanges.extend(app.with(|s| s.exchanges.clone()));
    let file = std::env::temp_dir().join(format!("github-exchanges-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&exchanges).unwrap()).unwrap();
    let description =
        cache().join("npm/node_modules/@octokit/openapi/generated/api.github.com.deref.json");
    python(
        "github_openapi.py",
        &[description.to_str().unwrap(), file.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn the_anthropic_sdk_parses_every_answer_of_the_provider_double() {
    let d = ProviderDouble::start(
        "sk-ant-test",
        vec![
            Reply::Text("Department has a name.".into()),
            Reply::Text("Department has a name.".into()),
            Reply::Text("streamed answer text".into()),
            Reply::Text("word ".repeat(100)),
            Reply::Error {
                status: 429,
                kind: "rate_limit_error".into(),
                retry_after: Some(3),
            },
            Reply::StreamError {
                text: "partial".into(),
                kind: "overloaded_error".into(),
            },
            Reply::Refusal("I can't help with that.".into()),
        ],
    )
    .await
    .unwrap();
    let out = python_async(
        "sdk_check.py",
        vec!["anthropic".into(), d.url.clone(), "sk-ant-test".into()],
    )
    .await;
    assert_eq!(out.trim(), "ok");
    assert_eq!(d.received().len(), 7);
}

#[tokio::test]
async fn the_openai_sdk_parses_every_answer_of_the_provider_double() {
    let d = ProviderDouble::start(
        "sk-test",
        vec![
            Reply::Text("ok answer".into()),
            Reply::Text("streamed words here".into()),
            Reply::Text("word ".repeat(100)),
            Reply::Refusal("I can't help with that.".into()),
            Reply::Error {
                status: 429,
                kind: "rate_limit_error".into(),
                retry_after: None,
            },
        ],
    )
    .await
    .unwrap();
    let out = python_async(
        "sdk_check.py",
        vec!["openai".into(), d.url.clone(), "sk-test".into()],
    )
    .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test]
async fn the_official_notion_client_works_against_the_notion_double() {
    let d = NotionDouble::start("secret_contract").await.unwrap();
    d.with(|s| s.database("tasks", &[("tasks-source", "Tasks")]));
    // The last update meets a rate limit first (the SDK waits out retry-after).
    let task = tokio::spawn(python_async(
        "sdk_check.py",
        vec!["notion".into(), d.url.clone(), "secret_contract".into()],
    ));
    // Arm the 429 once the first update went through.
    loop {
        if d.with(|s| s.updates.len()) >= 1 {
            d.with(|s| s.failures.push_back((429, Some(1))));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(task.await.unwrap().trim(), "ok");
    d.with(|s| {
        assert_eq!(s.pages.len(), 1);
        assert_eq!(s.pages[0].1["parent"]["data_source_id"], "tasks-source");
        assert_eq!(s.updates.len(), 2);
        assert!(
            s.requests.iter().all(|(_, _, v)| v == "2025-09-03"),
            "{:?}",
            s.requests
        );
    });
}
