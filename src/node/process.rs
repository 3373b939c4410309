//! One agent Pod run as a local process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::materialize::{Resolver, expand, under};
use super::status::{self, Termination};
use super::{NodeConfig, Running, chrono_now, force_delete};
use crate::contract::{FS_ROOT_ENV, TERMINATION_MESSAGE_MAX, TERMINATION_MESSAGE_PATH};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Agent processes still alive.
pub fn live_children() -> usize {
    LIVE.load(Ordering::SeqCst)
}

pub struct PodRun {
    pub client: Client,
    pub cfg: Arc<NodeConfig>,
    pub pod: Pod,
    pub running: Running,
}

enum End {
    Exited(i32),
    Deadline,
    Deleted,
}

impl PodRun {
    pub async fn run(self, stop: oneshot::Receiver<()>) {
        let uid = self.pod.uid().unwrap_or_default();
        let name = self.pod.name_any();
        if let Err(e) = self.run_inner(stop).await {
            warn!(pod = %name, error = %e, "agent pod handling failed");
        }
        self.running.lock().await.remove(&uid);
    }

    fn pod_dir(&self) -> PathBuf {
        self.cfg.work_dir.join("pods").join(format!(
            "{}_{}_{}",
            self.pod.namespace().unwrap_or_default(),
            self.pod.name_any(),
            self.pod.uid().unwrap_or_default()
        ))
    }

    async fn run_inner(&self, mut stop: oneshot::Receiver<()>) -> super::Result<()> {
        let ns = self.pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let pod_name = self.pod.name_any();
        let uid = self.pod.uid().unwrap_or_default();
        let Some(c) = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .cloned()
        else {
            return Ok(());
        };
        let dir = self.pod_dir();
        let root = dir.join("rootfs");
        for d in ["dev", "tmp"] {
            tokio::fs::create_dir_all(root.join(d)).await?;
        }
        let msg_path_in_container = c
            .termination_message_path
            .clone()
            .unwrap_or_else(|| TERMINATION_MESSAGE_PATH.to_string());
        let msg_path = under(&root, &msg_path_in_container);
        if let Some(p) = msg_path.parent() {
            tokio::fs::create_dir_all(p).await?;
        }
        tokio::fs::write(&msg_path, b"").await?;

        // Like a kubelet, a container that cannot be set up yet (the apiserver restarting, a
        // Secret not there yet) is tried again with backoff, not given up on: a Pod left
        // Pending for good would only end at the operator's start timeout.
        let policies: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &ns);
        let since = std::time::Instant::now();
        let mut wait = Duration::from_millis(200);
        let mut reported = false;
        let (env, isolated) = loop {
            let mut resolver = Resolver::new(self.client.clone(), &self.pod);
            let prepared = async {
                let env = resolver.env(&c).await?;
                resolver.volumes(&c, &root).await?;
                // Denied all egress by its namespace's NetworkPolicies: no network at all.
                let listed = policies.list(&ListParams::default()).await.map_err(|e| {
                    super::materialize::ConfigError(format!("network policies: {e}"))
                })?;
                let isolated = super::netpol::egress_denied(
                    &listed.items,
                    self.pod
                        .metadata
                        .labels
                        .as_ref()
                        .unwrap_or(&BTreeMap::new()),
                );
                Ok::<_, super::materialize::ConfigError>((env, isolated))
            }
            .await;
            match prepared {
                Ok(v) => break v,
                Err(e) => {
                    warn!(pod = %pod_name, error = %e, "cannot create container");
                    if !reported {
                        status::report_waiting(&api, &self.pod, "CreateContainerConfigError", &e.0)
                            .await?;
                        reported = true;
                    }
                    if since.elapsed() > Duration::from_secs(120) {
                        return Ok(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        // Deleted while waiting: nothing ran, finish the deletion.
                        _ = &mut stop => return force_delete(&api, &pod_name, &uid).await,
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        };

        let log_path = dir.join("container.log");
        let mut cmd =
            match self.command(&c, &env, &root, &msg_path_in_container, &log_path, isolated) {
                Ok(cmd) => cmd,
                Err(e) => {
                    status::report_waiting(&api, &self.pod, "RunContainerError", &e).await?;
                    return Ok(());
                }
            };
        let mut child = match cmd.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                status::report_waiting(
                    &api,
                    &self.pod,
                    "RunContainerError",
                    &format!("start: {e}"),
                )
                .await?;
                return Ok(());
            }
        };
        LIVE.fetch_add(1, Ordering::SeqCst);
        let pgid = child.id().map(|p| Pid::from_raw(p as i32));
        let started_at = chrono_now();
        let prepared_ms = since.elapsed().as_secs_f64() * 1000.0;
        status::report_running(&api, &self.pod, &started_at).await?;
        info!(pod = %pod_name, pid = ?pgid, prepared_ms, reported_ms = since.elapsed().as_secs_f64() * 1000.0, "agent process started");

        let deadline = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(Duration::from_secs(u64::MAX / 4));
        let grace = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .clamp(0, 30) as u64;

        let end = tokio::select! {
            r = child.wait() => End::Exited(match r {
                Ok(st) => exit_code(st),
                Err(_) => 128,
            }),
            _ = tokio::time::sleep(deadline) => End::Deadline,
            _ = &mut stop => End::Deleted,
        };
        if !matches!(end, End::Exited(_)) {
            terminate(pgid, &mut child, Duration::from_secs(grace)).await;
        } else if let Some(pg) = pgid {
            // The main process is gone; so is anything it left in its group.
            let _ = killpg(pg, Signal::SIGKILL);
        }
        LIVE.fetch_sub(1, Ordering::SeqCst);

        match end {
            End::Exited(code) => {
                let mut message = read_message(&msg_path).await;
                let policy = c.termination_message_policy.as_deref().unwrap_or("File");
                if message.is_empty() && code != 0 && policy == "FallbackToLogsOnError" {
                    message = log_tail(&log_path).await;
                }
                info!(pod = %pod_name, code, "agent process exited");
                let reason = if code == 0 { "Completed" } else { "Error" };
                status::report_terminated(
                    &api,
                    &self.pod,
                    Termination {
                        started_at: &started_at,
                        exit_code: code,
                        reason,
                        message: &message,
                        pod_reason: None,
                        pod_message: None,
                    },
                )
                .await?;
            }
            End::Deadline => {
                info!(pod = %pod_name, "activeDeadlineSeconds exceeded; process killed");
                let message = read_message(&msg_path).await;
                status::report_terminated(
                    &api,
                    &self.pod,
                    Termination {
                        started_at: &started_at,
                        exit_code: 137,
                        reason: "Error",
                        message: &message,
                        pod_reason: Some("DeadlineExceeded"),
                        pod_message: Some(
                            "Pod was active on the node longer than the specified deadline",
                        ),
                    },
                )
                .await?;
            }
            End::Deleted => {
                info!(pod = %pod_name, "pod deleted; process stopped");
                force_delete(&api, &pod_name, &uid).await?;
                let _ = tokio::fs::remove_dir_all(&dir).await;
            }
        }
        Ok(())
    }

    /// The process for the container: its command resolved to a local binary, its env, its root.
    fn command(
        &self,
        c: &Container,
        env: &[(String, String)],
        root: &Path,
        msg_path: &str,
        log_path: &Path,
        isolated: bool,
    ) -> Result<tokio::process::Command, String> {
        let mut argv: Vec<String> = c
            .command
            .clone()
            .unwrap_or_else(|| vec!["agent-runner".to_string()]);
        argv.extend(c.args.clone().unwrap_or_default());
        let argv: Vec<String> = argv.iter().map(|a| expand(a, env)).collect();
        let Some(program) = argv.first() else {
            return Err("container has no command".into());
        };
        let program = self.resolve_program(program)?;

        let log = std::fs::File::create(log_path).map_err(|e| format!("log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = if isolated {
            // A network namespace of its own (a user namespace too when not root).
            let mut c = tokio::process::Command::new("unshare");
            if !nix::unistd::Uid::effective().is_root() {
                c.arg("--map-root-user");
            }
            c.arg("--net").arg("--").arg(&program);
            c
        } else {
            tokio::process::Command::new(&program)
        };
        cmd.args(&argv[1..])
            .env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .env("HOME", root.join("tmp"))
            .env("HOSTNAME", self.pod.name_any())
            .env(FS_ROOT_ENV, root)
            .env(crate::contract::ENV_TERMINATION_MESSAGE_PATH, msg_path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(match &c.working_dir {
                Some(w) => {
                    let d = under(root, w);
                    std::fs::create_dir_all(&d).map_err(|e| format!("workingDir: {e}"))?;
                    d
                }
                None => root.to_path_buf(),
            })
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(true)
            .process_group(0);
        if let Some((host, port)) = &self.cfg.api_server {
            cmd.env("KUBERNETES_SERVICE_HOST", host)
                .env("KUBERNETES_SERVICE_PORT", port.to_string());
        }
        // The harness marker (see e2e/cluster-down.sh) follows the process.
        if let Ok(id) = std::env::var("DEVAGENTS_CLUSTER_ID") {
            cmd.env("DEVAGENTS_CLUSTER_ID", id);
        }
        // If the stand-in dies, its agent processes die with it.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        Ok(cmd)
    }

    /// `agent-runner` or `/usr/local/bin/agent-runner` → the binary built from this repository;
    /// other programs (`sh`, `sleep`) from the host's PATH.
    fn resolve_program(&self, program: &str) -> Result<PathBuf, String> {
        let base = Path::new(program)
            .file_name()
            .map(|b| b.to_os_string())
            .unwrap_or_default();
        let local = self.cfg.agent_bin_dir.join(&base);
        if local.is_file() {
            return Ok(local);
        }
        if Path::new(program).is_absolute() && Path::new(program).is_file() {
            return Ok(PathBuf::from(program));
        }
        let path = std::env::var("PATH").unwrap_or_default();
        for dir in path.split(':') {
            let p = Path::new(dir).join(&base);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(format!(
            "executable {program:?} not found in the agent image (bin dir {})",
            self.cfg.agent_bin_dir.display()
        ))
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// SIGTERM the process group, wait up to `grace`, then SIGKILL.
async fn terminate(pgid: Option<Pid>, child: &mut tokio::process::Child, grace: Duration) {
    if let Some(pg) = pgid {
        let _ = killpg(pg, Signal::SIGTERM);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        if let Some(pg) = pgid {
            let _ = killpg(pg, Signal::SIGKILL);
        }
        let _ = child.kill().await;
    }
    if let Some(pg) = pgid {
        let _ = killpg(pg, Signal::SIGKILL);
    }
}

async fn read_message(path: &Path) -> String {
    let bytes = tokio::fs::read(path).await.unwrap_or_default();
    let s = String::from_utf8_lossy(&bytes).into_owned();
    crate::runner::truncate_message(s.trim_end()).to_string()
}

/// The kubelet's FallbackToLogsOnError: the last 80 lines / 2048 bytes of the log.
async fn log_tail(path: &Path) -> String {
    let bytes = tokio::fs::read(path).await.unwrap_or_default();
    let s = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = s.lines().collect();
    let tail = lines[lines.len().saturating_sub(80)..].join("\n");
    let limit = 2048.min(TERMINATION_MESSAGE_MAX);
    if tail.len() <= limit {
        return tail;
    }
    let mut start = tail.len() - limit;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    tail[start..].to_string()
}
