//! doc-sync end to end on the real control plane (issue 19): an AgentJob whose agent Pod (run by
//! the node stand-in) clones the fixture repository from a real git server on loopback,
//! regenerates its Swagger with the repository's own Makefile target, rewrites the marked
//! sections and the changelog, pushes a docs branch and opens a pull request through the
//! GitHub TEST DOUBLE, and creates the service's page in the Notion TEST DOUBLE with the token
//! of the job's Notion Secret (mounted into its Pod only); and `kubectl agent run doc-sync --pr
//! 7 --wait` for a pull request that is not merged yet (its docs go onto its own branch).

mod common;

use std::process::Command;

use common::{Operator, is_terminal};
use devagents::api::{AgentJob, Phase};
use devagents::testing::docsync_cases::bare_with_steps;
use devagents::testing::git_server::{GitServer, git};
use devagents::testing::github_double::{GitHubDouble, PullFixture};
use devagents::testing::saas_doubles::NotionDouble;
use kube::api::{Api, PostParams};
use serde_json::json;

const TOKEN: &str = "ghp_e2edocsynctoken0123456789abcdef";
const NOTION_TOKEN: &str = "secret_e2enotiondocsync0123456789";
const PARENT: &str = "11111111-2222-4333-8444-555555555555";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agentjob_documents_the_api_change_with_a_pull_request_and_a_notion_page() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-doc-sync").await;
    let root = tempfile::tempdir().unwrap();
    let _bare = bare_with_steps(root.path(), "acme/core", "main", 1).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let notion = NotionDouble::start(NOTION_TOKEN).await.unwrap();
    notion.with(|st| {
        st.existing_page(PARENT);
    });
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
    common::token_secret(&client, &ns, "notion-token", NOTION_TOKEN).await;
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &github.url]);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let job: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "api-docs"},
        "spec": {
            "agent": "doc-sync", "timeoutSeconds": 300,
            "repository": {"url": server.url("acme/core"), "baseBranch": "main",
                           "credentialsSecret": "github-token",
                           "allowedPaths": ["CLAUDE.md", "CHANGELOG.md", "core.json"]},
            "docSync": {"notion": {"secret": "notion-token", "parentPageId": PARENT,
                                   "apiUrl": notion.url}},
        }
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let j = common::wait_for(&jobs, "api-docs", 300, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    let data = st.result.unwrap().data.unwrap();
    assert_eq!(data["changes"][0]["kind"], "endpoint-added", "{data}");
    assert_eq!(data["notionCreated"], true, "{data}");
    let pr = github.with(|s| s.pulls.values().next().cloned()).unwrap();
    assert_eq!(pr.head_ref, "docs/devagents-sync-main");
    assert_eq!(pr.base_ref, "main");
    assert!(pr.body.contains("POST /department/tree"), "{}", pr.body);
    let page = data["notionPage"].as_str().unwrap().to_string();
    let lines = notion.with(|s| s.page_lines(&page));
    assert!(
        lines
            .iter()
            .any(|l| l == "heading_3: POST /department/tree"),
        "{lines:#?}"
    );
    // The audit trail names the push, the pull request and the page.
    let trail: Vec<String> = st
        .actions
        .iter()
        .map(|a| format!("{} {}", a.type_, a.target))
        .collect();
    for k in [
        "git_push docs/devagents-sync-main".to_string(),
        format!("pr_open {}", data["pullRequestUrl"].as_str().unwrap()),
        format!("api_call notion page {page}"),
    ] {
        assert!(trail.contains(&k), "{k:?} not in {trail:?}");
    }
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_agent_run_doc_sync_for_an_open_pull_request_waits_for_the_outcome() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-doc-sync-cli").await;
    let root = tempfile::tempdir().unwrap();
    // The change is on the branch `feature`, pull request #7, not merged.
    let bare = bare_with_steps(root.path(), "acme/core", "feature", 1).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    github.add_pull(
        "acme/core",
        7,
        PullFixture {
            title: "feat(api): the department tree".into(),
            head_ref: "feature".into(),
            head_sha: git(&bare, &["rev-parse", "feature"]).unwrap(),
            base_ref: "main".into(),
            base_sha: git(&bare, &["rev-parse", "main"]).unwrap(),
            ..PullFixture::default()
        },
    );
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &github.url]);
    let url = server.url("acme/core");
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args([
            "run",
            "doc-sync",
            "--pr",
            "7",
            "--repo",
            &url,
            "--base",
            "main",
            "--repo-secret",
            "github-token",
            "--name",
            "pr-7-docs",
            "--timeout",
            "300",
            "--wait",
            "-n",
            &ns,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("agentjob/pr-7-docs Succeeded"), "{out}");
    // The docs go onto the pull request's own branch.
    let docs = github
        .with(|s| s.pulls.get(&("acme/core".to_string(), 8)).cloned())
        .expect("a docs pull request");
    assert_eq!(docs.head_ref, "docs/devagents-sync-feature");
    assert_eq!(docs.base_ref, "feature");
    common::delete_namespace(&client, &ns).await;
}

/// Bad input as a job: a Swagger target that fails ends the job Failed with the command's
/// output in its message, and nothing is pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_swagger_target_fails_the_job_with_nothing_pushed() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-doc-sync-bad").await;
    let root = tempfile::tempdir().unwrap();
    let bare = bare_with_steps(root.path(), "acme/core", "main", 1).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &github.url]);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let job: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "bad-docs"},
        "spec": {
            "agent": "doc-sync", "timeoutSeconds": 300,
            "repository": {"url": server.url("acme/core"), "baseBranch": "main",
                           "credentialsSecret": "github-token"},
            "docSync": {"swaggerTarget": "broken"},
        }
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let j = common::wait_for(&jobs, "bad-docs", 300, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed), "{:?}", st.message);
    let msg = st.message.unwrap_or_default();
    assert!(msg.contains("make broken"), "{msg}");
    assert_eq!(st.attempts.len(), 1, "not retried: {:?}", st.attempts);
    assert_eq!(github.with(|s| s.pulls.len()), 0);
    assert_eq!(
        devagents::testing::git_server::branches(&bare),
        vec!["main".to_string()]
    );
    common::delete_namespace(&client, &ns).await;
}
