//! The reviewer end to end on the real control plane: an AgentJob, the operator, an agent Pod
//! that reads the pull request from the GitHub TEST DOUBLE, checks out its head from a real
//! git server on loopback with the job's Secret, and posts one review; a pull request that
//! does not exist fails the job with a clear reason. The pull request's tests run in a sandbox
//! Pod that reaches nothing.

mod common;

use common::{Operator, is_terminal};
use devagents::api::{AgentJob, Phase};
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::{GitHubDouble, PullFixture};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

const TOKEN: &str = "ghp_e2ereviewertoken0123456789abcd";

const SANDBOX_PROBE: &str = r#"package db

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPasswordInASandbox(t *testing.T) {
	if Password() == "" {
		t.Fatal("no password")
	}
	if os.Getenv("DEVAGENTS_API_URL") != "" {
		t.Fatal("the agent API is in reach")
	}
	root := os.Getenv("DEVAGENTS_FS_ROOT")
	for _, p := range []string{
		"/var/run/secrets/devagents.io/token",
		"/var/run/secrets/devagents.io/repository",
		"/var/run/secrets/kubernetes.io/serviceaccount/token",
	} {
		if _, err := os.Stat(root + p); err == nil {
			t.Fatalf("%s is readable", p)
		}
	}
	for _, e := range os.Environ() {
		if strings.Contains(e, "ghp_") {
			t.Fatal("a token is in the environment")
		}
	}
	if c, err := net.DialTimeout("tcp", "LISTENER", 2*time.Second); err == nil {
		c.Close()
		t.Fatal("the network is in reach")
	}
}
"#;

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
        "package db\n\nvar dbPassword = \"hunter2hunter2\"\n\nfunc Password() string { return dbPassword }\n",
    )
    .unwrap();
    // The pull request's own test: it passes only where it reaches nothing (no agent API, no
    // token file, no token in the environment, no network) — that is, in the sandbox Pod.
    // A listener on loopback the test tries to reach (anything in reach would answer).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let probe = SANDBOX_PROBE.replace("LISTENER", &listener.local_addr().unwrap().to_string());
    std::fs::write(seed.path().join("pkg/db/db_test.go"), probe).unwrap();
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
    // Every sandbox Pod, as the apiserver stored it.
    let seen: Arc<Mutex<Vec<Pod>>> = Arc::default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let watch = {
        let (seen, pods) = (seen.clone(), pods.clone());
        tokio::spawn(async move {
            let cfg = watcher::Config::default().labels("devagents.io/sandbox=true");
            let mut s = Box::pin(watcher(pods, cfg).default_backoff().applied_objects());
            while let Some(Ok(p)) = s.next().await {
                seen.lock().unwrap().push(p);
            }
        })
    };
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
    // The tests ran, in the sandbox (the probe test fails anywhere else).
    assert_eq!(data["coverage"]["example.com/shop/pkg/db"], 100.0, "{data}");
    watch.abort();
    let seen = seen.lock().unwrap().clone();
    let sandbox = seen.first().expect("a sandbox Pod was started");
    let spec = sandbox.spec.clone().unwrap();
    assert_eq!(spec.automount_service_account_token, Some(false));
    assert_eq!(spec.enable_service_links, Some(false));
    for v in spec.volumes.iter().flatten() {
        assert!(v.secret.is_none(), "{v:?}");
        let projected = v.projected.iter().flat_map(|p| p.sources.iter().flatten());
        for src in projected {
            assert!(
                src.secret.is_none() && src.service_account_token.is_none(),
                "{src:?}"
            );
        }
    }
    let c = &spec.containers[0];
    assert!(c.env.is_none() && c.env_from.is_none(), "{c:?}");
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    // Isolated: a NetworkPolicy denies the sandbox Pods all traffic.
    let np: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(client.clone(), &ns);
    let np = np
        .get(devagents::agents::reviewer::sandbox::NETWORK_POLICY)
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(
        np.pod_selector.unwrap().match_labels.unwrap()["devagents.io/sandbox"],
        "true"
    );
    assert_eq!(
        np.policy_types.unwrap(),
        vec!["Ingress".to_string(), "Egress".to_string()]
    );
    assert!(np.ingress.unwrap_or_default().is_empty() && np.egress.unwrap_or_default().is_empty());
    // And gone once the tests ended.
    let left = pods
        .list(&ListParams::default().labels("devagents.io/sandbox=true"))
        .await
        .unwrap();
    assert!(
        left.items
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some()),
        "{:?}",
        left.items
            .iter()
            .map(|p| p.metadata.name.clone())
            .collect::<Vec<_>>()
    );
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
