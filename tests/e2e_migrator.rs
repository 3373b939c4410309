//! The migrator end to end on the real control plane: AgentJobs, the operator, agent Pods (run
//! by the node stand-in) that clone the fixture repository `acme/hr` from a real git server on
//! loopback, validate the migration on a real PostgreSQL whose URL comes from the job's
//! `databaseSecret` (mounted read-only), wait for the approval of a destructive migration,
//! push a branch and open a pull request through the GitHub TEST DOUBLE; and `kubectl agent
//! run migrator … --wait`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Operator, is_terminal};
use devagents::api::{AgentApproval, AgentJob, Phase};
use devagents::services::postgres::LocalServer;
use devagents::testing::git_server::{GitServer, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::migrator_cases::{REPOSITORY, bare_repository};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const TOKEN: &str = "ghp_e2emigratortoken0123456789abcd";

struct Fixture {
    _root: tempfile::TempDir,
    bare: PathBuf,
    server: GitServer,
    github: GitHubDouble,
    _pg: LocalServer,
}

async fn fixture(client: &kube::Client, ns: &str) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repository(root.path()).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let pg = LocalServer::start(root.path()).expect("PostgreSQL (e2e/install-deps.sh)");
    common::token_secret(client, ns, "github-token", TOKEN).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "migrator-db"},
                "stringData": {"DATABASE_URL": pg.url},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    Fixture {
        _root: root,
        bare,
        server,
        github,
        _pg: pg,
    }
}

impl Fixture {
    fn branches(&self) -> Vec<String> {
        devagents::testing::git_server::branches(&self.bare)
    }
}

fn job(name: &str, url: &str, to: &str, database_secret: &str) -> AgentJob {
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": name},
        "spec": {
            "agent": "migrator", "timeoutSeconds": 300,
            "repository": {"url": url, "baseBranch": "main", "credentialsSecret": "github-token",
                           "allowedPaths": ["rpc/migrations/**"]},
            "approval": {"policy": "before-actions", "approvers": ["alice"], "required": 1},
            "migrator": {"name": "add_department", "fromRef": "main", "toRef": to,
                         "databaseSecret": database_secret},
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destructive_migration_waits_for_its_approval_then_lands_as_a_pull_request() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-migrator").await;
    let f = fixture(&client, &ns).await;
    let before = f.branches();
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &f.github.url]);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let url = f.server.url(REPOSITORY);
    let pp = PostParams::default();
    jobs.create(
        &pp,
        &job("department", &url, "feature/department", "migrator-db"),
    )
    .await
    .unwrap();

    // Validated, then the agent asks for the destructive SQL to be approved, pinned to its hash.
    let approval = loop {
        let l = approvals.list(&ListParams::default()).await.unwrap();
        if let Some(a) = l.items.into_iter().next() {
            break a;
        }
        let j = jobs.get("department").await.unwrap();
        assert!(
            !is_terminal(Some(&j)),
            "ended before asking: {:#?}",
            j.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(approval.spec.action, "destructive_migration");
    assert_eq!(approval.spec.pins[0].name, "migrationHash");
    let hash = approval.spec.pins[0].value.clone();
    assert!(hash.starts_with("sha256:"), "{hash}");
    assert!(
        approval
            .spec
            .description
            .as_deref()
            .unwrap_or_default()
            .contains("sys_departments.remark"),
        "{:?}",
        approval.spec.description
    );
    // Nothing is pushed while it waits.
    assert_eq!(f.branches(), before);
    let name = approval.metadata.name.clone().unwrap();
    approvals
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"spec": {"decisions": [{"user": "alice", "decision": "Approve"}]}}),
            ),
        )
        .await
        .unwrap();
    let j = common::wait_for(&jobs, "department", 180, "finished", is_terminal).await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let data = st.result.clone().unwrap().data.unwrap();
    assert_eq!(data["sqlDigest"], hash.as_str());
    assert_eq!(data["validation"]["ok"], true);
    assert!(
        data["validation"]["serverVersion"]
            .as_str()
            .unwrap()
            .starts_with("15")
    );
    assert_eq!(data["pullRequest"], 1);
    let branch = data["branch"].as_str().unwrap();
    assert_eq!(
        git(&f.bare, &["rev-parse", branch]).unwrap(),
        data["commit"].as_str().unwrap()
    );
    let push = st.actions.iter().find(|a| a.type_ == "git_push").unwrap();
    assert_eq!(push.approval.as_deref(), Some(name.as_str()));
    assert_eq!(push.digest.as_deref(), Some(hash.as_str()));
    let pr = f.github.with(|s| {
        s.pulls
            .get(&(REPOSITORY.to_string(), 1))
            .map(|p| p.base_ref.clone())
    });
    assert_eq!(pr.as_deref(), Some("feature/department"));
    // The database URL never reached the job's status.
    assert!(!serde_json::to_string(&j).unwrap().contains("postgres://"));

    // A statement PostgreSQL refuses: Failed with its error, nothing pushed.
    let pushed = f.branches();
    jobs.create(&pp, &job("refused", &url, "bad/refused", "migrator-db"))
        .await
        .unwrap();
    // A databaseSecret that is not there: Failed naming it.
    jobs.create(
        &pp,
        &job("no-database", &url, "feature/add-column", "absent-db"),
    )
    .await
    .unwrap();
    // A schema that does not parse, an unknown construct, a ref that does not exist.
    for (name, to) in [
        ("unparseable", "bad/unparseable"),
        ("unknown", "bad/unknown-construct"),
        ("no-ref", "no/such-branch"),
    ] {
        jobs.create(&pp, &job(name, &url, to, "migrator-db"))
            .await
            .unwrap();
    }
    for (name, want) in [
        (
            "unparseable",
            "rpc/ent/schema/department.go:44: not valid Go",
        ),
        ("unknown", "mixin `audit.Mixin` is not known"),
        (
            "no-ref",
            "migrator.toRef \"no/such-branch\" is not a branch, tag or commit",
        ),
        (
            "refused",
            "cannot cast type integer to timestamp with time zone",
        ),
        (
            "no-database",
            "migrator.databaseSecret \"absent-db\": no key DATABASE_URL",
        ),
    ] {
        let j = common::wait_for(&jobs, name, 180, "finished", is_terminal).await;
        let st = j.status.unwrap();
        assert_eq!(st.phase, Some(Phase::Failed), "{name}: {st:#?}");
        let msg = st.message.unwrap_or_default();
        assert!(msg.contains(want), "{name}: {msg}");
    }
    assert_eq!(f.branches(), pushed);
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_agent_run_migrator_waits_for_the_outcome() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-migrator-cli").await;
    let f = fixture(&client, &ns).await;
    let _op = Operator::start(&ns, "op-a", &["--github-api-url", &f.github.url]);
    let url = f.server.url(REPOSITORY);
    // The defaults: the base branch's last commit is the change.
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args([
            "run",
            "migrator",
            "add_department",
            "--repo",
            &url,
            "--base",
            "feature/add-column",
            "--repo-secret",
            "github-token",
            "--allowed-path",
            "rpc/migrations/**",
            "--database-secret",
            "migrator-db",
            "--name",
            "add-department",
            "--wait",
            "-n",
            &ns,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("agentjob/add-department Succeeded"), "{out}");
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let j = jobs.get("add-department").await.unwrap();
    let data = j.status.unwrap().result.unwrap().data.unwrap();
    assert_eq!(data["from"]["ref"], "feature/add-column~1");
    assert_eq!(data["statements"].as_array().map(Vec::len), Some(1));
    assert_eq!(f.github.with(|s| s.pulls.len()), 1);
    common::delete_namespace(&client, &ns).await;
}
