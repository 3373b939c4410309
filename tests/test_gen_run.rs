//! test-gen's whole run (issue 18) against the fixture module on a real git server on
//! loopback, with an Anthropic TEST DOUBLE answering like an LLM would — one test that does not
//! compile, one `go vet` refuses, a flaky one, one that reveals the fixture's real bug, one
//! that adds nothing, one that asserts nothing, and good ones — and pull requests through the
//! GitHub TEST DOUBLE. The pushed branch is checked out again and `go test -cover` run on it.
//! Without an LLM: characterization tests, labelled. Bad input fails with nothing pushed.

use devagents::agents::HostError;
use devagents::agents::test_gen::run::{self, Host, Setup};
use devagents::api::{Repository, TestGenParams};
use devagents::llm::gateway::CompletionRequest;
use devagents::services::git::Credentials;
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::AnthropicDouble;
use devagents::testing::testgen_cases::{cases, module};

const TOKEN: &str = "ghp_testgentesttoken0123456789";

struct TestHost(Option<devagents::llm::gateway::Gateway>);

impl Host for TestHost {
    async fn progress(&self, _line: &str) -> Result<(), String> {
        Ok(())
    }
    async fn action(&self, _k: &str, _t: &str, _d: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    async fn llm(&self, r: &CompletionRequest) -> Result<Result<String, String>, HostError> {
        match &self.0 {
            None => Ok(Err("no LLM provider is configured".into())),
            Some(g) => g
                .complete("team/test-gen", "test-gen", r)
                .await
                .map(|c| Ok(c.text))
                .map_err(|e| HostError::refused(e.to_string())),
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
    let mut files = module();
    files.extend_from_slice(extra);
    let bare = bare_repo_with(root.path(), "acme/shop", "main", &files).unwrap();
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
    fn repo(&self) -> Repository {
        Repository {
            url: self.server.url("acme/shop"),
            base_branch: "main".into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: vec![],
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

fn params(packages: &[&str]) -> TestGenParams {
    TestGenParams {
        packages: packages.iter().map(|p| p.to_string()).collect(),
        functions: vec![],
        coverage_target: Some(70),
        mocks: true,
        max_rounds: Some(3),
    }
}

/// The LLM test double's answers: every fixture candidate, in the fixture's order.
fn answers() -> Vec<String> {
    cases()
        .iter()
        .map(|c| serde_json::json!({ "function": c.target, "code": c.code }).to_string())
        .collect()
}

#[tokio::test]
async fn tests_are_kept_only_when_they_pass_every_filter_and_the_pushed_branch_reaches_the_target()
{
    let f = fixture(&[]).await;
    let llm = AnthropicDouble::start(answers()).await.unwrap();
    let out = run::run(
        &TestHost(Some(llm.gateway())),
        &f.repo(),
        &params(&["pkg/pricing"]),
        &f.setup("a1b2c3d4"),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message));
    eprintln!("{}\nby filter: {:?}", out.summary, out.by_filter);
    for filter in ["build", "vet", "flaky", "bug", "coverage", "mutation"] {
        assert_eq!(
            out.by_filter.get(filter),
            Some(&1),
            "{filter}: {:?}",
            out.by_filter
        );
    }
    assert!(out.by_filter["kept"] >= 3, "{:?}", out.by_filter);
    assert!(out.coverage_after >= 70.0, "{}", out.summary);
    assert!(out.coverage_before < 30.0);
    // The suspected bug is reported with its case, and left out of the pull request's files.
    let pr = f.github.with(|s| s.pulls.values().next().cloned()).unwrap();
    assert!(
        pr.body.contains("Suspected bugs") && pr.body.contains("Clamp"),
        "{}",
        pr.body
    );
    assert_eq!(out.pull_request, Some(1));
    let discount = out
        .functions
        .iter()
        .find(|x| x.function == "Discount")
        .unwrap();
    assert!(discount.after > discount.before, "{discount:?}");
    // The pushed branch, checked out anew: its tests pass and go test -cover confirms it.
    let check = tempfile::tempdir().unwrap();
    git(
        check.path(),
        &[
            "clone",
            "-q",
            "-b",
            &out.branch,
            f.bare.to_str().unwrap(),
            ".",
        ],
    )
    .unwrap();
    // No dropped test is in it: not the one that reveals the bug, not the flaky one.
    let pushed = git(
        check.path(),
        &["grep", "-l", "-e", "Clamp(15, 0, 10)", "-e", "discountRuns"],
    );
    assert!(pushed.is_err(), "a dropped test was pushed: {pushed:?}");
    let cov = devagents::agents::test_gen::coverage::measure(
        check.path(),
        &["./pkg/pricing".to_string()],
        None,
    )
    .await
    .unwrap();
    assert!(cov.total >= 70.0, "the pushed branch: {}", cov.total);
    assert!((cov.total - out.coverage_after).abs() < 0.05);
}

#[tokio::test]
async fn without_an_llm_the_tests_are_characterization_tests_and_say_so() {
    let f = fixture(&[]).await;
    let out = run::run(
        &TestHost(None),
        &f.repo(),
        &params(&["pkg/pricing"]),
        &f.setup("b1"),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(out.characterization, "{}", out.summary);
    assert!(out.summary.contains("characterization"), "{}", out.summary);
    assert!(out.coverage_after > out.coverage_before, "{}", out.summary);
    let kept: Vec<_> = out.tests.iter().filter(|t| t.verdict.kept()).collect();
    assert!(!kept.is_empty());
    let pr = f.github.with(|s| s.pulls.values().next().cloned()).unwrap();
    assert!(pr.body.contains("Characterization tests"), "{}", pr.body);
    let check = tempfile::tempdir().unwrap();
    git(
        check.path(),
        &[
            "clone",
            "-q",
            "-b",
            &out.branch,
            f.bare.to_str().unwrap(),
            ".",
        ],
    )
    .unwrap();
    let text = std::fs::read_to_string(check.path().join(&kept[0].file)).unwrap();
    assert!(
        text.contains("Characterization tests: they pin what the code does today"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_input_fails_clearly_with_nothing_pushed() {
    let f = fixture(&[
        (
            "pkg/broken/broken.go",
            "package broken\n\nfunc Broken() int {\n\treturn \"x\"\n}\n",
        ),
        (
            "pkg/consts/consts.go",
            "package consts\n\nconst Answer = 42\n",
        ),
    ])
    .await;
    let before = f.branches();
    for (pkg, want) in [
        ("pkg/broken", "does not build"),
        ("pkg/consts", "declares no functions"),
        ("pkg/nowhere", "is not a directory of the repository"),
    ] {
        let llm = AnthropicDouble::start(answers()).await.unwrap();
        let e = run::run(
            &TestHost(Some(llm.gateway())),
            &f.repo(),
            &params(&[pkg]),
            &f.setup(&pkg.replace('/', "-")),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{pkg} must fail"));
        assert!(e.message.contains(want), "{pkg}: {}", e.message);
        assert!(!e.transient);
    }
    assert_eq!(f.branches(), before, "something was pushed");
    assert_eq!(f.github.with(|s| s.pulls.len()), 0);
}
