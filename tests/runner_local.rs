//! `agent-runner local`: agents run in-process without a cluster, on a job manifest and a
//! local repository (real git, real bare repositories; no GitHub, no LLM provider).

use std::path::Path;
use std::process::Command;

use devagents::testing::fixtures::simple_admin_repo;
use devagents::testing::git_server::{bare_repo_with, git};

fn runner(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agent-runner"))
        .arg("local")
        .args(args)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("GITHUB_TOKEN")
        .env_remove("DEVAGENTS_LLM_PROVIDER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let result = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), result, stderr)
}

/// `agent-runner local --no-push` on the manifest `text` (written to `root/name`), in
/// `root/work`: (exit code, result, stderr, the work directory).
fn local_no_push(
    root: &Path,
    name: &str,
    text: &str,
) -> (i32, serde_json::Value, String, std::path::PathBuf) {
    let job = write(root, name, text);
    let work = root.join("work");
    let (code, result, err) = runner(&[
        "--job",
        &job,
        "--workdir",
        work.to_str().unwrap(),
        "--no-push",
    ]);
    (code, result, err, work)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn the_probe_runs_here_with_its_result_on_stdout_and_its_artifact_in_the_directory() {
    let d = tempfile::tempdir().unwrap();
    let job = write(
        d.path(),
        "probe.yaml",
        "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {name: hello}\nspec:\n  agent: probe\n  probe: {message: hi, resultBytes: 1000, llmPrompt: say hi}\n",
    );
    let arts = d.path().join("arts");
    let (code, result, err) = runner(&["--job", &job, "--artifacts", arts.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("probe: attempt 1 started: hi"), "{err}");
    assert_eq!(result["data"]["resultBytes"], 1000, "{result}");
    // No provider: the LLM step says it was skipped, never a made-up answer.
    assert!(
        result["data"]["llm"]
            .as_str()
            .unwrap()
            .starts_with("skipped: no LLM provider"),
        "{result}"
    );
    assert_eq!(std::fs::read(arts.join("result")).unwrap().len(), 1000);
    assert_eq!(result["artifacts"][0]["name"], "result");

    // Its exit code is the agent's: a probe told to fail fails with that code.
    let job = write(
        d.path(),
        "fail.yaml",
        "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {name: bad}\nspec: {agent: probe, probe: {exitCode: 7, message: boom}}\n",
    );
    let (code, _, err) = runner(&["--job", &job]);
    assert_eq!(code, 7, "{err}");
}

#[test]
fn a_bad_manifest_is_refused_with_the_field_that_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    let job = write(
        d.path(),
        "gen.yaml",
        "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {name: g}\nspec: {agent: generator, generator: {entity: Department}}\n",
    );
    let (code, _, err) = runner(&["--job", &job]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("spec.repository is required for the generator agent"),
        "{err}"
    );
    let (code, _, err) = runner(&["--job", &d.path().join("missing.yaml").to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn the_generator_commits_the_module_on_a_local_branch_and_pushes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repo_with(root.path(), "acme/core", "main", &simple_admin_repo()).unwrap();
    let (code, result, err, work) = local_no_push(
        root.path(),
        "gen.yaml",
        &format!(
            "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {{name: dept}}\nspec:\n  agent: generator\n  repository: {{url: '{}', baseBranch: main}}\n  generator:\n    entity: Department\n    fields: [{{name: title, type: string}}]\n    commands: ['test -f rpc/ent/schema/department.go']\n",
            bare.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    let data = &result["data"];
    let branch = data["branch"].as_str().unwrap();
    assert!(branch.starts_with("agents/generator/department-"), "{data}");
    assert!(data["pullRequest"].is_null(), "{data}");
    assert!(
        data["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "rpc/ent/schema/department.go"),
        "{data}"
    );
    // The commit is on the local branch of the checkout, and the remote never saw it.
    let checkout = work.join("repo");
    let local = git(&checkout, &["rev-parse", branch]).unwrap();
    assert_eq!(local, data["commit"].as_str().unwrap());
    assert!(git(&bare, &["rev-parse", "--verify", "-q", branch]).is_err());
    assert!(!err.contains("action: git_push"), "{err}");
}

#[test]
fn the_migrator_validates_on_a_local_postgresql_and_commits_the_migration_locally() {
    let root = tempfile::tempdir().unwrap();
    let bare = devagents::testing::migrator_cases::bare_repository(root.path()).unwrap();
    let (code, result, err, work) = local_no_push(
        root.path(),
        "migrate.yaml",
        &format!(
            "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {{name: migrate}}\nspec:\n  agent: migrator\n  repository: {{url: '{}', baseBranch: main, allowedPaths: ['rpc/migrations/**']}}\n  migrator: {{name: add_department, toRef: feature/department}}\n",
            bare.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    let data = &result["data"];
    // Validated on a throwaway PostgreSQL the run started (no databaseSecret).
    assert!(err.contains("starting a local PostgreSQL"), "{err}");
    assert_eq!(data["validation"]["ok"], true, "{data}");
    assert_eq!(data["destructive"], true);
    // Nothing leaves the machine, so the destructive change asks no approval.
    assert!(data["approval"].is_null(), "{data}");
    assert!(data["pullRequest"].is_null(), "{data}");
    let branch = data["branch"].as_str().unwrap();
    let checkout = work.join("repo");
    assert_eq!(
        git(&checkout, &["rev-parse", branch]).unwrap(),
        data["commit"].as_str().unwrap()
    );
    assert!(git(&bare, &["rev-parse", "--verify", "-q", branch]).is_err());
    // The lint labels are in the progress, each with its statement.
    assert!(err.contains("[destructive:drop-column]"), "{err}");
}

#[test]
fn test_gen_without_an_llm_commits_labelled_characterization_tests_locally() {
    let root = tempfile::tempdir().unwrap();
    let bare = bare_repo_with(
        root.path(),
        "acme/shop",
        "main",
        &devagents::testing::testgen_cases::module(),
    )
    .unwrap();
    let (code, result, err, work) = local_no_push(
        root.path(),
        "tests.yaml",
        &format!(
            "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {{name: tests}}\nspec:\n  agent: test-gen\n  repository: {{url: '{}', baseBranch: main}}\n  testGen: {{packages: [pkg/pricing], coverageTarget: 70}}\n",
            bare.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    let data = &result["data"];
    assert_eq!(data["characterization"], true, "{data}");
    assert!(
        data["coverageAfter"].as_f64().unwrap() > data["coverageBefore"].as_f64().unwrap(),
        "{data}"
    );
    assert!(data["pullRequest"].is_null(), "{data}");
    let branch = data["branch"].as_str().unwrap();
    assert_eq!(
        git(&work.join("repo"), &["rev-parse", branch]).unwrap(),
        data["commit"].as_str().unwrap()
    );
    assert!(
        git(&bare, &["rev-parse", "--verify", "-q", branch]).is_err(),
        "pushed"
    );
}

#[test]
fn doc_sync_documents_the_last_commit_on_a_local_branch_and_pushes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let bare =
        devagents::testing::docsync_cases::bare_with_steps(root.path(), "acme/core", "main", 1)
            .unwrap();
    let (code, result, err, work) = local_no_push(
        root.path(),
        "docs.yaml",
        &format!(
            "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {{name: docs}}\nspec:\n  agent: doc-sync\n  repository: {{url: '{}', baseBranch: main}}\n  docSync: {{}}\n",
            bare.display()
        ),
    );
    assert_eq!(code, 0, "{err}");
    let data = &result["data"];
    assert_eq!(data["changes"][0]["kind"], "endpoint-added", "{data}");
    assert_eq!(data["swagger"]["file"], "core.json", "{data}");
    assert!(data["pullRequest"].is_null(), "{data}");
    let branch = data["branch"].as_str().unwrap();
    assert_eq!(branch, "docs/devagents-sync-main");
    let claude = git(
        &work.join("repo"),
        &["show", &format!("{branch}:CLAUDE.md")],
    )
    .unwrap();
    assert!(claude.contains("`POST /department/tree`"), "{claude}");
    assert!(
        git(&bare, &["rev-parse", "--verify", "-q", branch]).is_err(),
        "pushed"
    );
}

#[test]
fn the_reviewer_reviews_a_head_ref_against_a_base_ref_and_prints_the_review() {
    let root = tempfile::tempdir().unwrap();
    let base = [
        ("go.mod", "module example.com/shop\n\ngo 1.19\n"),
        (
            "store/store.go",
            "package store\n\n// Count returns n.\nfunc Count(n int) int {\n\treturn n\n}\n",
        ),
    ];
    let bare = bare_repo_with(root.path(), "acme/shop", "main", &base).unwrap();
    let seed = root.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(&seed, &["clone", "-q", bare.to_str().unwrap(), "."]).unwrap();
    git(&seed, &["checkout", "-q", "-b", "feature"]).unwrap();
    std::fs::write(
        seed.join("store/client.go"),
        "package store\n\nimport \"crypto/tls\"\n\n// Config is the client's TLS.\nfunc Config() *tls.Config {\n\treturn &tls.Config{InsecureSkipVerify: true}\n}\n",
    )
    .unwrap();
    git(&seed, &["add", "-A"]).unwrap();
    git(&seed, &["commit", "-q", "-m", "client"]).unwrap();
    git(&seed, &["push", "-q", "origin", "feature"]).unwrap();
    let head = git(&seed, &["rev-parse", "HEAD"]).unwrap();
    let job = write(
        root.path(),
        "review.yaml",
        &format!(
            "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {{name: rev}}\nspec:\n  agent: reviewer\n  repository: {{url: '{}', baseBranch: main}}\n  reviewer: {{pullRequest: 1, checks: [security, tests]}}\n",
            bare.display()
        ),
    );
    let (code, result, err) = runner(&[
        "--job",
        &job,
        "--base",
        "main",
        "--head",
        "feature",
        "--no-push",
    ]);
    assert_eq!(code, 0, "{err}");
    let data = &result["data"];
    assert_eq!(data["headSha"], head, "{data}");
    let comments = data["review"]["comments"].as_array().unwrap();
    assert!(
        comments
            .iter()
            .any(|c| c["path"] == "store/client.go" && c["line"] == 7),
        "{data}"
    );
    // Only the head's changes: nothing on the base's unchanged file.
    assert!(
        comments.iter().all(|c| c["path"] != "store/store.go"),
        "{data}"
    );
    assert!(data["reviewUrl"].is_null(), "{data}");
    assert!(
        result["summary"]
            .as_str()
            .unwrap()
            .contains("printed, not posted"),
        "{result}"
    );
}

#[test]
fn kubectl_agent_run_local_runs_the_job_it_builds_without_a_cluster() {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args([
            "run",
            "probe",
            "--message",
            "from-cli",
            "--name",
            "cli",
            "--local",
        ])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("DEVAGENTS_LLM_PROVIDER")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("probe: attempt 1 started: from-cli"),
        "{stderr}"
    );
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(result["summary"].is_string(), "{result}");
}

/// In a Pod without an agent API, a success's result (its summary and data) is the
/// termination message, in the form the operator reads and redacted part by part.
#[test]
fn in_a_pod_without_the_agent_api_a_successful_result_is_the_termination_message() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("ghp_{}", "A1b2C3d4E5".repeat(4));
    let out = Command::new(env!("CARGO_BIN_EXE_agent-runner"))
        .arg("run")
        .env_remove("DEVAGENTS_API_URL")
        .env("DEVAGENTS_JOB_NAME", "probe-1")
        .env("DEVAGENTS_JOB_NAMESPACE", "team")
        .env(
            "DEVAGENTS_JOB_SPEC",
            format!(r#"{{"agent":"probe","probe":{{"message":"pushed with {token}","resultBytes":10}}}}"#),
        )
        .env(
            "DEVAGENTS_TERMINATION_MESSAGE_PATH",
            dir.path().join("termination-log"),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let msg = std::fs::read_to_string(dir.path().join("termination-log")).unwrap();
    assert!(!msg.contains(&token), "{msg}");
    let r = devagents::contract::parse_result_message(&msg)
        .unwrap_or_else(|| panic!("not a result: {msg}"))
        .unwrap();
    assert!(r.summary.starts_with("pushed with "), "{r:?}");
    assert_eq!(r.data.unwrap()["resultBytes"], 10);
}

/// In a Pod without an agent API, with the operator's JSON log format: every line the runner
/// writes is a JSON object with the job's name, namespace, agent and attempt.
#[test]
fn in_a_pod_the_runner_logs_json_lines_with_the_job_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agent-runner"))
        .arg("run")
        .env_remove("DEVAGENTS_API_URL")
        .env("DEVAGENTS_LOG_FORMAT", "json")
        .env("DEVAGENTS_JOB_NAME", "probe-1")
        .env("DEVAGENTS_JOB_NAMESPACE", "team")
        .env("DEVAGENTS_ATTEMPT", "2")
        .env(
            "DEVAGENTS_JOB_SPEC",
            r#"{"agent":"probe","probe":{"message":"hello","exitCode":1}}"#,
        )
        .env(
            "DEVAGENTS_TERMINATION_MESSAGE_PATH",
            dir.path().join("termination-log"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{err}");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(
            (
                v["job"].as_str(),
                v["namespace"].as_str(),
                v["agent"].as_str(),
                v["attempt"].as_str()
            ),
            (Some("probe-1"), Some("team"), Some("probe"), Some("2")),
            "{l}"
        );
        assert!(
            v["timestamp"].is_string() && v["message"].is_string(),
            "{l}"
        );
    }
    assert!(
        err.contains("\"level\":\"ERROR\""),
        "the failure is logged: {err}"
    );
}

/// spec-writer runs here too, with the LLM given to the runner (here an Anthropic TEST DOUBLE):
/// its documents committed on a local branch, nothing pushed, the AgentJobs of its tasks in the
/// artifact directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_writer_writes_its_documents_on_a_local_branch() {
    use devagents::testing::spec_cases::{PLAN, SPEC, TASKS, answer};
    let llm =
        devagents::testing::saas_doubles::AnthropicDouble::start(vec![answer(SPEC, PLAN, TASKS)])
            .await
            .unwrap();
    let root = tempfile::tempdir().unwrap();
    let bare =
        devagents::testing::docsync_cases::bare_with_steps(root.path(), "acme/core", "main", 0)
            .unwrap();
    let job = write(
        root.path(),
        "spec.yaml",
        &format!(
            "apiVersion: devagents.io/v1alpha1\nkind: AgentJob\nmetadata: {{name: spec}}\nspec:\n  agent: spec-writer\n  repository: {{url: '{}', baseBranch: main}}\n  specWriter: {{feature: department-tree, requirements: Departments form a tree.}}\n",
            bare.display()
        ),
    );
    let key = write(root.path(), "key", "test-key");
    let work = root.path().join("work");
    let (w, url) = (work.clone(), llm.url.clone());
    let (code, result, err) = tokio::task::spawn_blocking(move || {
        runner(&[
            "--job",
            &job,
            "--workdir",
            w.to_str().unwrap(),
            "--no-push",
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &url,
            "--llm-api-key-file",
            &key,
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let data = &result["data"];
    assert_eq!(data["directory"], "specs/001-department-tree", "{data}");
    let branch = data["branch"].as_str().unwrap();
    let spec = git(
        &work.join("repo"),
        &[
            "show",
            &format!("{branch}:specs/001-department-tree/spec.md"),
        ],
    )
    .unwrap();
    assert!(spec.contains("### User Story 1"), "{spec}");
    assert!(
        std::fs::read_to_string(work.join("artifacts/agentjobs"))
            .unwrap()
            .contains("agent: generator")
    );
    assert!(
        git(&bare, &["rev-parse", "--verify", "-q", branch]).is_err(),
        "pushed"
    );
}
