//! doc-sync's whole run (issue 19) on the fixture repository (a real git server on loopback),
//! with the GitHub and Notion TEST DOUBLES: one commit per kind of API change, each documented
//! and its docs pull request merged before the next — the classified diff, the regenerated
//! Swagger, the changelog entry, the marked sections with every byte outside them unchanged,
//! the Notion page updated in place. A re-run and a commit without an API change write
//! nothing. Bad input (an `.api` file that does not parse, unbalanced markers, a Swagger
//! command that fails) fails the job with nothing pushed.

use std::path::PathBuf;

use devagents::agents::HostError;
use devagents::agents::doc_sync::run::{self, Host, Outcome, Setup};
use devagents::api::{DocNotion, DocSyncParams, Repository};
use devagents::llm::gateway::CompletionRequest;
use devagents::services::git::Credentials;
use devagents::services::notion::Notion;
use devagents::testing::docsync_cases::{CLAUDE_MD, bare_with_steps, steps};
use devagents::testing::git_server::{GitServer, commit_files, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::NotionDouble;

const TOKEN: &str = "ghp_docsynctesttoken0123456789";
const NOTION_TOKEN: &str = "secret_notiondocsync0123456789";
const PARENT: &str = "11111111-2222-4333-8444-555555555555";
const REPO: &str = "acme/core";

struct TestHost;

impl Host for TestHost {
    async fn progress(&self, _line: &str) -> Result<(), String> {
        Ok(())
    }
    async fn action(&self, _k: &str, _t: &str, _d: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    async fn llm(&self, _r: &CompletionRequest) -> Result<Result<String, String>, HostError> {
        panic!("doc-sync makes no LLM call")
    }
}

struct Fixture {
    _root: tempfile::TempDir,
    bare: PathBuf,
    server: GitServer,
    github: GitHubDouble,
    notion: NotionDouble,
    work: tempfile::TempDir,
    runs: usize,
}

async fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_with_steps(root.path(), REPO, "main", 0).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let notion = NotionDouble::start(NOTION_TOKEN).await.unwrap();
    // The parent page exists (created by someone, with content of its own).
    notion.with(|st| {
        st.existing_page(PARENT);
    });
    Fixture {
        _root: root,
        bare,
        server,
        github,
        notion,
        work: tempfile::tempdir().unwrap(),
        runs: 0,
    }
}

impl Fixture {
    fn repo(&self) -> Repository {
        Repository {
            url: self.server.url(REPO),
            base_branch: "main".into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: vec![
                "CLAUDE.md".into(),
                "CHANGELOG.md".into(),
                "core.json".into(),
                "docs/**".into(),
            ],
        }
    }

    fn setup(&mut self) -> Setup {
        self.runs += 1;
        Setup {
            workdir: self.work.path().join(format!("run{}", self.runs)),
            github_api: self.github.url.clone(),
            credentials: Some(Credentials {
                username: "x-access-token".into(),
                token: TOKEN.into(),
            }),
            short_id: format!("run{}", self.runs),
            publish: true,
            notion: Some(Notion::new(&self.notion.url, NOTION_TOKEN)),
        }
    }

    /// One run (one job): its Notion client keeps Notion's pace, at most 3 requests a second.
    async fn run(&mut self, p: &DocSyncParams) -> Result<Outcome, run::Failure> {
        let setup = self.setup();
        let from = self.notion.with(|st| st.times.len());
        let r = run::run(&TestHost, &self.repo(), p, &setup).await;
        let busiest = self.notion.with(|st| st.busiest_second(from));
        assert!(busiest <= 3, "{busiest} Notion requests within one second");
        r
    }

    fn branches(&self) -> Vec<String> {
        devagents::testing::git_server::branches(&self.bare)
    }

    /// A commit on main writing `files`.
    fn commit(&self, files: &[(String, String)], message: &str) {
        commit_files(&self.bare, "main", "main", files, message).unwrap();
    }

    /// Merge the docs pull request `n` (fast-forward, branch deleted, as GitHub does).
    fn merge(&self, n: u64, branch: &str) {
        git(
            &self.bare,
            &[
                "update-ref",
                "refs/heads/main",
                &format!("refs/heads/{branch}"),
            ],
        )
        .unwrap();
        git(
            &self.bare,
            &["update-ref", "-d", &format!("refs/heads/{branch}")],
        )
        .unwrap();
        self.github.with(|st| {
            st.pulls.get_mut(&(REPO.into(), n)).unwrap().merged = true;
        });
    }

    /// The file as committed (byte for byte).
    fn file(&self, rev: &str, path: &str) -> String {
        let out = std::process::Command::new("git")
            .args(["show", &format!("{rev}:{path}")])
            .current_dir(&self.bare)
            .output()
            .unwrap();
        assert!(out.status.success(), "{rev}:{path}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Notion's writes so far.
    fn notion_writes(&self) -> usize {
        self.notion
            .with(|st| st.requests.iter().filter(|(m, _, _)| m != "GET").count())
    }
}

fn params() -> DocSyncParams {
    DocSyncParams {
        notion: Some(DocNotion {
            secret: "notion-token".into(),
            parent_page_id: PARENT.into(),
            api_url: None,
        }),
        ..DocSyncParams::default()
    }
}

/// The text outside the marked sections.
fn outside(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if line.contains("devagents:end") {
            inside = false;
        }
        if !inside {
            out.push_str(line);
        }
        if line.contains("devagents:begin") {
            inside = true;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_api_change_is_documented_and_a_run_with_nothing_to_change_writes_nothing() {
    let mut f = fixture().await;
    // The first run documents the repository as it is (swagger, sections; no API change).
    let first = f
        .run(&params())
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(first.changes.is_empty(), "{:?}", first.changes);
    assert!(first.files.contains(&"core.json".to_string()), "{first:?}");
    assert!(first.notion_created, "{first:?}");
    let n = first.pull_request.expect("a docs pull request");
    f.merge(n, first.branch.as_deref().unwrap());

    for step in steps() {
        f.commit(&step.files, step.message);
        if step.name == "new group" {
            // Notion rate-limits once: the run waits as told and goes on.
            f.notion.with(|st| st.failures.push_back((429, Some(1))));
        }
        let writes_before = f.notion_writes();
        let prs_before = f.github.with(|st| st.pulls.len());
        let out = f
            .run(&params())
            .await
            .unwrap_or_else(|e| panic!("{}: {}", step.name, e.message));
        // The classified diff.
        for (kind, level, subject) in &step.expect {
            assert!(
                out.changes.iter().any(|c| c.kind == *kind
                    && serde_json::to_value(c.level).unwrap() == *level
                    && c.subject.to_lowercase().contains(&subject.to_lowercase())),
                "{}: no {kind} ({level}) of {subject} in {:#?}",
                step.name,
                out.changes
            );
        }
        let head = out.head_commit.clone();
        if step.expect.is_empty() {
            // Nothing to document: nothing committed, no pull request, Notion untouched.
            assert!(out.files.is_empty(), "{}: {out:?}", step.name);
            assert_eq!(out.pull_request, None, "{}", step.name);
            assert_eq!(f.github.with(|st| st.pulls.len()), prs_before);
            assert_eq!(out.notion_blocks, (0, 0), "{}", step.name);
            assert_eq!(f.notion_writes(), writes_before, "{}", step.name);
            assert!(out.summary.contains("nothing committed"), "{}", out.summary);
            continue;
        }
        // Swagger regenerated and in agreement with the .api diff (a disagreement fails).
        let swagger = out.swagger.as_ref().expect("swagger");
        assert_eq!(swagger.file, "core.json");
        assert!(!swagger.changes.is_empty(), "{}: {swagger:?}", step.name);
        let branch = out.branch.clone().expect("a docs branch");
        assert!(branch.starts_with("docs/devagents-sync-main"), "{branch}");
        let pr = out.pull_request.expect("a docs pull request");
        assert_eq!(f.github.with(|st| st.pulls.len()), prs_before + 1);
        // The changelog entry under [Unreleased].
        let changelog = f.file(&branch, "CHANGELOG.md");
        let unreleased = changelog
            .split("## [Unreleased]")
            .nth(1)
            .unwrap()
            .split("## [1.0.0]")
            .next()
            .unwrap();
        for line in &step.changelog {
            assert!(
                unreleased.contains(line),
                "{}: {line:?} not in\n{unreleased}",
                step.name
            );
        }
        assert!(
            changelog.ends_with("### Added\n\n- The first release.\n"),
            "{changelog}"
        );
        // The marked sections, and not a byte outside them.
        let claude = f.file(&branch, "CLAUDE.md");
        assert_eq!(outside(&claude), outside(CLAUDE_MD), "{}", step.name);
        assert!(claude.contains(step.shows), "{}: {claude}", step.name);
        assert!(
            claude.contains("| `make gen-swagger` | Generate the Swagger file core.json"),
            "{claude}"
        );
        // The Notion page: the same page, updated in place.
        let page = out.notion_page.clone().unwrap();
        assert_eq!(Some(&page), first.notion_page.as_ref(), "{}", step.name);
        assert!(!out.notion_created);
        let lines = f.notion.with(|st| st.page_lines(&page));
        assert!(
            lines.iter().any(|l| l.contains(step.shows)),
            "{}: {lines:#?}",
            step.name
        );
        // Run again before the merge: the open docs pull request already says it all.
        let writes = f.notion_writes();
        let again = f
            .run(&params())
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
        assert!(again.files.is_empty(), "{}: {again:?}", step.name);
        assert_eq!(again.pull_request, None);
        assert_eq!(again.notion_blocks, (0, 0));
        assert_eq!(f.notion_writes(), writes, "{}", step.name);
        assert_eq!(again.head_commit, head);
        f.merge(pr, &branch);
    }
    assert!(
        f.notion.with(|st| st.failures.is_empty()),
        "the 429 was met"
    );
    // The whole page after the last step: both groups, one parent link.
    let (lines, parent) = f.notion.with(|st| {
        (
            st.page_lines(first.notion_page.as_ref().unwrap()),
            st.page_lines(PARENT),
        )
    });
    assert_eq!(parent, vec!["child_page: Core API"], "{parent:?}");
    assert!(
        lines.iter().any(|l| l == "heading_2: department"),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l == "heading_2: position"),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("leader")), "{lines:#?}");
}

async fn fails_with_nothing_pushed(f: &mut Fixture, p: &DocSyncParams, want: &str) {
    let branches = f.branches();
    let writes = f.notion_writes();
    let e = f.run(p).await.expect_err("the run fails");
    assert!(e.message.contains(want), "{want:?} not in {}", e.message);
    assert!(!e.transient, "{}", e.message);
    assert_eq!(f.branches(), branches, "nothing pushed");
    assert_eq!(f.github.with(|st| st.pulls.len()), 0);
    assert_eq!(f.notion_writes(), writes, "no Notion writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_file_that_does_not_parse_fails_naming_file_and_line_with_nothing_pushed() {
    let mut f = fixture().await;
    f.commit(
        &[(
            "api/desc/core/department.api".into(),
            "syntax = \"v1\"\n\ntype DepartmentInfo {\n    Name *string `json:\"name\"`\n\nservice Core {\n".into(),
        )],
        "feat: half a file",
    );
    fails_with_nothing_pushed(&mut f, &params(), "api/desc/core/department.api:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbalanced_markers_fail_naming_file_and_line_with_nothing_pushed() {
    let mut f = fixture().await;
    let claude = CLAUDE_MD.replace("<!-- devagents:end api -->\n", "");
    f.commit(&[("CLAUDE.md".into(), claude)], "docs: lose a marker");
    fails_with_nothing_pushed(
        &mut f,
        &params(),
        "CLAUDE.md:19: section \"api\" is not closed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swagger_command_that_fails_fails_the_job_with_nothing_pushed() {
    let mut f = fixture().await;
    let p = DocSyncParams {
        swagger_target: Some("broken".into()),
        ..params()
    };
    fails_with_nothing_pushed(&mut f, &p, "`make broken` failed").await;
}
