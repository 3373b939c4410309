//! The GitHub Actions examples (`examples/github-actions/*.yml`): every `kubectl agent` command
//! of their steps, with the workflow's expressions filled in as GitHub would for a sample
//! event, runs through the real plugin with `--dry-run` instead of `--wait` and prints an
//! AgentJob for the agent it names — so a flag the plugin does not know, or a block the API
//! refuses, fails here and not in a user's CI.

use std::process::Command;

/// What GitHub puts in the expressions the examples use, for a sample event.
fn expression(e: &str) -> Option<&'static str> {
    Some(match e {
        "github.event.pull_request.number" => "7",
        "github.repository" => "acme/core",
        "github.event.pull_request.base.ref" => "main",
        "github.event.pull_request.head.sha" => "0123456789abcdef0123456789abcdef01234567",
        "github.ref_name" => "v1.7.2",
        "vars.NOTION_API_PARENT_PAGE" => "11111111-2222-4333-8444-555555555555",
        _ => return None,
    })
}

/// The workflow's `kubectl agent …` commands (continuation lines joined), expressions filled.
fn commands(workflow: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in workflow.lines() {
        let t = line.trim();
        match &mut current {
            Some(c) => c.push_str(t.trim_end_matches('\\')),
            None if t.starts_with("kubectl agent ") => {
                current = Some(t.trim_end_matches('\\').to_string())
            }
            None => continue,
        }
        if !t.ends_with('\\')
            && let Some(c) = current.take()
        {
            out.push(c);
        }
    }
    out.into_iter()
        .map(|mut c| {
            while let Some(i) = c.find("${{") {
                let j = c[i..]
                    .find("}}")
                    .map(|j| i + j)
                    .expect("a closed expression");
                let e = c[i + 3..j].trim().to_string();
                let v =
                    expression(&e).unwrap_or_else(|| panic!("no sample value for ${{{{ {e} }}}}"));
                c.replace_range(i..j + 2, v);
            }
            c
        })
        .collect()
}

#[test]
fn every_workflow_command_builds_a_valid_agentjob() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/github-actions");
    let mut seen = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let cmds = commands(&text);
        assert!(
            !cmds.is_empty(),
            "{}: no kubectl agent command",
            path.display()
        );
        for c in cmds {
            assert!(c.contains("--wait"), "{c}");
            let c = c
                .replace("kubectl agent", env!("CARGO_BIN_EXE_kubectl-agent"))
                .replace("--wait", "--dry-run");
            let o = Command::new("bash")
                .args(["-c", &c])
                .env("NAMESPACE", "devagents-ci")
                .env_remove("KUBECONFIG")
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "{}: {c}\n{}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let job: devagents::api::AgentJob = serde_yaml::from_str(&out)
                .unwrap_or_else(|e| panic!("{}: {e}\n{out}", path.display()));
            let agent = c
                .split(" run ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            assert_eq!(job.spec.agent.as_str(), agent, "{out}");
            assert_eq!(job.metadata.namespace.as_deref(), Some("devagents-ci"));
            seen.push(agent.to_string());
        }
    }
    seen.sort();
    assert_eq!(seen, ["deployer", "doc-sync", "reviewer"]);
}
