//! The migrator's whole run against the fixture repository `acme/hr` (Simple Admin Core
//! layout; each branch one schema state) on a real git server on loopback, validated on a
//! real PostgreSQL (Debian's, a local process on a free port), with pull requests through the
//! GitHub TEST DOUBLE. Every failure must leave the git server as it was: nothing pushed.

use std::sync::Mutex;
use std::time::Duration;

use devagents::agentapi::ApprovalState;
use devagents::agents::HostError;
use devagents::agents::migrator::run::{self, Database, Failure, Host, Outcome, Setup};
use devagents::api::{
    ApprovalMode, ApprovalPhase, ApprovalPolicy, MigrationFormat, MigratorParams, Pin, Repository,
};
use devagents::llm::gateway::CompletionRequest;
use devagents::services::git::Credentials;
use devagents::services::postgres::LocalServer;
use devagents::testing::git_server::{GitServer, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::migrator_cases::{REPOSITORY, bare_repository};

const TOKEN: &str = "ghp_migratortesttoken0123456789";

/// An action as recorded: kind, target, digest, the approval it was taken on.
type Action = (String, String, Option<String>, Option<String>);

/// The agent API stand-in: progress, actions and approval requests recorded; approvals are
/// decided by `decision`.
struct TestHost {
    progress: Mutex<Vec<String>>,
    actions: Mutex<Vec<Action>>,
    approvals: Mutex<Vec<(String, Vec<Pin>)>>,
    decision: ApprovalPhase,
}

impl Host for TestHost {
    async fn progress(&self, line: &str) -> Result<(), String> {
        self.progress.lock().unwrap().push(line.to_string());
        Ok(())
    }
    async fn action(&self, kind: &str, target: &str, digest: Option<&str>) -> Result<(), String> {
        self.actions.lock().unwrap().push((
            kind.into(),
            target.into(),
            digest.map(str::to_string),
            None,
        ));
        Ok(())
    }
    async fn approved_action(
        &self,
        kind: &str,
        target: &str,
        digest: Option<&str>,
        approval: &str,
    ) -> Result<(), String> {
        self.actions.lock().unwrap().push((
            kind.into(),
            target.into(),
            digest.map(str::to_string),
            Some(approval.into()),
        ));
        Ok(())
    }
    async fn llm(&self, _req: &CompletionRequest) -> Result<Result<String, String>, HostError> {
        Ok(Err("the migrator asks no LLM".into()))
    }
    async fn approval(
        &self,
        action: &str,
        _description: &str,
        pins: &[Pin],
        _wait: Duration,
    ) -> Result<ApprovalState, HostError> {
        self.approvals
            .lock()
            .unwrap()
            .push((action.into(), pins.to_vec()));
        Ok(ApprovalState {
            name: "job-destructive-migration-1a2b".into(),
            phase: self.decision,
            message: Some("decided by the test".into()),
            approved_by: vec!["dba@example.com".into()],
        })
    }
}

fn host(decision: ApprovalPhase) -> TestHost {
    TestHost {
        progress: Mutex::default(),
        actions: Mutex::default(),
        approvals: Mutex::default(),
        decision,
    }
}

struct Fixture {
    _root: tempfile::TempDir,
    bare: std::path::PathBuf,
    server: GitServer,
    github: GitHubDouble,
    pg: LocalServer,
    work: tempfile::TempDir,
    branches_before: Vec<String>,
}

async fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repository(root.path()).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let pg = LocalServer::start(root.path()).expect("PostgreSQL (e2e/install-deps.sh)");
    let mut f = Fixture {
        _root: root,
        bare,
        server,
        github,
        pg,
        work: tempfile::tempdir().unwrap(),
        branches_before: Vec::new(),
    };
    f.branches_before = f.branches();
    f
}

impl Fixture {
    fn repo(&self, base: &str) -> Repository {
        Repository {
            url: self.server.url(REPOSITORY),
            base_branch: base.into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: vec!["rpc/migrations/**".into()],
        }
    }
    fn setup(&self, id: &str, approval: Option<ApprovalMode>) -> Setup {
        Setup {
            workdir: self.work.path().join(id),
            github_api: self.github.url.clone(),
            credentials: Some(Credentials {
                username: "x-access-token".into(),
                token: TOKEN.into(),
            }),
            short_id: id.into(),
            attempt: 1,
            publish: true,
            database: Database::Url(self.pg.url.clone()),
            approval: approval.map(|policy| ApprovalPolicy {
                policy,
                approvers: vec!["group:dba".into()],
                required: 1,
                timeout_seconds: 600,
            }),
        }
    }
    fn branches(&self) -> Vec<String> {
        devagents::testing::git_server::branches(&self.bare)
    }
    fn pulls(&self) -> usize {
        self.github.with(|s| s.pulls.len())
    }
    /// Nothing was pushed and no pull request opened.
    fn untouched(&self) {
        assert_eq!(self.branches(), self.branches_before);
        assert_eq!(self.pulls(), 0);
    }
}

fn params(from: Option<&str>, to: Option<&str>) -> MigratorParams {
    MigratorParams {
        name: "add_department".into(),
        from_ref: from.map(str::to_string),
        to_ref: to.map(str::to_string),
        validate: true,
        ..MigratorParams::default()
    }
}

async fn go(
    f: &Fixture,
    h: &TestHost,
    p: &MigratorParams,
    id: &str,
    approval: Option<ApprovalMode>,
) -> Result<Outcome, Failure> {
    run::run(h, &f.repo("main"), p, &f.setup(id, approval)).await
}

fn show(f: &Fixture, rev: &str, path: &str) -> String {
    git(&f.bare, &["show", &format!("{rev}:{path}")]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destructive_migration_is_approved_validated_pushed_and_proposed() {
    let f = fixture().await;
    let h = host(ApprovalPhase::Approved);
    let out = go(
        &f,
        &h,
        &params(Some("main"), Some("feature/department")),
        "a1b2c3d4",
        Some(ApprovalMode::BeforeActions),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message));

    // The report: four phases on PostgreSQL 15, all agreeing.
    let report = out.validation.as_ref().unwrap();
    assert!(report.ok, "{report:#?}");
    assert!(report.server_version.starts_with("15"));
    assert_eq!(report.phases.len(), 4);

    // Destructive (the dropped column), approved for exactly these files' digest.
    assert!(out.destructive);
    assert_eq!(out.labels.get("destructive:drop-column"), Some(&1));
    let approvals = h.approvals.lock().unwrap().clone();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].0, run::DESTRUCTIVE_ACTION);
    assert_eq!(approvals[0].1[0].name, "migrationHash");
    assert_eq!(approvals[0].1[0].value, out.sql_digest);
    let actions = h.actions.lock().unwrap().clone();
    let push = actions.iter().find(|a| a.0 == "git_push").unwrap();
    assert_eq!(push.2.as_deref(), Some(out.sql_digest.as_str()));
    assert_eq!(
        push.3.as_deref(),
        Some("job-destructive-migration-1a2b"),
        "the push names the approval"
    );

    // The branch starts at toRef and adds only the migration files.
    assert_eq!(out.branch, "agents/migrator/add-department-a1b2c3d4");
    assert!(f.branches().contains(&out.branch));
    let changed = git(
        &f.bare,
        &[
            "diff",
            "--name-only",
            &format!("feature/department..{}", out.branch),
        ],
    )
    .unwrap();
    let changed: Vec<&str> = changed.lines().collect();
    assert_eq!(changed.len(), out.files.len(), "{changed:?}");
    assert!(changed.iter().all(|p| p.starts_with("rpc/migrations/")));
    let up = out.files.iter().find(|p| p.ends_with(".up.sql")).unwrap();
    let text = show(&f, &out.branch, up);
    assert!(
        text.contains("BEGIN;\nSET LOCAL lock_timeout = '5s';"),
        "{text}"
    );
    assert!(text.contains("ADD COLUMN \"founded_at\""), "{text}");
    // The same SQL the result reports, and the digest is over the pushed files.
    let mut pushed = Vec::new();
    for p in &out.files {
        pushed.push(devagents::agents::migrator::files::File {
            name: p.trim_start_matches("rpc/migrations/").to_string(),
            text: show(&f, &out.branch, p) + "\n",
        });
    }
    // `git show` drops the final newline; the files end with one.
    assert_eq!(run::digest(&pushed), out.sql_digest);

    // The pull request goes into toRef's branch and lists statements, labels and the report.
    let pr = f.github.with(|s| {
        s.pulls
            .values()
            .next()
            .map(|p| (p.base_ref.clone(), p.head_ref.clone(), p.body.clone()))
    });
    let (base, head, body) = pr.unwrap();
    assert_eq!(base, "feature/department");
    assert_eq!(head, out.branch);
    assert!(body.contains("`destructive:drop-column`"), "{body}");
    assert!(body.contains("**Rollback loses data:**"), "{body}");
    assert!(body.contains("PostgreSQL 15"), "{body}");
    assert!(body.contains(&out.sql_digest), "{body}");
    assert!(out.summary.contains("pull request #"), "{}", out.summary);

    // The result's data stays below the agent API's limit on a result.
    let data = run::result_data(&out);
    assert!(data.to_string().len() < 64 * 1024);
    assert_eq!(data["validation"]["ok"], true);
    assert_eq!(data["to"]["ref"], "feature/department");
}

#[tokio::test(flavor = "multi_thread")]
async fn destructive_sql_leaves_only_with_approval() {
    let f = fixture().await;
    let p = params(None, Some("feature/drop-column"));

    // No before-actions policy: refused, the reason names the policy and the change.
    let h = host(ApprovalPhase::Approved);
    let e = go(&f, &h, &p, "noapprov", None).await.unwrap_err();
    assert!(e.message.contains("before-actions"), "{}", e.message);
    assert!(
        e.message.contains("sys_departments.remark"),
        "{}",
        e.message
    );
    assert!(e.message.contains("nothing was pushed"), "{}", e.message);
    assert!(!e.transient);
    assert!(h.approvals.lock().unwrap().is_empty());
    // What was found stays in the result.
    let partial = e.partial.unwrap();
    assert!(partial.destructive);
    assert!(partial.validation.as_ref().is_some_and(|r| r.ok));
    f.untouched();

    // Rejected: nothing pushed either.
    let h = host(ApprovalPhase::Rejected);
    let e = go(&f, &h, &p, "rejected", Some(ApprovalMode::BeforeActions))
        .await
        .unwrap_err();
    assert!(e.message.contains("Rejected"), "{}", e.message);
    assert_eq!(h.approvals.lock().unwrap().len(), 1);
    f.untouched();

    // A before-run approval approved the job, not this SQL: refused as well.
    let h = host(ApprovalPhase::Approved);
    let e = go(&f, &h, &p, "beforerun", Some(ApprovalMode::BeforeRun))
        .await
        .unwrap_err();
    assert!(e.message.contains("before-actions"), "{}", e.message);
    f.untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_additive_change_needs_no_approval_and_atlas_sums_every_file() {
    let f = fixture().await;
    let h = host(ApprovalPhase::Rejected);
    let mut p = params(None, Some("feature/add-column"));
    p.format = MigrationFormat::Atlas;
    let out = go(&f, &h, &p, "atlas001", None)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(!out.destructive);
    assert!(h.approvals.lock().unwrap().is_empty());
    assert_eq!(out.statements.len(), 1);
    let sum = out.files.iter().find(|p| p.ends_with("atlas.sum")).unwrap();
    let text = show(&f, &out.branch, sum);
    // The existing migration and the new one, after the directory hash.
    assert!(text.starts_with("h1:"), "{text}");
    assert!(text.contains("20250101000000_init.up.sql h1:"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    let from = out.from.unwrap();
    assert_eq!(from.name, "main");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_schema_change_is_nothing_to_migrate() {
    let f = fixture().await;
    let h = host(ApprovalPhase::Approved);
    let out = go(
        &f,
        &h,
        &params(None, Some("feature/reordered")),
        "reorder1",
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(out.statements.is_empty());
    assert!(out.files.is_empty());
    assert!(
        out.summary.contains("nothing to migrate"),
        "{}",
        out.summary
    );
    f.untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_base_branchs_last_commit_is_the_default_change() {
    let f = fixture().await;
    let h = host(ApprovalPhase::Approved);
    let p = params(None, None);
    let out = run::run(
        &h,
        &f.repo("feature/add-column"),
        &p,
        &f.setup("defaults", None),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message));
    let (from, to) = (out.from.unwrap(), out.to.unwrap());
    assert_eq!(from.name, "feature/add-column~1");
    assert_eq!(to.name, "feature/add-column");
    assert_eq!(
        from.commit,
        git(&f.bare, &["rev-parse", "main"]).unwrap(),
        "the commit before the branch's last is main"
    );
    assert_eq!(out.statements.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_fails_with_a_reason_and_pushes_nothing() {
    let f = fixture().await;
    let cases: [(&str, Option<&str>, &[&str]); 4] = [
        (
            "bad/unparseable",
            None,
            &["toRef bad/unparseable: rpc/ent/schema/department.go:44: not valid Go"],
        ),
        (
            "bad/unknown-construct",
            None,
            &[
                "rpc/ent/schema/department.go:",
                "mixin `audit.Mixin` is not known",
            ],
        ),
        (
            "no/such-branch",
            None,
            &["migrator.toRef \"no/such-branch\" is not a branch, tag or commit"],
        ),
        (
            "bad/refused",
            None,
            &[
                "validation on PostgreSQL failed",
                "PostgreSQL refused it",
                "cannot cast type integer to timestamp with time zone",
                "nothing was pushed",
            ],
        ),
    ];
    for (i, (to, from, want)) in cases.iter().enumerate() {
        let h = host(ApprovalPhase::Approved);
        let e = go(
            &f,
            &h,
            &params(*from, Some(to)),
            &format!("bad{i}"),
            Some(ApprovalMode::BeforeActions),
        )
        .await
        .unwrap_err();
        for w in *want {
            assert!(e.message.contains(w), "{to}: want {w:?} in {}", e.message);
        }
        assert!(!e.transient, "{to}");
        f.untouched();
    }
    // A missing fromRef is named as such.
    let h = host(ApprovalPhase::Approved);
    let e = go(
        &f,
        &h,
        &params(Some("v9.9.9"), Some("feature/department")),
        "badfrom",
        None,
    )
    .await
    .unwrap_err();
    assert!(
        e.message.contains("migrator.fromRef \"v9.9.9\""),
        "{}",
        e.message
    );
    f.untouched();
}
