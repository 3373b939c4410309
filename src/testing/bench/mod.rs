//! The e2e benchmarks' harness (`devagents-bench`): the operator as a child process, Pod
//! watches that time each stage, namespaces, probe jobs, and process CPU and memory readings.

pub mod queue;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "devagents-agent:bench";

/// The Pods of the benchmarks' batch/v1 Jobs. They mount their ServiceAccount's token as
/// every Kubernetes since 1.22 mounts it into a Pod by default: a projected
/// `serviceAccountToken` volume, which the node requests through the TokenRequest API when the
/// Pod starts, as it does for an agent Pod's token. (Kubernetes 1.20's admission would mount
/// the legacy token Secret instead, which no supported Kubernetes creates any more; so the
/// automount is off and the volume written out. Its `kube-root-ca.crt` source is left out: a
/// kubelet serves that ConfigMap from a watch, the stand-in would fetch it for every Pod.)
pub fn pod_template() -> serde_json::Value {
    json!({
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "agent", "image": IMAGE, "command": ["agent-runner", "probe"],
                "volumeMounts": [{
                    "name": "kube-api-access", "readOnly": true,
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"
                }]
            }],
            "volumes": [{
                "name": "kube-api-access",
                "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"downwardAPI": {"items": [
                        {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                    ]}}
                ]}
            }]
        }
    })
}

/// Whether the control plane runs Kubernetes 1.20's legacy token controller (a token Secret
/// for every ServiceAccount): `e2e/cluster-up.sh` runs it unless DEVAGENTS_KCM_CONTROLLERS
/// leaves it out.
fn legacy_tokens() -> bool {
    std::env::var("DEVAGENTS_KCM_CONTROLLERS")
        .map_or(true, |c| !c.contains("-serviceaccount-token"))
}

/// How the benchmark's control plane treats ServiceAccounts, for the printed header.
pub fn control_plane_note() -> &'static str {
    if legacy_tokens() {
        "ServiceAccounts as on Kubernetes 1.20: the legacy token controller writes a token \
         Secret for every account (each AgentJob's too); Job Pods get a projected token"
    } else {
        "ServiceAccounts as on Kubernetes >= 1.24: no legacy token Secrets; every Pod (agent \
         and Job) gets a projected token the node requests when it starts"
    }
}

pub async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &ns).await?;
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), name);
    for _ in 0..300 {
        // The account is what the benchmarks' Pods need (their token is requested when they
        // start); its token Secret, where the legacy token controller runs, is waited for too.
        let legacy = legacy_tokens();
        if sas
            .get_opt("default")
            .await?
            .is_some_and(|sa| !legacy || sa.secrets.is_some_and(|s| !s.is_empty()))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("namespace {name} has no default ServiceAccount token")
}

/// Watch the Pods of `ns` and fold each change, with the instant it was seen, into a map.
pub fn fold_pods<V: Send + 'static>(
    client: &Client,
    ns: &str,
    mut f: impl FnMut(&mut HashMap<String, V>, &Pod, Instant) + Send + 'static,
) -> Arc<Mutex<HashMap<String, V>>> {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let s = seen.clone();
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    tokio::spawn(async move {
        let mut w = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(Ok(p)) = w.next().await {
            let now = Instant::now();
            if let Ok(mut m) = s.lock() {
                f(&mut m, &p, now);
            }
        }
    });
    seen
}

/// First time a watch saw each Pod, keyed by `key(pod)`.
pub fn watch_pods(
    client: &Client,
    ns: &str,
    key: fn(&Pod) -> Option<String>,
) -> Arc<Mutex<HashMap<String, Instant>>> {
    fold_pods(client, ns, move |m, p, now| {
        if let Some(k) = key(p) {
            m.entry(k).or_insert(now);
        }
    })
}

pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

pub async fn wait_seen(
    seen: &Arc<Mutex<HashMap<String, Instant>>>,
    n: usize,
    what: &str,
) -> anyhow::Result<()> {
    for _ in 0..6000 {
        if seen.lock().map(|m| m.len()).unwrap_or(0) >= n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{what}: not all pods appeared")
}

pub fn latencies(
    starts: &HashMap<String, Instant>,
    seen: &Arc<Mutex<HashMap<String, Instant>>>,
) -> Vec<f64> {
    let seen = seen.lock().map(|m| m.clone()).unwrap_or_default();
    let mut v: Vec<f64> = starts
        .iter()
        .filter_map(|(k, t0)| {
            seen.get(k)
                .map(|t| t.saturating_duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// Wait until no Pod of `ns` is still running (so one phase's processes don't slow the next).
pub async fn drain(client: &Client, ns: &str) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    for _ in 0..1200 {
        let pods = api.list(&ListParams::default()).await?;
        if pods.items.iter().all(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|ph| ph == "Succeeded" || ph == "Failed")
        }) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::bail!("pods of {ns} did not finish")
}

pub struct OperatorProc {
    child: std::process::Child,
    port: u16,
}

impl OperatorProc {
    pub fn start(bin: &PathBuf, ns: &str, extra: &[&str]) -> anyhow::Result<Self> {
        Self::spawn(bin, ns, extra, false)
    }

    /// The operator with its admission webhooks registered for `ns`, as the Helm chart
    /// installs it by default (`webhooks.enabled`): a job is created with the operator's
    /// finalizer and its `requestedBy` in place.
    pub fn start_with_webhooks(bin: &PathBuf, ns: &str, extra: &[&str]) -> anyhow::Result<Self> {
        Self::spawn(bin, ns, extra, true)
    }

    fn spawn(bin: &PathBuf, ns: &str, extra: &[&str], webhooks: bool) -> anyhow::Result<Self> {
        let api_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new(bin)
            .args([
                "run",
                "--namespace",
                ns,
                "--watch-namespace",
                ns,
                "--agent-image",
                IMAGE,
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--identity",
                "bench",
            ])
            .args(["--agent-api-addr", &format!("127.0.0.1:{api_port}")])
            .args(["--agent-api-url", &format!("https://127.0.0.1:{api_port}")])
            .args(if webhooks {
                vec![
                    "--register-webhooks".to_string(),
                    format!("https://127.0.0.1:{api_port}"),
                ]
            } else {
                Vec::new()
            })
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()?;
        Ok(OperatorProc { child, port })
    }

    pub async fn metrics(&self) -> String {
        let out = tokio::process::Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{}/metrics", self.port)])
            .output()
            .await;
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub async fn wait_leader(&self) -> anyhow::Result<()> {
        for _ in 0..600 {
            if self.metrics().await.contains("devagents_leader 1") {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("operator did not become leader")
    }

    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.child.id())
    }
}

/// Resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Create `n` probe AgentJobs `<prefix>-<i>` sleeping `sleep_ms`, 16 creates at a time.
pub async fn create_probes(
    jobs: &Api<crate::api::AgentJob>,
    prefix: &str,
    n: usize,
    sleep_ms: u64,
) -> anyhow::Result<()> {
    stream::iter(0..n)
        .map(|i| {
            let jobs = jobs.clone();
            async move {
                let j: crate::api::AgentJob = serde_json::from_value(json!({
                    "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
                    "metadata": {"name": format!("{prefix}-{i}")},
                    "spec": {"agent": "probe", "probe": {"sleepMs": sleep_ms}}
                }))?;
                jobs.create(&PostParams::default(), &j).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .map(|_| ())
}

impl Drop for OperatorProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
pub fn cpu_secs(pid: u32) -> f64 {
    stat_ticks(pid, 2)
}

/// CPU seconds of a process and its waited-for children (user + system), from /proc.
pub fn cpu_secs_with_children(pid: u32) -> f64 {
    stat_ticks(pid, 4)
}

/// The sum of `fields` /proc/PID/stat fields from utime on (utime, stime, cutime, cstime), in
/// seconds.
fn stat_ticks(pid: u32, fields: usize) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at field 3.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    // utime is field 14 (1-based), i.e. 11 after the name.
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(fields)
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks()
}

pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Peak RSS of a process, sampled every 100 ms until `stop` is set.
pub fn sample_rss(
    pid: u32,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut peak = 0u64;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(kib) = rss_kib(pid) {
                peak = peak.max(kib);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    })
}
