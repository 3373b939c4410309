//! Operator settings (flags / Helm values).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::AgentKind;

#[derive(Clone, Debug)]
pub struct Config {
    /// Namespace of the operator: leader-election Lease and lock Leases live here.
    pub namespace: String,
    /// Watch only this namespace (None: every namespace).
    pub watch_namespace: Option<String>,
    /// Image of the agent pods.
    pub agent_image: String,
    pub image_pull_policy: String,
    /// Global concurrency limit (plan: 4).
    pub max_running: usize,
    /// Per-agent limits; agents not listed are bounded by the global limit only.
    pub agent_limits: BTreeMap<AgentKind, usize>,
    pub resources: Resources,
    /// Duration of lock Leases; renewed every third of it while the job runs.
    pub lock_lease: Duration,
    /// Pods that have not started after this long count as "never started" (retryable).
    pub start_timeout: Duration,
    /// Extra time the controller gives a pod past `timeoutSeconds` before it deletes it itself
    /// (the kubelet's activeDeadlineSeconds normally fires first).
    pub deadline_grace: Duration,
    /// Cap of the exponential retry backoff.
    pub max_backoff: Duration,
    /// UID the agent containers run as.
    pub run_as_user: i64,
    /// How agent Pods reach the agent API (None: no API; the runner reads its env).
    pub agent_api: Option<AgentApi>,
    /// The GitHub REST API agents use (`https://api.github.com`, a GitHub Enterprise
    /// Server's `https://<host>/api/v3`).
    pub github_api_url: String,
    /// Egress rules (NetworkPolicyEgressRule JSON) for agent Pods besides the agent API;
    /// None: the operator applies no agent NetworkPolicy.
    pub agent_egress: Option<Vec<serde_json::Value>>,
    /// The deployer's environments.
    pub environments: std::sync::Arc<crate::api::environment::Environments>,
    /// The agents' operator-side hooks (their locks, approvals, Pod extras, rights).
    pub agents: super::agent::Agents,
    /// This replica's agent API address for the other replicas (LLM calls go to the leader).
    pub peer_address: Option<String>,
    /// The leader's AgentJob cache, shared with the agent API once this replica leads.
    pub job_cache: JobCache,
    /// The key of the seal on agent Pods (every replica holds the same one).
    pub seal_key: SealKey,
    /// The job archive (PostgreSQL), if configured: a finished job is written there before
    /// its TTL may delete it.
    pub archive: Option<std::sync::Arc<crate::services::archive::Archive>>,
    /// Archived jobs older than this are pruned.
    pub archive_retention: Duration,
    /// The operator's log format, given to the agent Pods too.
    pub log_format: crate::services::logging::LogFormat,
}

/// The key the operator seals its agent Pods with: derived from the agent API's serving key
/// (shared by every replica and kept across restarts), random when there is none.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    pub fn from_secret(secret: &[u8]) -> SealKey {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"devagents-pod-seal");
        h.update(secret);
        SealKey(h.finalize().into())
    }

    pub fn random() -> SealKey {
        use std::io::Read;
        let mut k = [0u8; 32];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut k));
        if read.is_err() {
            // No /dev/urandom: time and process id (a restart then replaces unrecorded Pods).
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            return Self::from_secret(format!("{t:?}{}", std::process::id()).as_bytes());
        }
        SealKey(k)
    }

    /// The seal of `job_uid`'s attempt `attempt` run as ServiceAccount `sa_uid`.
    pub fn seal(&self, job_uid: &str, attempt: i32, sa_uid: &str) -> String {
        use hmac::Mac;
        let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(format!("{job_uid}/{attempt}/{sa_uid}").as_bytes());
        crate::contract::hex(&m.finalize().into_bytes())
    }

    /// Whether `seal` is the one of that attempt (in constant time).
    pub fn verify(&self, job_uid: &str, attempt: i32, sa_uid: &str, seal: &str) -> bool {
        use hmac::Mac;
        let Ok(bytes) = (0..seal.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(seal.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<Vec<u8>, _>>()
        else {
            return false;
        };
        let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(format!("{job_uid}/{attempt}/{sa_uid}").as_bytes());
        m.verify_slice(&bytes).is_ok()
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// The controller's AgentJob store, set when this replica becomes leader (standbys and the
/// time before leadership have none: the agent API reads from the apiserver then).
#[derive(Clone, Default)]
pub struct JobCache(
    std::sync::Arc<std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::AgentJob>>>,
);

impl JobCache {
    pub fn set(&self, store: kube::runtime::reflector::Store<crate::api::AgentJob>) {
        let _ = self.0.set(store);
    }
    /// The cached job `ns/name`, if this replica leads and has it.
    pub fn get(&self, ns: &str, name: &str) -> Option<std::sync::Arc<crate::api::AgentJob>> {
        self.0
            .get()?
            .get(&kube::runtime::reflector::ObjectRef::new(name).within(ns))
    }
}

impl std::fmt::Debug for JobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "JobCache(set)"
        } else {
            "JobCache(unset)"
        })
    }
}

#[derive(Clone, Debug)]
pub struct AgentApi {
    /// URL agent Pods use, e.g. `https://devagents-operator.devagents-system.svc:8443`.
    pub url: String,
    /// PEM of the CA that signed the API's serving certificate (public).
    pub ca_pem: String,
}

#[derive(Clone, Debug)]
pub struct Resources {
    pub cpu_request: String,
    pub memory_request: String,
    pub cpu_limit: String,
    pub memory_limit: String,
}

impl Default for Resources {
    /// The plan: ~100 MB per agent, 1 GB max.
    fn default() -> Self {
        Resources {
            cpu_request: "100m".into(),
            memory_request: "100Mi".into(),
            cpu_limit: "2".into(),
            memory_limit: "1Gi".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: "devagents-system".into(),
            watch_namespace: None,
            peer_address: None,
            agent_image: "ghcr.io/devagents/devagents-agent:0.1.0".into(),
            image_pull_policy: "IfNotPresent".into(),
            max_running: 4,
            agent_limits: BTreeMap::new(),
            resources: Resources::default(),
            lock_lease: Duration::from_secs(15),
            start_timeout: Duration::from_secs(300),
            deadline_grace: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            run_as_user: 65532,
            agent_api: None,
            github_api_url: crate::services::github::DEFAULT_API_URL.into(),
            agent_egress: None,
            environments: Default::default(),
            agents: Default::default(),
            job_cache: JobCache::default(),
            seal_key: SealKey::random(),
            archive: None,
            archive_retention: Duration::from_secs(30 * 86_400),
            log_format: Default::default(),
        }
    }
}

/// Parse `generator=1,reviewer=2`.
pub fn parse_agent_limits(s: &str) -> Result<BTreeMap<AgentKind, usize>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: want agent=limit"))?;
        let kind = AgentKind::parse(k.trim()).ok_or_else(|| format!("{k:?}: unknown agent"))?;
        let n: usize = v
            .trim()
            .parse()
            .map_err(|_| format!("{v:?}: not a number"))?;
        out.insert(kind, n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_limits_parse() {
        let m = parse_agent_limits("generator=1, doc-sync=2").unwrap();
        assert_eq!(m[&AgentKind::Generator], 1);
        assert_eq!(m[&AgentKind::DocSync], 2);
        assert!(parse_agent_limits("nope=1").is_err());
        assert!(parse_agent_limits("probe").is_err());
        assert!(parse_agent_limits("").unwrap().is_empty());
    }

    #[test]
    fn watch_backoff_doubles_to_five_seconds_and_resets() {
        use kube::runtime::utils::Backoff;
        let mut b = WatchBackoff::default();
        let first: Vec<u64> = b.by_ref().take(7).map(|d| d.as_millis() as u64).collect();
        assert_eq!(first, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn a_seal_holds_only_for_its_job_attempt_account_and_key() {
        let k = SealKey::from_secret(b"serving key");
        let s = k.seal("job-uid", 1, "sa-uid");
        assert!(k.verify("job-uid", 1, "sa-uid", &s));
        assert!(!k.verify("job-uid", 2, "sa-uid", &s), "another attempt");
        assert!(!k.verify("other-uid", 1, "sa-uid", &s), "another job");
        assert!(!k.verify("job-uid", 1, "forged-sa", &s), "another account");
        assert!(!SealKey::from_secret(b"other key").verify("job-uid", 1, "sa-uid", &s));
        assert!(!k.verify("job-uid", 1, "sa-uid", ""), "no seal");
        assert!(!k.verify("job-uid", 1, "sa-uid", &s[..62]), "a cut seal");
        assert!(!k.verify("job-uid", 1, "sa-uid", "zz"), "not hex");
        assert!(!SealKey::random().verify("job-uid", 1, "sa-uid", &s));
    }
}

/// The backoff of the operator's watches: 250 ms doubling to 5 s, back to 250 ms at the first
/// event after an error. kube-runtime's default climbs to 30 s and stays there for two
/// minutes after the last error, so after an apiserver restart (a burst of connection
/// errors, then "too old resource version" while its watch cache warms up) the operator
/// would sit for up to half a minute per retry with its slots held by jobs long ended.
#[derive(Clone, Debug)]
pub struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(d)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}
