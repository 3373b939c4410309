//! test-gen end to end on the real control plane (issue 18): an AgentJob whose agent Pod (run
//! by the node stand-in) clones the fixture module from a real git server on loopback, asks
//! the operator's gateway — in front of an Anthropic TEST DOUBLE answering like an LLM, good
//! tests and bad — keeps what passes every filter with real Go, pushes a branch and opens a
//! pull request through the GitHub TEST DOUBLE; and `kubectl agent run test-gen --wait`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Operator, is_terminal};
use devagents::api::{AgentJob, Phase};
use devagents::testing::git_server::{GitServer, bare_repo_with};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::AnthropicDouble;
use devagents::testing::testgen_cases::{cases, module};
use kube::api::{Api, PostParams};
use serde_json::json;

const TOKEN: &str = "ghp_e2etestgentoken0123456789abcdef";

struct Fixture {
    _root: tempfile::TempDir,
    _bare: PathBuf,
    server: GitServer,
    github: GitHubDouble,
    llm: AnthropicDouble,
    key_file: PathBuf,
}

async fn fixture(client: &kube::Client, ns: &str) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repo_with(root.path(), "acme/shop", "main", &module()).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let answers = cases()
        .iter()
        .map(|c| json!({ "function": c.target, "code": c.code }).to_string())
        .collect();
    let llm = AnthropicDouble::start(answers).await.unwrap();
    common::token_secret(client, ns, "github-token", TOKEN).await;
    let key_file = root.path().join("llm-key");
    std::fs::write(&key_file, "test-key").unwrap();
    Fixture {
        _root: root,
        _bare: bare,
        server,
        github,
        llm,
        key_file,
    }
}

fn operator(ns: &str, f: &Fixture) -> Operator {
    Operator::start(
        ns,
        "op-a",
        &[
            "--github-api-url",
            &f.github.url,
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &f.llm.url,
            "--llm-api-key-file",
            f.key_file.to_str().unwrap(),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agentjob_keeps_the_good_tests_and_opens_a_pull_request() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-test-gen").await;
    let f = fixture(&client, &ns).await;
    let _op = operator(&ns, &f);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let job: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "pricing-tests"},
        "spec": {
            "agent": "test-gen", "timeoutSeconds": 600,
            "repository": {"url": f.server.url("acme/shop"), "baseBranch": "main",
                           "credentialsSecret": "github-token"},
            "testGen": {"packages": ["pkg/pricing"], "coverageTarget": 70},
        }
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let j = common::wait_for(&jobs, "pricing-tests", 600, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    let data = st.result.unwrap().data.unwrap();
    assert!(data["coverageAfter"].as_f64().unwrap() >= 70.0, "{data}");
    assert_eq!(data["byFilter"]["bug"], 1, "{data}");
    assert!(f.llm.hits.lock().unwrap().to_owned() >= 6);
    let pr = f.github.with(|s| s.pulls.values().next().cloned()).unwrap();
    assert!(
        pr.head_ref.starts_with("agents/test-gen/"),
        "{}",
        pr.head_ref
    );
    assert!(pr.body.contains("Suspected bugs"), "{}", pr.body);
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_agent_run_test_gen_waits_for_the_outcome() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-test-gen-cli").await;
    let f = fixture(&client, &ns).await;
    let _op = operator(&ns, &f);
    let url = f.server.url("acme/shop");
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args([
            "run",
            "test-gen",
            "--package",
            "./...",
            "--coverage",
            "70",
            "--repo",
            &url,
            "--base",
            "main",
            "--repo-secret",
            "github-token",
            "--name",
            "all-tests",
            "--timeout",
            "600",
            "--wait",
            "-n",
            &ns,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("agentjob/all-tests Succeeded"), "{out}");
    assert_eq!(f.github.with(|s| s.pulls.len()), 1);
    common::delete_namespace(&client, &ns).await;
}
