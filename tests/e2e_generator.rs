//! The generator end to end on the real control plane: an AgentJob, the operator, an agent
//! Pod (run by the node stand-in) that clones a fixture repository from a real git server on
//! loopback with the token from the job's credentials Secret, generates the module, runs the
//! fixture's Makefile (real gofmt, protoc, python3), pushes a branch, and opens a pull request
//! through the GitHub TEST DOUBLE.

mod common;

use common::{Operator, is_terminal};
use devagents::api::{AgentJob, Phase};
use devagents::testing::fixtures::simple_admin_repo;
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::GitHubDouble;
use kube::api::{Api, PostParams};
use serde_json::json;

const TOKEN: &str = "ghp_e2egeneratortoken0123456789abcd";

fn generator_job(name: &str, url: &str, commands: Option<Vec<&str>>) -> AgentJob {
    let mut generator = json!({
        "entity": "Department",
        "mixins": ["id", "status", "sort"],
        "fields": [
            {"name": "name", "type": "string", "comment": "Department name | 部门名称"},
            {"name": "parent_id", "type": "uint64", "optional": true, "default": "0"},
            {"name": "remark", "type": "string", "optional": true}
        ],
        "edges": [{"name": "children", "type": "to", "target": "Department", "inverse": "parent", "field": "parent_id", "unique": true}],
        "i18n": {"en": "Department", "zh": "部门"}
    });
    if let Some(c) = commands {
        generator["commands"] = json!(c);
    }
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": name},
        "spec": {
            "agent": "generator", "timeoutSeconds": 300,
            "repository": {"url": url, "baseBranch": "main", "credentialsSecret": "github-token",
                           "allowedPaths": ["rpc/**", "api/**"]},
            "generator": generator,
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_job_pushes_a_branch_and_opens_a_pull_request() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-generator").await;
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repo_with(root.path(), "acme/core", "main", &simple_admin_repo()).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &github.url]);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &generator_job("department", &server.url("acme/core"), None),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "department", 180, "finished", is_terminal).await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let data = st.result.clone().unwrap().data.unwrap();
    let branch = data["branch"].as_str().unwrap().to_string();
    assert!(
        branch.starts_with("agents/generator/department-"),
        "{branch}"
    );
    assert_eq!(data["pullRequest"], 1);
    assert_eq!(
        git(&bare, &["rev-parse", &branch]).unwrap(),
        data["commit"].as_str().unwrap()
    );
    let files = git(&bare, &["diff", "--name-only", "main", &branch]).unwrap();
    assert!(
        files
            .lines()
            .all(|f| f.starts_with("rpc/") || f.starts_with("api/")),
        "{files}"
    );
    assert_eq!(files.lines().count(), 12, "{files}");
    let kinds: Vec<_> = st.actions.iter().map(|a| a.type_.as_str()).collect();
    assert_eq!(kinds, vec!["git_push", "pr_open"]);
    assert!(github.with(|s| s.pulls.contains_key(&("acme/core".to_string(), 1))));
    // The token never reached the job's status.
    assert!(!serde_json::to_string(&j).unwrap().contains(TOKEN));

    // A failing project command fails the job with its output; nothing is pushed.
    jobs.create(
        &PostParams::default(),
        &generator_job(
            "broken",
            &server.url("acme/core"),
            Some(vec!["make gen-ent", "make broken"]),
        ),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "broken", 180, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed), "{st:#?}");
    let msg = st.message.clone().unwrap_or_default();
    assert!(
        msg.contains("`make broken` failed with exit code 2"),
        "{msg}"
    );
    let commands = st.result.unwrap().data.unwrap()["commands"].clone();
    assert!(
        commands[1]["tail"]
            .as_str()
            .unwrap()
            .contains("undefined: foo"),
        "{commands}"
    );
    let heads = git(
        &bare,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
    )
    .unwrap();
    assert_eq!(
        heads.lines().count(),
        2,
        "only the first job's branch and main: {heads}"
    );
    common::delete_namespace(&client, &ns).await;
}
