//! The reviewer end to end on the real control plane: an AgentJob, the operator, an agent Pod
//! that reads the pull request from the GitHub TEST DOUBLE, checks out its head from a real
//! git server on loopback with the job's Secret, and posts one review; a pull request that
//! does not exist fails the job with a clear reason.

mod common;

use common::{Operator, is_terminal};
use devagents::api::{AgentJob, Phase};
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::{GitHubDouble, PullFixture};
use kube::api::{Api, PostParams};
use serde_json::json;

const TOKEN: &str = "ghp_e2ereviewertoken0123456789abcd";

fn review_job(name: &str, url: &str, pr: u64) -> AgentJob {
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": name},
        "spec": {
            "agent": "reviewer", "timeoutSeconds": 300,
            "repository": {"url": url, "baseBranch": "main", "credentialsSecret": "github-token"},
            "reviewer": {"pullRequest": pr, "checks": ["security", "i18n", "tests"]},
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_job_posts_one_review() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-reviewer").await;
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repo_with(
        root.path(),
        "acme/shop",
        "main",
        &[("go.mod", "module example.com/shop\n")],
    )
    .unwrap();
    let seed = tempfile::tempdir().unwrap();
    git(seed.path(), &["clone", "-q", bare.to_str().unwrap(), "."]).unwrap();
    git(seed.path(), &["checkout", "-q", "-b", "feature"]).unwrap();
    std::fs::create_dir_all(seed.path().join("pkg/db")).unwrap();
    std::fs::write(
        seed.path().join("pkg/db/db.go"),
        "package db\n\nvar dbPassword = \"hunter2hunter2\"\n",
    )
    .unwrap();
    git(seed.path(), &["add", "-A"]).unwrap();
    git(seed.path(), &["commit", "-q", "-m", "db"]).unwrap();
    git(seed.path(), &["push", "-q", "origin", "feature"]).unwrap();
    let head = git(seed.path(), &["rev-parse", "HEAD"]).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    github.add_pull(
        "acme/shop",
        5,
        PullFixture {
            title: "db".into(),
            head_ref: "feature".into(),
            head_sha: head.clone(),
            base_ref: "main".into(),
            diff: format!("{}\n", git(&bare, &["diff", "main", "feature"]).unwrap()),
            ..Default::default()
        },
    );
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &github.url]);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &review_job("review-5", &server.url("acme/shop"), 5),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "review-5", 180, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let data = st.result.unwrap().data.unwrap();
    assert_eq!(data["headSha"], head.as_str());
    assert_eq!(data["bySeverity"]["critical"], 1, "{data}");
    let review = github.with(|s| s.reviews[0].2.clone());
    assert_eq!(review["comments"][0]["path"], "pkg/db/db.go");
    assert_eq!(review["comments"][0]["line"], 3);
    assert_eq!(
        st.actions
            .iter()
            .map(|a| a.type_.as_str())
            .collect::<Vec<_>>(),
        vec!["pr_review"]
    );

    jobs.create(
        &PostParams::default(),
        &review_job("review-404", &server.url("acme/shop"), 404),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "review-404", 180, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed), "{st:#?}");
    assert!(
        st.message
            .unwrap_or_default()
            .contains("pull request #404 of acme/shop does not exist")
    );
    common::delete_namespace(&client, &ns).await;
}
