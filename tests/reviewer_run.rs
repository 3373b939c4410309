//! The reviewer against a fixture repository (base commit + pull request commit on a real git
//! server on loopback) and the GitHub TEST DOUBLE serving the pull request: seeded defects of
//! several categories, each reported at its file and line by the deterministic checks (real
//! `go vet`), nothing on unchanged lines, no repeated comments on re-runs, fixed findings
//! listed, and bad input ending with a clear result.

use std::sync::Mutex;

use devagents::agents::Host;
use devagents::agents::reviewer::{diff, run};
use devagents::api::{Repository, ReviewCheck, ReviewerParams};
use devagents::llm::gateway::{CompletionRequest, Gateway};
use devagents::services::git::Credentials;
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::{GitHubDouble, PullFixture};
use devagents::testing::saas_doubles::AnthropicDouble;

const TOKEN: &str = "ghp_reviewertesttoken0123456789ab";

/// The agent API stand-in; LLM calls go through a real gateway to a provider test double.
struct TestHost(Option<Gateway>);

impl Host for TestHost {
    async fn progress(&self, _line: &str) -> Result<(), String> {
        Ok(())
    }
    async fn action(&self, _k: &str, _t: &str, _d: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    async fn llm(
        &self,
        r: &CompletionRequest,
    ) -> Result<Result<String, String>, devagents::agents::HostError> {
        match &self.0 {
            None => Ok(Err("no LLM provider is configured".into())),
            Some(g) => g
                .complete("team/review", "reviewer", r)
                .await
                .map(|c| Ok(c.text))
                .map_err(|e| devagents::agents::HostError::refused(e.to_string())),
        }
    }
}

const STORE_BASE: &str =
    "package store\n\n// Count returns n.\nfunc Count(n int) int {\n\treturn n\n}\n";

const STORE_PR: &str = r#"package store

import (
	"crypto/tls"
	"database/sql"
	"fmt"
	"os"
)

var apiToken = "tok_live_abcdef123456"

// Count returns n.
func Count(n int) int {
	return n
}

func Delete(db *sql.DB, id string) error {
	_, err := db.Exec("DELETE FROM items WHERE id = " + id)
	return err
}

func Find(db *sql.DB, name string) (*sql.Rows, error) {
	return db.Query(fmt.Sprintf("SELECT * FROM items WHERE name = '%s'", name))
}

func Client() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true}
}

func Save(path string, data []byte) {
	f, _ := os.Create(path)
	f.Write(data)
	f.Close()
}

func Describe() string {
	return fmt.Sprintf("%d items", "many")
}
"#;

const TOKEN_GO: &str = r#"package auth

import (
	"math/rand"
	"strconv"

	"example.com/shop/pkg/errorx"
)

// NewToken makes a session token.
func NewToken() string {
	return strconv.Itoa(rand.Int())
}

// Check validates a token.
func Check(s string) error {
	if s == "" {
		return errorx.NewInvalidArgumentError("auth.tokenMissing")
	}
	return errorx.NewInvalidArgumentError("common.ok")
}
"#;

fn base_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("go.mod", "module example.com/shop\n\ngo 1.19\n"),
        ("pkg/store/store.go", STORE_BASE),
        (
            "pkg/store/store_test.go",
            "package store\n\nimport \"testing\"\n\nfunc TestCount(t *testing.T) {\n\tif Count(2) != 2 {\n\t\tt.Fatal(\"count\")\n\t}\n}\n",
        ),
        (
            "pkg/errorx/errorx.go",
            "package errorx\n\nimport \"errors\"\n\n// NewInvalidArgumentError is an error with an i18n key.\nfunc NewInvalidArgumentError(key string) error {\n\treturn errors.New(key)\n}\n",
        ),
        (
            "api/internal/i18n/locale/en.json",
            "{\n  \"common\": {\n    \"ok\": \"OK\"\n  }\n}\n",
        ),
        (
            "api/internal/i18n/locale/zh.json",
            "{\n  \"common\": {\n    \"ok\": \"好\"\n  }\n}\n",
        ),
    ]
}

struct Fixture {
    _root: tempfile::TempDir,
    bare: std::path::PathBuf,
    seed: tempfile::TempDir,
    server: GitServer,
    github: GitHubDouble,
    work: tempfile::TempDir,
    runs: Mutex<usize>,
}

impl Fixture {
    async fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let bare = bare_repo_with(root.path(), "acme/shop", "main", &base_files()).unwrap();
        let seed = tempfile::tempdir().unwrap();
        git(seed.path(), &["clone", "-q", bare.to_str().unwrap(), "."]).unwrap();
        let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
            .await
            .unwrap();
        let github = GitHubDouble::start(TOKEN).await.unwrap();
        Fixture {
            _root: root,
            bare,
            seed,
            server,
            github,
            work: tempfile::tempdir().unwrap(),
            runs: Mutex::new(0),
        }
    }

    /// Commit `files` on `branch` (created from main when new), push, and serve it as PR `n`.
    fn push_pr(&self, n: u64, branch: &str, files: &[(&str, &str)]) -> String {
        let s = self.seed.path();
        if git(s, &["rev-parse", "--verify", "-q", branch]).is_err() {
            git(s, &["checkout", "-q", "-b", branch, "origin/main"]).unwrap();
        } else {
            git(s, &["checkout", "-q", branch]).unwrap();
        }
        for (p, t) in files {
            let path = s.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, t).unwrap();
        }
        git(s, &["add", "-A"]).unwrap();
        git(s, &["commit", "-q", "--allow-empty", "-m", "change"]).unwrap();
        git(s, &["push", "-q", "-f", "origin", branch]).unwrap();
        let head = git(s, &["rev-parse", "HEAD"]).unwrap();
        let base = git(s, &["rev-parse", "origin/main"]).unwrap();
        let diff_text = git(&self.bare, &["diff", "--binary", "main", branch]).unwrap();
        self.github.add_pull(
            "acme/shop",
            n,
            PullFixture {
                title: format!("PR {n}"),
                head_ref: branch.into(),
                head_sha: head.clone(),
                base_ref: "main".into(),
                base_sha: base,
                diff: if diff_text.is_empty() {
                    String::new()
                } else {
                    format!("{diff_text}\n")
                },
                ..Default::default()
            },
        );
        head
    }

    async fn review(&self, p: ReviewerParams) -> Result<run::Outcome, run::Failure> {
        self.review_with(&TestHost(None), p).await
    }

    async fn review_with(
        &self,
        host: &TestHost,
        p: ReviewerParams,
    ) -> Result<run::Outcome, run::Failure> {
        let i = {
            let mut r = self.runs.lock().unwrap();
            *r += 1;
            *r
        };
        let repo = Repository {
            url: self.server.url("acme/shop"),
            base_branch: "main".into(),
            credentials_secret: Some("github-token".into()),
            allowed_paths: vec![],
        };
        let setup = run::Setup {
            workdir: self.work.path().join(format!("run-{i}")),
            github_api: self.github.url.clone(),
            credentials: Some(Credentials {
                username: "x-access-token".into(),
                token: TOKEN.into(),
            }),
        };
        run::run(host, Some(&repo), &p, &setup).await
    }
}

fn params(n: i64) -> ReviewerParams {
    ReviewerParams {
        pull_request: n,
        auto_comment: true,
        checks: vec![
            ReviewCheck::Lint,
            ReviewCheck::I18n,
            ReviewCheck::Tests,
            ReviewCheck::Security,
        ],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_defects_are_found_once_and_fixed_ones_are_listed() {
    let f = Fixture::new().await;
    f.push_pr(
        7,
        "feature",
        &[
            ("pkg/store/store.go", STORE_PR),
            ("pkg/auth/token.go", TOKEN_GO),
            (
                "api/internal/i18n/locale/en.json",
                "{\n  \"common\": {\n    \"ok\": \"OK\"\n  },\n  \"extra\": \"only in en\"\n}\n",
            ),
        ],
    );
    let out = f
        .review(params(7))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let found: Vec<(String, u32, String)> = out
        .findings
        .iter()
        .map(|x| (x.file.clone(), x.line, x.rule.clone()))
        .collect();
    let want: Vec<(&str, u32, &str)> = vec![
        ("pkg/store/store.go", 10, "secret/generic-secret"),
        ("pkg/store/store.go", 18, "sql-string-building"),
        ("pkg/store/store.go", 23, "sql-string-building"),
        ("pkg/store/store.go", 27, "insecure-tls"),
        ("pkg/store/store.go", 32, "ignored-error"),
        ("pkg/store/store.go", 33, "ignored-error"),
        // On the call that makes the token, not on the import.
        ("pkg/auth/token.go", 12, "weak-random"),
        ("pkg/auth/token.go", 18, "missing-i18n-key"),
        ("pkg/auth/token.go", 1, "missing-tests"),
        ("api/internal/i18n/locale/en.json", 5, "locale-key-missing"),
    ];
    for (file, line, rule) in &want {
        assert!(
            found
                .iter()
                .any(|(f2, l2, r2)| f2 == file && l2 == line && r2 == rule),
            "{rule} at {file}:{line} not reported; found {found:#?}"
        );
    }
    // go vet (real): the printf with a wrong argument type.
    assert!(
        found
            .iter()
            .any(|(f2, l2, _)| f2 == "pkg/store/store.go" && *l2 == 37),
        "go vet's printf finding missing: {found:#?} notes {:?}",
        out.notes
    );
    assert!(out.findings.len() >= 11);
    // Coverage of the changed packages that have tests (real go test -cover).
    assert_eq!(
        out.coverage.keys().collect::<Vec<_>>(),
        vec!["example.com/shop/pkg/store"],
        "{:?}",
        out.notes
    );
    assert!(out.coverage["example.com/shop/pkg/store"] > 0.0);
    assert!(out.review_url.is_some());

    // Every inline comment sits on a line the pull request adds.
    let posted = f.github.with(|s| s.reviews.last().unwrap().2.clone());
    let files = diff::parse(
        &f.github
            .with(|s| s.pulls[&("acme/shop".to_string(), 7)].diff.clone()),
    )
    .unwrap();
    for c in posted["comments"].as_array().unwrap() {
        let (path, line) = (
            c["path"].as_str().unwrap(),
            c["line"].as_u64().unwrap() as u32,
        );
        let file = files.iter().find(|x| x.path() == path).unwrap();
        assert!(
            file.added().contains_key(&line),
            "comment on an unchanged line {path}:{line}"
        );
    }
    assert_eq!(posted["comments"].as_array().unwrap().len(), out.posted);

    // The same head again: nothing new, nothing posted.
    let again = f
        .review(params(7))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(again.posted, 0);
    assert!(
        again.summary.contains("none new since the last review"),
        "{}",
        again.summary
    );
    assert_eq!(f.github.with(|s| s.reviews.len()), 1);

    // A commit that fixes two defects: only new findings (none), the two listed as fixed.
    let fixed = STORE_PR
        .replace(
            "\t_, err := db.Exec(\"DELETE FROM items WHERE id = \" + id)",
            "\t_, err := db.Exec(\"DELETE FROM items WHERE id = $1\", id)",
        )
        .replace("InsecureSkipVerify: true", "MinVersion: tls.VersionTLS12");
    f.push_pr(7, "feature", &[("pkg/store/store.go", &fixed)]);
    let next = f
        .review(params(7))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!((next.posted, next.fixed), (0, 2), "{}", next.summary);
    let body = f.github.with(|s| {
        s.reviews.last().unwrap().2["body"]
            .as_str()
            .unwrap()
            .to_string()
    });
    assert!(body.contains("#### Fixed since the last review"), "{body}");
    assert!(
        body.contains("sql-string-building") && body.contains("insecure-tls"),
        "{body}"
    );
    assert_eq!(f.github.with(|s| s.reviews.len()), 2);
}

/// Security: a fork's code (its tests) never runs in the Pod that holds the repository token,
/// unless the job says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forks_tests_do_not_run_unless_the_job_allows_it() {
    let f = Fixture::new().await;
    f.push_pr(9, "from-fork", &[("pkg/store/store.go", STORE_PR)]);
    f.github.mark_fork("acme/shop", 9, "mallory/shop");
    let out = f
        .review(params(9))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(out.coverage.is_empty(), "{:?}", out.coverage);
    assert!(
        out.notes.iter().any(|n| n.contains(
            "go test -cover not run: the pull request comes from mallory/shop"
        )),
        "{:?}",
        out.notes
    );
    let mut allowed = params(9);
    allowed.run_fork_code = true;
    let out = f
        .review(allowed)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(
        out.coverage.keys().collect::<Vec<_>>(),
        vec!["example.com/shop/pkg/store"],
        "{:?}",
        out.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_with_a_clear_result() {
    let f = Fixture::new().await;
    // A pull request that does not exist.
    let e = f.review(params(404)).await.unwrap_err();
    assert_eq!(
        e.message,
        "reviewer: pull request #404 of acme/shop does not exist"
    );
    // A diff of zero files.
    f.push_pr(1, "empty", &[]);
    let out = f
        .review(params(1))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(
        out.summary,
        "pull request #1 changes no files; nothing to review"
    );
    // Binary files only.
    f.push_pr(2, "binary", &[("logo.png", "\u{0}\u{1}\u{2}PNG\u{0}")]);
    let out = f
        .review(params(2))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(
        out.summary.contains("only binary or mode-only files (1)"),
        "{}",
        out.summary
    );
    // A 20,000-line diff.
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    f.push_pr(3, "big", &[("data/big.txt", &big)]);
    let out = f
        .review(params(3))
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!(out.summary.starts_with("#3: 0 findings"), "{}", out.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_findings_merge_duplicates_drop_and_off_diff_ones_go_to_the_summary() {
    let f = Fixture::new().await;
    f.push_pr(9, "feature", &[("pkg/store/store.go", STORE_PR)]);
    let answer = serde_json::json!([
        // New: on an added line.
        {"file": "pkg/store/store.go", "line": 31, "severity": "error", "category": "error_handling",
         "message": "the error of os.Create is discarded", "suggestion": "check err"},
        // The same line the insecure-tls check reports: dropped.
        {"file": "pkg/store/store.go", "line": 27, "severity": "warning", "category": "security",
         "message": "InsecureSkipVerify disables verification"},
        // An unchanged line: summary only.
        {"file": "pkg/store/store.go", "line": 14, "severity": "info", "category": "style",
         "message": "Count is trivial"}
    ]);
    let llm = AnthropicDouble::start(vec![format!("Here are the issues:\n{answer}")])
        .await
        .unwrap();
    let host = TestHost(Some(llm.gateway()));
    let mut p = params(9);
    p.checks.push(ReviewCheck::Llm);
    let out = f
        .review_with(&host, p)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let llm: Vec<(u32, &str)> = out
        .findings
        .iter()
        .filter(|x| x.source == "llm")
        .map(|x| (x.line, x.category.as_str()))
        .collect();
    assert_eq!(
        llm,
        vec![(31, "error_handling"), (14, "style")],
        "{:?}",
        out.notes
    );
    assert_eq!(
        out.findings.iter().filter(|x| x.line == 27).count(),
        1,
        "the duplicate was kept"
    );
    let review = f.github.with(|s| s.reviews.last().unwrap().2.clone());
    let inline: Vec<u64> = review["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["line"].as_u64().unwrap())
        .collect();
    assert!(inline.contains(&31) && !inline.contains(&14), "{inline:?}");
    let body = review["body"].as_str().unwrap();
    assert!(
        body.contains("#### Not on the changed lines") && body.contains("Count is trivial"),
        "{body}"
    );
}
