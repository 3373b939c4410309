//! `kubectl agent` against the real control plane: discovered by the real kubectl, `run …
//! --wait` following a job live (a pty for the spinner, a pipe for plain lines) with the exit
//! code of the outcome, the read commands, and the error paths (each one line, exit code 1).
//! The LLM, GitHub and the git host are stood in for (Anthropic and GitHub TEST DOUBLES, a
//! real git server on loopback).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::Operator;
use devagents::api::{AgentJob, Phase};
use devagents::testing::fixtures::simple_admin_repo;
use devagents::testing::git_server::{GitServer, bare_repo_with, git};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::saas_doubles::AnthropicDouble;
use kube::api::Api;
use serde_json::json;

const TOKEN: &str = "ghp_e2eclitoken0123456789abcdefghij";

fn plugin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubectl-agent"))
}

fn agent(args: &[&str]) -> Output {
    Command::new(plugin()).args(args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// One line on stderr starting with `error: `, nothing else, exit code 1.
fn one_error_line(o: &Output) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(1), "stdout {out:?} stderr {err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    err.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_discovers_the_plugin() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-cli").await;
    let path = format!(
        "{}:{}:{}",
        plugin().parent().unwrap().display(),
        common::k8s_bin().display(),
        std::env::var("PATH").unwrap()
    );
    let o = Command::new(common::k8s_bin().join("kubectl"))
        .args(["agent", "list", "-n", &ns])
        .env("PATH", &path)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("AGENT "), "{out}");
    for a in devagents::agents::REGISTRY
        .iter()
        .map(|a| a.kind().as_str())
    {
        assert!(out.lines().any(|l| l.starts_with(a)), "{a} missing:\n{out}");
    }
    let o = Command::new(common::k8s_bin().join("kubectl"))
        .args(["plugin", "list"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(text(&o).0.contains("kubectl-agent"), "{:?}", text(&o));
    // Shell completions, with the subcommands and their flags.
    for shell in ["bash", "zsh", "fish"] {
        let o = agent(&["completion", shell]);
        let (out, _) = text(&o);
        assert!(
            o.status.success() && out.contains("kubectl-agent"),
            "{shell}"
        );
        assert!(
            out.contains("create-module") && out.contains("--version"),
            "{shell}"
        );
    }
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_wait_follows_the_job_and_exits_with_its_outcome() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-cli").await;
    let root = tempfile::tempdir().unwrap();
    bare_repo_with(root.path(), "acme/core", "main", &simple_admin_repo()).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    let github = GitHubDouble::start(TOKEN).await.unwrap();
    let answer = json!({
        "fields": [
            {"name": "name", "type": "string", "comment": "Department name | 部门名称"},
            {"name": "remark", "type": "string", "optional": true, "comment": "Remark | 备注"}
        ],
        "edges": [], "mixins": []
    });
    let llm = AnthropicDouble::start(vec![format!("```json\n{answer}\n```")])
        .await
        .unwrap();
    common::token_secret(&client, &ns, "github-token", TOKEN).await;
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
        ],
    );
    let repo = server.url("acme/core");
    let generate = |name: &str| {
        vec![
            "run".to_string(),
            "generator".into(),
            "create-module".into(),
            "Department".into(),
            "--description".into(),
            "departments with a name and a remark".into(),
            "--repo".into(),
            repo.clone(),
            "--repo-secret".into(),
            "github-token".into(),
            "--allowed-path".into(),
            "rpc/**".into(),
            "--allowed-path".into(),
            "api/**".into(),
            "--name".into(),
            name.into(),
            "--wait".into(),
            "-n".into(),
            ns.clone(),
        ]
    };

    // Plain lines through a pipe.
    let o = Command::new(plugin())
        .args(generate("plain"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.starts_with("agentjob/plain created\n"), "{out}");
    assert!(out.contains("[Running (attempt 1)]"), "{out}");
    assert!(
        out.contains("generated rpc/ent/schema/department.go\n"),
        "progress lines stream: {out}"
    );
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("agentjob/plain Succeeded: "),
        "{out}"
    );
    assert!(!out.contains('\r'), "no terminal control in a pipe");

    // The spinner on a terminal (a pty from script(1)).
    let cmd = std::iter::once(plugin().display().to_string())
        .chain(generate("tty").into_iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let o = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains('\r') || out.contains("\u{1b}["),
        "the spinner redraws: {out:?}"
    );
    assert!(out.contains("Running (attempt 1)"), "{out:?}");
    assert!(out.contains("agentjob/tty Succeeded"), "{out:?}");
    // Both made a pull request.
    assert_eq!(github.with(|s| s.pulls.len()), 2);

    // A failure: exit code 1 and the reason.
    let o = agent(&[
        "run",
        "probe",
        "--exit-code",
        "1",
        "--message",
        "bad",
        "--name",
        "fails",
        "--wait",
        "-n",
        &ns,
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(out.contains("agentjob/fails Failed (AgentFailed)"), "{out}");

    // The read commands.
    let o = agent(&["jobs", "-n", &ns, "-o", "wide"]);
    let (out, _) = text(&o);
    let row = out
        .lines()
        .find(|l| l.starts_with("plain "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("generator") && row.contains("Succeeded"),
        "{out}"
    );
    let o = agent(&["get", "fails", "-n", &ns]);
    assert!(
        text(&o).0.contains("Reason:      AgentFailed"),
        "{:?}",
        text(&o)
    );
    let o = agent(&["logs", "plain", "-n", &ns]);
    assert!(
        text(&o).0.contains("ran make gen-ent: exit code 0"),
        "{:?}",
        text(&o)
    );
    let o = agent(&["list", "-n", &ns, "--operator-namespace", &ns]);
    let (out, _) = text(&o);
    let g = out.lines().find(|l| l.starts_with("generator")).unwrap();
    assert!(g.contains("100%"), "{out}");
    // The operator's registry: the agent image and the limit (the global one here).
    assert!(
        g.contains(common::AGENT_IMAGE) && g.contains("   4   "),
        "{out}"
    );
    // Every agent of the registry is built.
    assert!(!out.contains("(not in this build)"), "{out}");
    let m = out.lines().find(|l| l.starts_with("migrator")).unwrap();
    assert!(m.contains(common::AGENT_IMAGE), "{out}");
    let p = out.lines().find(|l| l.starts_with("probe")).unwrap();
    assert!(p.contains("0%"), "{out}");
    // --dry-run prints YAML and creates nothing.
    let o = agent(&[
        "run",
        "deployer",
        "--env",
        "staging",
        "--version",
        "v1.7.2",
        "--dry-run",
        "-n",
        &ns,
    ]);
    let (out, _) = text(&o);
    assert!(
        out.contains("kind: AgentJob") && out.contains("version: v1.7.2"),
        "{out}"
    );
    // logs -f follows a running job to its end.
    let o = agent(&[
        "run",
        "probe",
        "--message",
        "followed",
        "--sleep-ms",
        "1500",
        "--name",
        "follow-me",
        "-n",
        &ns,
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = agent(&["logs", "follow-me", "-f", "-n", &ns]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out, "probe: attempt 1 started: followed\n");
    let j = jobs_api(&client, &ns).get("follow-me").await.unwrap();
    assert_eq!(
        common::phase(&j),
        Some(Phase::Succeeded),
        "-f returned only when the job ended"
    );

    // Every agent's form makes an AgentJob the apiserver accepts (server-side dry run).
    let forms: Vec<Vec<&str>> = vec![
        vec![
            "generator",
            "create-module",
            "Department",
            "--field",
            "name:string",
            "--field",
            "parent_id:uint64:optional",
            "--mixin",
            "sort",
            "--repo",
            "acme/core",
            "--repo-secret",
            "github-token",
        ],
        vec![
            "reviewer",
            "--pr",
            "123",
            "--repo",
            "acme/core",
            "--head-sha",
            "0123456789abcdef0123456789abcdef01234567",
        ],
        vec![
            "deployer",
            "--env",
            "staging",
            "--version",
            "v1.7.2",
            "--service",
            "api",
            "--gitops",
        ],
        vec!["doc-sync", "--pr", "7", "--repo", "acme/core"],
        vec![
            "test-gen",
            "--package",
            "./rpc/internal/logic/department",
            "--function",
            "CreateDepartment",
            "--coverage",
            "70",
            "--repo",
            "acme/core",
        ],
        vec!["migrator", "add_department", "--repo", "acme/core"],
        vec![
            "spec-writer",
            "Department tree",
            "--requirements",
            "nested departments with a parent",
            "--repo",
            "acme/core",
        ],
        vec!["probe", "--message", "hi"],
    ];
    for form in forms {
        let mut args = vec!["run"];
        args.extend(form.iter().copied());
        args.extend(["--dry-run", "-n", ns.as_str()]);
        let (out, err) = text(&agent(&args));
        assert!(err.is_empty(), "{form:?}: {err}");
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &out).unwrap();
        let (ok, applied) = common::kubectl(&[
            "create",
            "--dry-run=server",
            "-f",
            f.path().to_str().unwrap(),
        ]);
        assert!(ok, "{form:?}:\n{out}\n{applied}");
    }
    // cancel and delete.
    let o = agent(&[
        "run",
        "probe",
        "--sleep-ms",
        "60000",
        "--name",
        "long",
        "-n",
        &ns,
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = agent(&["cancel", "long", "-n", &ns]);
    assert_eq!(text(&o).0, "agentjob/long cancel requested\n");
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let j = common::wait_for(&jobs, "long", 60, "finished", common::is_terminal).await;
    assert_eq!(common::phase(&j), Some(Phase::Cancelled));
    let o = agent(&["delete", "long", "-n", &ns]);
    assert_eq!(text(&o).0, "agentjob/long deleted\n");
    common::wait_gone(&jobs, "long", &j.metadata.uid.clone().unwrap(), 60).await;
    assert!(
        git(&root.path().join("acme/core.git"), &["branch", "--list"])
            .unwrap()
            .lines()
            .count()
            >= 3
    );
    common::delete_namespace(&client, &ns).await;
}

fn jobs_api(client: &kube::Client, ns: &str) -> Api<AgentJob> {
    Api::namespaced(client.clone(), ns)
}

/// A second, empty kube-apiserver on the same etcd under another prefix: a real cluster
/// without the devagents CRDs. Killed on drop.
struct EmptyApiserver {
    child: std::process::Child,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for EmptyApiserver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn empty_apiserver() -> EmptyApiserver {
    let admin = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    let d = admin.parent().unwrap();
    let etcd = std::fs::read_to_string(d.join("etcd-url")).expect("etcd-url beside the kubeconfig");
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let child = Command::new(common::k8s_bin().join("kube-apiserver"))
        .args([
            &format!("--etcd-servers={}", etcd.trim()),
            &format!("--etcd-prefix=/empty-{}", common::uuid_like()),
            "--bind-address=127.0.0.1",
            &format!("--secure-port={port}"),
            "--advertise-address=127.0.0.1",
            &format!("--cert-dir={}", dir.path().display()),
            &format!("--token-auth-file={}", d.join("tokens.csv").display()),
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            &format!("--service-account-key-file={}", d.join("sa.pub").display()),
            &format!(
                "--service-account-signing-key-file={}",
                d.join("sa.key").display()
            ),
            "--service-cluster-ip-range=10.0.0.0/24",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut kc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    kc["clusters"][0]["cluster"]["server"] = format!("https://127.0.0.1:{port}").into();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, serde_yaml::to_string(&kc).unwrap()).unwrap();
    let server = EmptyApiserver {
        child,
        kubeconfig,
        _dir: dir,
    };
    // Ready when its discovery answers (the plugin's own client).
    let cfg = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&server.kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let c = kube::Client::try_from(cfg).unwrap();
    let ready = async {
        loop {
            if c.apiserver_version().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), ready)
        .await
        .expect("the second apiserver starts");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_paths_print_one_clear_line() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-cli").await;
    let home = tempfile::tempdir().unwrap();

    // No kubeconfig anywhere.
    let o = Command::new(plugin())
        .args(["jobs"])
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("missing"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let e = one_error_line(&o);
    assert!(e.starts_with("error: no usable kubeconfig"), "{e}");

    // An apiserver that is not there.
    let mut kc: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(std::env::var("KUBECONFIG").unwrap()).unwrap(),
    )
    .unwrap();
    let port = common::free_port();
    kc["clusters"][0]["cluster"]["server"] = format!("https://127.0.0.1:{port}").into();
    let dead = home.path().join("dead");
    std::fs::write(&dead, serde_yaml::to_string(&kc).unwrap()).unwrap();
    let o = agent(&["jobs", "--kubeconfig", dead.to_str().unwrap()]);
    let e = one_error_line(&o);
    assert!(
        e.starts_with(&format!(
            "error: cannot reach the Kubernetes API at https://127.0.0.1:{port}"
        )),
        "{e}"
    );

    // A job that does not exist.
    let e = one_error_line(&agent(&["get", "nope", "-n", &ns]));
    assert_eq!(
        e,
        format!("error: agentjob \"nope\" not found in namespace {ns}")
    );

    // Forbidden: a user with no rights in the namespace.
    let carol = common::user_kubeconfig("carol");
    let e = one_error_line(&agent(&[
        "jobs",
        "-n",
        &ns,
        "--kubeconfig",
        carol.to_str().unwrap(),
    ]));
    assert!(e.starts_with("error: forbidden: "), "{e}");
    assert!(e.contains("carol"), "{e}");

    // A cluster without the CRDs.
    let empty = empty_apiserver().await;
    let e = one_error_line(&agent(&[
        "jobs",
        "--kubeconfig",
        empty.kubeconfig.to_str().unwrap(),
    ]));
    assert_eq!(
        e,
        "error: the devagents CRDs are not installed in this cluster (kubectl apply -f crds/, or install the Helm chart)"
    );
    common::delete_namespace(&client, &ns).await;
}
