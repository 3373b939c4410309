//! The generator's whole run against a fixture repository in the Simple Admin Core layout,
//! served by a real git server on loopback, with pull requests through the GitHub TEST DOUBLE
//! and the LLM through the gateway and an Anthropic Messages TEST DOUBLE. The fixture's
//! Makefile runs real local tools (gofmt, protoc, python3).

use std::sync::Mutex;

use devagents::agents::generator::run::{self, Failure, Host, Outcome, Setup};
use devagents::api::{AgentJob, GeneratorParams, Repository};
use devagents::llm::gateway::{CompletionRequest, Gateway};
use devagents::services::git::Credentials;
use devagents::testing::fixtures::simple_admin_repo;
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::AnthropicDouble;
use serde_json::json;

const TOKEN: &str = "ghp_generatortesttoken0123456789";

/// The agent API stand-in: progress and actions recorded, LLM calls through a real gateway.
struct TestHost {
    progress: Mutex<Vec<String>>,
    actions: Mutex<Vec<(String, String)>>,
    gateway: Option<Gateway>,
}

impl Host for TestHost {
    async fn progress(&self, line: &str) -> Result<(), String> {
        self.progress.lock().unwrap().push(line.to_string());
        Ok(())
    }
    async fn action(&self, kind: &str, target: &str, _digest: Option<&str>) -> Result<(), String> {
        self.actions
            .lock()
            .unwrap()
            .push((kind.into(), target.into()));
        Ok(())
    }
    async fn llm(
        &self,
        req: &CompletionRequest,
    ) -> Result<Result<String, String>, devagents::agents::HostError> {
        match &self.gateway {
            None => Ok(Err("no LLM provider is configured".into())),
            Some(g) => g
                .complete("team/gen", "generator", req)
                .await
                .map(|c| Ok(c.text))
                .map_err(|e| devagents::agents::HostError::refused(e.to_string())),
        }
    }
}

struct Fixture {
    _root: tempfile::TempDir,
    bare: std::path::PathBuf,
    server: GitServer,
    github: GitHubDouble,
    work: tempfile::TempDir,
}

async fn fixture(extra: &[(&'static str, &'static str)]) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let mut files = simple_admin_repo();
    files.extend_from_slice(extra);
    let bare = bare_repo_with(root.path(), "acme/core", "main", &files).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    Fixture {
        _root: root,
        bare,
        server,
        github,
        work: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn repo(&self, allowed: &[&str]) -> Repository {
        Repository {
            url: self.server.url("acme/core"),
            base_branch: "main".into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }
    fn setup(&self, id: &str) -> Setup {
        Setup {
            workdir: self.work.path().join(id),
            github_api: self.github.url.clone(),
            credentials: Some(Credentials {
                username: "x-access-token".into(),
                token: TOKEN.into(),
            }),
            short_id: id.into(),
            publish: true,
        }
    }
    fn branches(&self) -> Vec<String> {
        devagents::testing::git_server::branches(&self.bare)
    }
}

fn department() -> GeneratorParams {
    let text = std::fs::read_to_string("examples/agentjobs/generator.yaml").unwrap();
    let job: AgentJob = serde_yaml::from_str(&text).unwrap();
    *job.spec.generator.unwrap()
}

fn host(gateway: Option<Gateway>) -> TestHost {
    TestHost {
        progress: Mutex::default(),
        actions: Mutex::default(),
        gateway,
    }
}

async fn go(
    f: &Fixture,
    h: &TestHost,
    p: &GeneratorParams,
    allowed: &[&str],
    id: &str,
) -> Result<Outcome, Failure> {
    run::run(h, &f.repo(allowed), p, &f.setup(id)).await
}

const ALL_FILES: [&str; 12] = [
    "api/desc/all.api",
    "api/desc/core/department.api",
    "api/internal/i18n/locale/en.json",
    "api/internal/i18n/locale/zh.json",
    "rpc/core.proto",
    "rpc/desc/department.proto",
    "rpc/ent/schema/department.go",
    "rpc/internal/logic/department/create_department_logic.go",
    "rpc/internal/logic/department/delete_department_logic.go",
    "rpc/internal/logic/department/get_department_by_id_logic.go",
    "rpc/internal/logic/department/get_department_list_logic.go",
    "rpc/internal/logic/department/update_department_logic.go",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_fields_end_in_a_pushed_branch_and_a_pull_request() {
    let f = fixture(&[]).await;
    let h = host(None);
    let out = go(&f, &h, &department(), &["rpc/**", "api/**"], "a1b2c3d4")
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(out.branch, "agents/generator/department-a1b2c3d4");
    assert_eq!(out.files, ALL_FILES.to_vec());
    assert_eq!(
        out.commands
            .iter()
            .map(|c| (c.command.as_str(), c.exit_code))
            .collect::<Vec<_>>(),
        vec![
            ("make gen-ent", 0),
            ("make gen-rpc", 0),
            ("make gen-api", 0),
            ("make test", 0)
        ]
    );
    assert!(
        out.commands[3].tail.contains("locales ok: 8 keys"),
        "{:?}",
        out.commands[3]
    );
    // The branch is on the server, with exactly these files, by the agent's identity.
    let on_server = git(&f.bare, &["rev-parse", &out.branch]).unwrap();
    assert_eq!(on_server, out.commit);
    let changed = git(&f.bare, &["diff", "--name-only", "main", &out.branch]).unwrap();
    assert_eq!(changed.lines().collect::<Vec<_>>(), ALL_FILES.to_vec());
    assert_eq!(
        git(&f.bare, &["log", "-1", "--format=%an", &out.branch]).unwrap(),
        "devagents generator"
    );
    assert_eq!(
        f.branches(),
        vec!["agents/generator/department-a1b2c3d4", "main"],
        "main untouched, one branch"
    );
    // The pull request, through the GitHub test double.
    assert_eq!(out.pull_request, Some(1));
    let body = f
        .github
        .with(|s| s.pulls[&("acme/core".to_string(), 1)].body.clone());
    assert!(
        body.contains("- `rpc/ent/schema/department.go`") && body.contains("### Next steps"),
        "{body}"
    );
    assert!(body.contains("`make test`: exit code 0"), "{body}");
    let actions = h.actions.lock().unwrap().clone();
    assert_eq!(
        actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        vec!["git_push", "pr_open"]
    );
    let zh = git(
        &f.bare,
        &[
            "show",
            &format!("{}:api/internal/i18n/locale/zh.json", out.branch),
        ],
    )
    .unwrap();
    assert!(zh.contains("\"createDepartment\": \"创建部门\""), "{zh}");
    let all_api = git(
        &f.bare,
        &["show", &format!("{}:api/desc/all.api", out.branch)],
    )
    .unwrap();
    assert_eq!(
        all_api,
        "import \"base.api\"\nimport \"core/department.api\""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_module_from_the_description_alone() {
    let f = fixture(&[]).await;
    let answer = json!({
        "fields": [
            {"name": "name", "type": "string", "comment": "Department name | 部门名称"},
            {"name": "parent_id", "type": "uint64", "optional": true, "default": "0", "comment": "Parent ID | 父级ID"},
            {"name": "sort", "type": "uint32", "comment": "Sort | 排序"},
            {"name": "remark", "type": "string", "optional": true, "comment": "Remark | 备注"}
        ],
        "edges": [{"name": "children", "type": "to", "target": "Department", "inverse": "parent", "field": "parent_id", "unique": true}],
        "mixins": []
    });
    let llm = AnthropicDouble::start(vec![format!("Here is the schema:\n```json\n{answer}\n```")])
        .await
        .unwrap();
    let h = host(Some(llm.gateway()));
    let mut p = department();
    p.fields.clear();
    p.edges.clear();
    p.mixins.clear();
    let out = go(&f, &h, &p, &["rpc/**", "api/**"], "d1")
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(out.files, ALL_FILES.to_vec());
    let schema = git(
        &f.bare,
        &[
            "show",
            &format!("{}:rpc/ent/schema/department.go", out.branch),
        ],
    )
    .unwrap();
    assert!(
        schema.contains("mixins.SortMixin{}"),
        "sort maps to SortMixin:\n{schema}"
    );
    assert!(!schema.contains("field.Uint32(\"sort\")"), "{schema}");
    assert!(
        schema.contains("edge.To(\"children\", Department.Type)"),
        "{schema}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_twice_fails_clearly_and_pushes_nothing() {
    let f = fixture(&[]).await;
    let llm = AnthropicDouble::start(vec!["I think a department has a name.".into()])
        .await
        .unwrap();
    let h = host(Some(llm.gateway()));
    let mut p = department();
    p.fields.clear();
    let e = go(&f, &h, &p, &[], "x1").await.unwrap_err();
    assert!(!e.transient);
    assert!(
        e.message
            .contains("did not match the schema after one repair attempt"),
        "{}",
        e.message
    );
    assert_eq!(f.branches(), vec!["main"]);
    // Without a provider the description cannot be used: a clear reason too.
    let e = go(&f, &host(None), &p, &[], "x2").await.unwrap_err();
    assert!(e.message.contains("give explicit fields"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_make_target_fails_with_its_output_and_pushes_nothing() {
    let f = fixture(&[]).await;
    let mut p = department();
    p.commands = Some(vec![
        "make gen-ent".into(),
        "make broken".into(),
        "make test".into(),
    ]);
    let e = go(&f, &host(None), &p, &[], "m1").await.unwrap_err();
    assert!(
        e.message
            .contains("`make broken` failed with exit code 2; nothing was pushed"),
        "{}",
        e.message
    );
    assert!(e.message.contains("undefined: foo"), "{}", e.message);
    assert_eq!(e.commands.len(), 2, "make test never ran");
    assert!(e.commands[1].tail.contains("undefined: foo"));
    assert_eq!(f.branches(), vec!["main"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_module_is_refused_without_overwrite() {
    let f = fixture(&[("rpc/ent/schema/department.go", "package schema\n")]).await;
    let e = go(&f, &host(None), &department(), &[], "e1")
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "generator: the Department module exists (rpc/ent/schema/department.go); set overwrite: true to replace it"
    );
    assert_eq!(f.branches(), vec!["main"]);
    let mut p = department();
    p.overwrite = true;
    let out = go(&f, &host(None), &p, &[], "e2")
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(
        out.files
            .contains(&"rpc/ent/schema/department.go".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_paths_are_touched() {
    let f = fixture(&[]).await;
    // The module touches api/ too: with only rpc/** allowed, nothing is committed or pushed.
    let e = go(&f, &host(None), &department(), &["rpc/**"], "p1")
        .await
        .unwrap_err();
    assert!(
        e.message.contains(
            "refusing changes outside repository.allowedPaths [rpc/**]: api/desc/all.api"
        ),
        "{}",
        e.message
    );
    assert_eq!(f.branches(), vec!["main"]);
}
