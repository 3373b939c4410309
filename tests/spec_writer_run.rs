//! spec-writer's run (issue 20, the part built so far) on the doc-sync fixture repository (a
//! real git server on loopback), with an Anthropic TEST DOUBLE answering like an LLM and the
//! GitHub TEST DOUBLE: documents that pass the spec-kit checker are pushed with a pull request,
//! the plan's Feasibility names the entity and route that exist, the tasks for agents become
//! AgentJobs the admission rules accept; a malformed answer is repaired once, one that stays
//! malformed fails the job with the checker's report and nothing pushed.

use std::sync::Mutex;

use devagents::agents::HostError;
use devagents::agents::spec_writer::run::{self, AGENTJOBS_ARTIFACT, Host, Setup};
use devagents::api::{AgentJob, ArtifactRef, Repository, SpecNotion, SpecWriterParams};
use devagents::llm::gateway::CompletionRequest;
use devagents::services::git::Credentials;
use devagents::testing::docsync_cases::bare_with_steps;
use devagents::testing::git_server::{GitServer, branches, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::{AnthropicDouble, NotionDouble};
use devagents::testing::spec_cases::{PLAN, SPEC, TASKS, answer};

const TOKEN: &str = "ghp_specwritertesttoken0123456789";
const NOTION_TOKEN: &str = "secret_specwriternotion0123456789";
const DATABASE: &str = "22222222-3333-4444-8555-666666666666";
const SOURCE: &str = "33333333-4444-4555-8666-777777777777";
const PARENT: &str = "11111111-2222-4333-8444-555555555555";

struct TestHost {
    gateway: devagents::llm::gateway::Gateway,
    artifacts: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Host for TestHost {
    async fn progress(&self, _line: &str) -> Result<(), String> {
        Ok(())
    }
    async fn action(&self, _k: &str, _t: &str, _d: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    async fn llm(&self, r: &CompletionRequest) -> Result<Result<String, String>, HostError> {
        self.gateway
            .complete("team/spec", "spec-writer", r)
            .await
            .map(|c| Ok(c.text))
            .map_err(|e| HostError::refused(e.to_string()))
    }
    async fn artifact(&self, name: &str, bytes: &[u8]) -> Result<ArtifactRef, HostError> {
        self.artifacts
            .lock()
            .unwrap()
            .push((name.to_string(), bytes.to_vec()));
        Ok(ArtifactRef {
            name: name.into(),
            ..ArtifactRef::default()
        })
    }
}

struct Fixture {
    _root: tempfile::TempDir,
    bare: std::path::PathBuf,
    server: GitServer,
    github: GitHubDouble,
    work: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_with_steps(root.path(), "acme/core", "main", 0).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    Fixture {
        _root: root,
        bare,
        server,
        github: GitHubDouble::start(TOKEN).await.unwrap(),
        work: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    async fn run(
        &self,
        answers: Vec<String>,
    ) -> (Result<run::Outcome, run::Failure>, TestHost, usize) {
        self.run_with(answers, None).await
    }

    async fn run_with(
        &self,
        answers: Vec<String>,
        notion: Option<&NotionDouble>,
    ) -> (Result<run::Outcome, run::Failure>, TestHost, usize) {
        let llm = AnthropicDouble::start(answers).await.unwrap();
        let host = TestHost {
            gateway: llm.gateway(),
            artifacts: Mutex::new(Vec::new()),
        };
        let repo = Repository {
            url: self.server.url("acme/core"),
            base_branch: "main".into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: vec!["specs/**".into()],
        };
        let p = SpecWriterParams {
            feature: "department-tree".into(),
            requirements: "Departments form a tree; admins move them.".into(),
            answers: vec![],
            output_dir: None,
            notion: notion.map(|_| SpecNotion {
                secret: "notion-token".into(),
                database_id: DATABASE.into(),
                parent_page_id: PARENT.into(),
                api_url: None,
            }),
        };
        let setup = Setup {
            notion: notion.map(|n| devagents::services::notion::Notion::new(&n.url, NOTION_TOKEN)),
            workdir: self.work.path().join("w"),
            github_api: self.github.url.clone(),
            credentials: Some(Credentials {
                username: "x-access-token".into(),
                token: TOKEN.into(),
            }),
            short_id: "abc12345".into(),
            publish: true,
            namespace: "team".into(),
        };
        let r = run::run(&host, &repo, &p, &setup).await;
        let hits = *llm.hits.lock().unwrap();
        (r, host, hits)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_spec_with_its_feasibility_and_agent_jobs_goes_out_as_a_pull_request() {
    let f = fixture().await;
    let notion = NotionDouble::start(NOTION_TOKEN).await.unwrap();
    notion.with(|st| {
        st.database(DATABASE, &[(SOURCE, "Tasks")]);
        st.existing_page(PARENT);
    });
    let (r, host, hits) = f
        .run_with(vec![answer(SPEC, PLAN, TASKS)], Some(&notion))
        .await;
    let out = r.unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!((out.rounds, hits), (1, 1));
    assert_eq!(out.directory, "specs/001-department-tree");
    assert_eq!((out.stories, out.requirements, out.tasks), (2, 2, 6));
    // Grounded: what exists is a conflict, with the file that has it.
    assert_eq!(out.feasibility.conflicts.len(), 2, "{:?}", out.feasibility);
    let plan = git(
        &f.bare,
        &[
            "show",
            &format!("{}:specs/001-department-tree/plan.md", out.branch),
        ],
    )
    .unwrap();
    assert!(plan.contains("## Feasibility"), "{plan}");
    assert!(
        plan.contains(
            "**Conflict**: entity Department already exists (rpc/ent/schema/department.go)"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "**Conflict**: route POST /department/create is taken (api/desc/core/department.api)"
        ),
        "{plan}"
    );
    assert!(plan.contains("`make gen-api`"), "{plan}");
    // The tasks for agents: AgentJobs the admission rules accept.
    let artifacts = host.artifacts.lock().unwrap();
    let (name, yaml) = &artifacts[0];
    assert_eq!(name, AGENTJOBS_ARTIFACT);
    let jobs: Vec<AgentJob> = serde_yaml::Deserializer::from_slice(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let agents: Vec<&str> = jobs.iter().map(|j| j.spec.agent.as_str()).collect();
    assert_eq!(agents, ["migrator", "generator", "test-gen"]);
    assert_eq!(jobs[1].spec.generator.as_ref().unwrap().entity, "Position");
    assert!(
        jobs.iter()
            .all(|j| j.metadata.namespace.as_deref() == Some("team"))
    );
    let pr = f.github.with(|s| s.pulls.values().next().cloned()).unwrap();
    assert!(
        pr.body.contains("specs/001-department-tree/spec.md"),
        "{}",
        pr.body
    );
    assert!(pr.body.contains("T003 → generator"), "{}", pr.body);
    // Notion: the spec's page, and the tasks as rows of the database's data source, their
    // dependencies as relations to the rows made before them.
    let (pages, rows): (Vec<_>, Vec<_>) = notion.with(|st| {
        st.pages
            .iter()
            .skip(1)
            .cloned()
            .partition(|(_, b)| b["parent"]["page_id"] == PARENT)
    });
    assert_eq!(pages.len(), 1);
    assert_eq!(rows.len(), 6);
    assert!(
        rows.iter()
            .all(|(_, b)| b["parent"]["data_source_id"] == SOURCE)
    );
    let row_of = |task: &str| {
        rows.iter()
            .find(|(_, b)| {
                b["properties"]["Name"]["title"][0]["text"]["content"]
                    .as_str()
                    .unwrap()
                    .starts_with(task)
            })
            .unwrap()
    };
    let t005 = &row_of("T005").1;
    let deps: Vec<&str> = t005["properties"]["Depends on"]["relation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(deps, [row_of("T003").0.as_str(), row_of("T004").0.as_str()]);
    assert!(
        t005["properties"]["Spec"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.notion.so/")
    );
    assert_eq!(out.notion_rows.len(), 6);
    assert!(
        pr.body
            .contains("Notion: [the spec's page](https://www.notion.so/"),
        "{}",
        pr.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_is_repaired_once_and_one_that_stays_malformed_fails_the_job() {
    let f = fixture().await;
    let broken = answer(SPEC, PLAN, &TASKS.replace(" (FR-002)", ""));
    let (r, _, hits) = f.run(vec![broken.clone(), answer(SPEC, PLAN, TASKS)]).await;
    let out = r.unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!((out.rounds, hits), (2, 2));
    assert_eq!(out.repaired[0].rule, "coverage");

    let f = fixture().await;
    let (r, _, hits) = f.run(vec![broken.clone(), broken]).await;
    let e = r.expect_err("fails");
    assert_eq!(hits, 2);
    assert!(
        e.message
            .contains("spec.md:34: [coverage] FR-002 is covered by no task"),
        "{}",
        e.message
    );
    assert_eq!(branches(&f.bare), ["main"], "nothing pushed");
    assert_eq!(f.github.with(|s| s.pulls.len()), 0);
}
