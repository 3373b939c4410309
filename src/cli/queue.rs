//! `kubectl agent queue`: every waiting job with its position, computed on demand by the
//! scheduler's own planner ([`crate::controller::planner::plan`]) from the listed objects.
//! Positions are never written into status (each admission would move every waiting job);
//! like Kueue's pending-workloads view, they are computed when someone asks.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::table::{Output, Registry};
use super::{Cluster, Result};
use crate::api::{AgentJob, AgentKind};
use crate::controller::locks;
use crate::controller::planner::{self, Decision, LockHolder, Observed};

/// One waiting job.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub position: i32,
    pub namespace: String,
    pub name: String,
    pub agent: String,
    pub priority: i32,
    /// Creation time (RFC 3339).
    pub created: String,
    /// `slot`, `lock:<key>`, `approval:<name>` or `backoff`.
    pub waiting_for: String,
}

/// The queue as the scheduler would plan it now: waiting jobs in position order.
pub fn plan(
    jobs: &[AgentJob],
    leases: &[Lease],
    registry: Option<&Registry>,
    now: Timestamp,
) -> Vec<Entry> {
    let no = |_: &str| false;
    // The agents' own locks; their approvals and problems the operator's status says.
    let agents = crate::agents::operator_side(Default::default());
    let seen = Observed {
        agents: &agents,
        operator: false,
        started: false,
        pod_finished: false,
        approved: &no,
    };
    // An operator that serves one namespace has a queue of that namespace's jobs.
    let served = |j: &&AgentJob| {
        registry
            .and_then(|r| r.watch_namespace.as_deref())
            .is_none_or(|ns| j.namespace().as_deref() == Some(ns))
    };
    let views: Vec<_> = jobs
        .iter()
        .filter(served)
        .map(|j| planner::view(j, &seen))
        .collect();
    let lock_state: HashMap<String, LockHolder> = leases
        .iter()
        .filter_map(|l| locks::lock_key(l).map(|k| (k, locks::holder(l))))
        .collect();
    let limits = planner::Limits {
        max_running: registry.map(|r| r.max_running).unwrap_or(4),
        per_agent: registry
            .map(|r| {
                r.limits
                    .iter()
                    .filter_map(|(a, n)| {
                        AgentKind::ALL
                            .into_iter()
                            .find(|k| k.as_str() == a)
                            .map(|k| (k, *n))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let by_key: HashMap<String, &AgentJob> = jobs
        .iter()
        .map(|j| {
            (
                format!("{}/{}", j.namespace().unwrap_or_default(), j.name_any()),
                j,
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut position = 0;
    for d in planner::plan(&views, &lock_state, &limits, now) {
        let (key, waiting_for) = match d {
            Decision::Wait {
                key, waiting_for, ..
            } => (key, waiting_for.into_owned()),
            // The scheduler starts it at its next pass: it is at the head of the queue.
            Decision::Admit { key, .. } => (key, "nothing (starting)".to_string()),
        };
        let Some(j) = by_key.get(key) else { continue };
        position += 1;
        out.push(Entry {
            position,
            namespace: j.namespace().unwrap_or_default(),
            name: j.name_any(),
            agent: j.spec.agent.to_string(),
            priority: j.spec.priority,
            created: j
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            waiting_for,
        });
    }
    out
}

/// The queue table (or `-o json|yaml`).
pub fn render(
    entries: &[Entry],
    output: Option<Output>,
    all_ns: bool,
    now: Timestamp,
) -> std::result::Result<String, String> {
    match output {
        Some(Output::Json) => {
            return serde_json::to_string_pretty(entries)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string());
        }
        Some(Output::Yaml) => return serde_yaml::to_string(entries).map_err(|e| e.to_string()),
        _ => {}
    }
    if entries.is_empty() {
        return Ok("No waiting agentjobs.\n".into());
    }
    let mut head = vec!["POSITION"];
    if all_ns {
        head.push("NAMESPACE");
    }
    head.extend(["NAME", "AGENT", "PRIORITY", "AGE", "WAITING FOR"]);
    let mut rows = vec![head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for e in entries {
        let mut r = vec![e.position.to_string()];
        if all_ns {
            r.push(e.namespace.clone());
        }
        r.push(e.name.clone());
        r.push(e.agent.clone());
        r.push(e.priority.to_string());
        r.push(super::table::age(e.created.parse().ok(), now));
        r.push(e.waiting_for.clone());
        rows.push(r);
    }
    Ok(super::table::render(&rows))
}

/// What the planner needs, listed from the cluster. Positions are global (the operator has
/// one queue), so the jobs of every namespace are listed when the user may; otherwise only
/// `namespace`'s, and the second value says so.
pub async fn fetch(
    c: &Cluster,
) -> Result<(Vec<AgentJob>, Vec<Lease>, Option<Registry>, Option<String>)> {
    let (jobs, note) = match Api::<AgentJob>::all(c.client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(l) => (l.items, None),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            match c.jobs().list(&ListParams::default()).await {
                Ok(l) => (
                    l.items,
                    Some(format!(
                        "note: you cannot list agentjobs in every namespace; positions count only the jobs of namespace {}",
                        c.namespace
                    )),
                ),
                Err(e) => return Err(c.explain(e, "agentjobs").await),
            }
        }
        Err(e) => return Err(c.explain(e, "agentjobs").await),
    };
    // Lock Leases and the registry (limits) live in the operator's namespace; without read
    // access there, running jobs still hold their locks in the plan and the default limit
    // (4) applies.
    let leases = Api::<Lease>::namespaced(c.client.clone(), &c.operator_namespace)
        .list(&ListParams::default().labels(&format!("{}=true", locks::LABEL_LOCK)))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let registry = registry(c).await;
    Ok((jobs, leases, registry, note))
}

/// The registry the operator publishes in its namespace (None when it cannot be read).
pub async fn registry(c: &Cluster) -> Option<Registry> {
    Api::<ConfigMap>::namespaced(c.client.clone(), &c.operator_namespace)
        .get_opt(crate::controller::REGISTRY_CONFIGMAP)
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data)
        .and_then(|d| d.get("registry.json").cloned())
        .and_then(|j| serde_json::from_str::<Registry>(&j).ok())
}

/// Positions by `namespace/name` (for `jobs -o wide` and `get`).
pub fn positions(entries: &[Entry]) -> BTreeMap<String, (i32, String)> {
    entries
        .iter()
        .map(|e| {
            (
                format!("{}/{}", e.namespace, e.name),
                (e.position, e.waiting_for.clone()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, AgentJobStatus, Phase};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn job(ns: &str, name: &str, prio: i32, created: i64, phase: Option<Phase>) -> AgentJob {
        let mut spec = AgentJobSpec::new(AgentKind::Probe);
        spec.probe = Some(Box::default());
        spec.priority = prio;
        let mut j = AgentJob::new(name, spec);
        j.metadata.namespace = Some(ns.into());
        j.metadata.uid = Some(format!("uid-{name}"));
        j.metadata.creation_timestamp = Some(Time(t(created)));
        j.metadata.finalizers = Some(vec![crate::contract::FINALIZER.into()]);
        j.status = Some(AgentJobStatus {
            phase,
            ..Default::default()
        });
        j
    }

    fn registry(max: usize) -> Registry {
        Registry {
            image: "x".into(),
            max_running: max,
            limits: BTreeMap::new(),
            implemented: vec![],
            watch_namespace: None,
        }
    }

    #[test]
    fn positions_follow_the_schedulers_order_across_namespaces() {
        let jobs = vec![
            job("a", "running", 0, 0, Some(Phase::Running)),
            job("a", "done", 100, 0, Some(Phase::Succeeded)),
            job("a", "low", 1, 1, Some(Phase::Queued)),
            job("b", "high", 50, 3, Some(Phase::Queued)),
            job("a", "mid-old", 10, 2, Some(Phase::Queued)),
            job("b", "mid-new", 10, 4, None),
        ];
        let q = plan(&jobs, &[], Some(&registry(1)), t(10));
        let got: Vec<(i32, &str, &str)> = q
            .iter()
            .map(|e| (e.position, e.name.as_str(), e.waiting_for.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "high", "slot"),
                (2, "mid-old", "slot"),
                (3, "mid-new", "slot"),
                (4, "low", "slot"),
            ]
        );
        // With a free slot the head is about to start.
        let q = plan(&jobs, &[], Some(&registry(2)), t(10));
        assert_eq!(
            (q[0].name.as_str(), q[0].waiting_for.as_str()),
            ("high", "nothing (starting)")
        );
        let table = render(&q, None, true, t(10)).unwrap();
        assert!(table.starts_with("POSITION   NAMESPACE"), "{table}");
        assert!(table.contains("2          a           mid-old"), "{table}");
    }

    #[test]
    fn an_operator_serving_one_namespace_has_that_namespaces_queue() {
        let jobs = vec![
            job("other", "elsewhere", 100, 0, Some(Phase::Queued)),
            job("mine", "a", 1, 1, Some(Phase::Queued)),
            job("mine", "b", 1, 2, Some(Phase::Queued)),
        ];
        let mut r = registry(0);
        r.watch_namespace = Some("mine".into());
        let q = plan(&jobs, &[], Some(&r), t(10));
        let got: Vec<(i32, &str)> = q.iter().map(|e| (e.position, e.name.as_str())).collect();
        assert_eq!(got, vec![(1, "a"), (2, "b")]);
    }

    #[test]
    fn the_default_limit_is_the_plans_four() {
        let jobs: Vec<AgentJob> = (0..6)
            .map(|i| job("a", &format!("j{i}"), 0, i, Some(Phase::Queued)))
            .collect();
        let q = plan(&jobs, &[], None, t(10));
        let starting = q
            .iter()
            .filter(|e| e.waiting_for == "nothing (starting)")
            .count();
        assert_eq!(starting, 4);
        assert_eq!(q.len(), 6);
    }
}
