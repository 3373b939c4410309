//! spec-writer end to end on the real control plane (issue 20): `kubectl agent run spec-writer
//! … --interactive` driven through a pseudo-terminal answers the job's clarifying questions in
//! the same terminal and follows it to Succeeded; a second job is answered with `kubectl agent
//! answer --answers FILE` and writes its tasks into the Notion TEST DOUBLE with their
//! dependencies as relations; the AgentJobs of the tasks (the result's artifact) pass a
//! server-side dry run. The LLM is an Anthropic TEST DOUBLE behind the operator's gateway.

mod common;

use std::process::Command;

use common::{Operator, is_terminal};
use devagents::api::{AgentJob, Phase};
use devagents::testing::docsync_cases::bare_with_steps;
use devagents::testing::git_server::GitServer;
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::{AnthropicDouble, NotionDouble};
use devagents::testing::spec_cases::{PLAN, SPEC, TASKS, answer};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

const TOKEN: &str = "ghp_e2especwritertoken0123456789ab";
const NOTION_TOKEN: &str = "secret_e2especwriternotion012345";
const DATABASE: &str = "22222222-3333-4444-8555-666666666666";
const SOURCE: &str = "33333333-4444-4555-8666-777777777777";
const PARENT: &str = "11111111-2222-4333-8444-555555555555";

fn questions() -> String {
    json!({"questions": [
        {"question": "How deep may the tree be?", "options": ["2 levels", "unlimited"]},
        {"question": "Who may move departments?"}
    ]})
    .to_string()
}

/// Run `args` of the plugin in a pseudo-terminal, answering each `> ` prompt with the next of
/// `replies`; (exit code, everything the terminal showed).
fn in_a_terminal(args: &[&str], replies: &[&str]) -> (i32, String) {
    const DRIVER: &str = r#"
import os, pty, select, sys, time
replies = sys.argv[1].split("|")
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out, sent, deadline = b"", 0, time.time() + 600
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if sent < len(replies) and out.count(b"> ") > sent:
            os.write(fd, replies[sent].encode() + b"\n")
            sent += 1
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99)
"#;
    let o = Command::new("python3")
        .args([
            "-c",
            DRIVER,
            &replies.join("|"),
            env!("CARGO_BIN_EXE_kubectl-agent"),
        ])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_are_answered_in_the_terminal_and_with_kubectl_agent_answer() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-spec-writer").await;
    let root = tempfile::tempdir().unwrap();
    let _bare = bare_with_steps(root.path(), "acme/core", "main", 0).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let notion = NotionDouble::start(NOTION_TOKEN).await.unwrap();
    notion.with(|st| {
        st.database(DATABASE, &[(SOURCE, "Tasks")]);
        st.existing_page(PARENT);
    });
    // Two jobs: each asks two questions, then writes its spec.
    let good = answer(SPEC, PLAN, TASKS);
    let llm = AnthropicDouble::start(vec![questions(), good.clone(), questions(), good])
        .await
        .unwrap();
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
    common::token_secret(&client, &ns, "notion-token", NOTION_TOKEN).await;
    let key_file = root.path().join("llm-key");
    std::fs::write(&key_file, "test-key").unwrap();
    let _op = Operator::start(
        &ns,
        "op-a",
        &[
            "--github-api-url",
            &github.url,
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &llm.url,
            "--llm-api-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    let url = server.url("acme/core");

    // 1. In the terminal: the questions, answered there, then the job followed to its end.
    let (code, shown) = in_a_terminal(
        &[
            "run",
            "spec-writer",
            "Department tree",
            "--requirements",
            "Departments form a tree; admins move them.",
            "--repo",
            &url,
            "--repo-secret",
            "github-token",
            "--allowed-path",
            "specs/**",
            "--name",
            "spec-tree",
            "--timeout",
            "600",
            "--interactive",
            "-n",
            &ns,
        ],
        &["2", "admins only"],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("(1/2) How deep may the tree be?"), "{shown}");
    assert!(shown.contains("2) unlimited"), "{shown}");
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let j = jobs.get("spec-tree").await.unwrap();
    let answers = &j.spec.spec_writer.as_ref().unwrap().answers;
    assert_eq!(answers[0].answer, "unlimited");
    assert_eq!(answers[1].answer, "admins only");
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    // The LLM's spec prompt carried the answers.
    assert_eq!(github.with(|s| s.pulls.len()), 1);
    // The AgentJobs of the tasks pass a server-side dry run.
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args(["result", "spec-tree", "--artifact", "agentjobs", "-n", &ns])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = String::from_utf8(o.stdout).unwrap();
    assert!(yaml.contains("agent: generator"), "{yaml}");
    let path = root.path().join("agentjobs.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let dry = Command::new(common::k8s_bin().join("kubectl"))
        .args([
            "apply",
            "--dry-run=server",
            "-n",
            &ns,
            "-f",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout)
            .matches("(server dry run)")
            .count(),
        3
    );

    // 2. Answered from a file, with the tasks into Notion.
    let job: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "spec-move"},
        "spec": {
            "agent": "spec-writer", "timeoutSeconds": 600,
            "repository": {"url": url, "baseBranch": "main", "credentialsSecret": "github-token",
                           "allowedPaths": ["specs/**"]},
            "specWriter": {"feature": "department-move", "requirements": "Admins move departments.",
                           "notion": {"secret": "notion-token", "databaseId": DATABASE,
                                      "parentPageId": PARENT, "apiUrl": notion.url}},
        }
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    common::wait_for(&jobs, "spec-move", 300, "asking", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref())
            .is_some_and(|s| !s.questions.is_empty())
    })
    .await;
    let file = root.path().join("answers.yaml");
    std::fs::write(&file, "- 2 levels\n- the department's manager\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args([
            "answer",
            "spec-move",
            "--answers",
            file.to_str().unwrap(),
            "-n",
            &ns,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("2 answers written"));
    let j = common::wait_for(&jobs, "spec-move", 300, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    let rows = notion.with(|s| {
        s.pages
            .iter()
            .filter(|(_, b)| b["parent"]["data_source_id"] == SOURCE)
            .cloned()
            .collect::<Vec<_>>()
    });
    assert_eq!(rows.len(), 6);
    let related = rows
        .iter()
        .filter(|(_, b)| {
            b["properties"]["Depends on"]["relation"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        })
        .count();
    assert_eq!(related, 5, "every task but the first depends on another");
    assert_eq!(
        jobs.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    common::delete_namespace(&client, &ns).await;
}
