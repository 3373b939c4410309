//! Job locks as coordination.k8s.io/v1 Leases: holder = job UID, renewed while the job runs,
//! released as soon as it ends, taken over when expired. Writes use optimistic concurrency
//! (create, or replace at the observed resourceVersion), so two admissions can never both win.
//!
//! (kube-lease-manager serves the operator's leader election; it is built around a blocking
//! `changed()` loop per lease, while admission needs a non-blocking try-acquire of many
//! leases against a snapshot, so locks are these few lines instead.)

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};
use sha2::{Digest, Sha256};

use super::agent::Agents;
use super::planner::LockHolder;
use super::pod::{MANAGED_BY, MANAGER, hex};
use crate::api::AgentJob;

pub use crate::contract::{ANNOTATION_LOCK, LABEL_LOCK};

/// The locks a job needs: `spec.locks` scoped to its namespace, plus the agent's own (its
/// [`OperatorSide::locks`](super::agent::OperatorSide::locks), e.g. the deployer's
/// `deploy/<namespace>/<environment>`).
pub fn job_locks(job: &AgentJob, agents: &Agents) -> Vec<String> {
    let ns = job.namespace().unwrap_or_default();
    let mut out: Vec<String> = job.spec.locks.iter().map(|l| format!("{ns}/{l}")).collect();
    out.extend(agents.of(job.spec.agent).locks(job));
    out.sort();
    out.dedup();
    out
}

/// Lease name of a lock key (keys may hold `/`; names may not).
pub fn lease_name(key: &str) -> String {
    format!(
        "devagents-lock-{}",
        &hex(&Sha256::digest(key.as_bytes()))[..20]
    )
}

pub fn holder(lease: &Lease) -> LockHolder {
    let spec = lease.spec.clone().unwrap_or_default();
    let expires = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .and_then(|t| {
            t.0.checked_add(SignedDuration::from_secs(
                spec.lease_duration_seconds.unwrap_or(0) as i64,
            ))
            .ok()
        });
    LockHolder {
        holder: spec.holder_identity.filter(|h| !h.is_empty()),
        expires,
    }
}

/// The lock key a Lease stands for.
pub fn lock_key(lease: &Lease) -> Option<String> {
    lease.annotations().get(ANNOTATION_LOCK).cloned()
}

fn spec_for(uid: &str, duration_secs: i32, now: Timestamp, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(uid.to_string()),
        lease_duration_seconds: Some(duration_secs),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

/// Try to take `key` for `uid`. `seen` is the Lease as the cache knows it. Returns false when
/// someone else holds it or won the race.
pub async fn acquire(
    api: &Api<Lease>,
    key: &str,
    uid: &str,
    duration_secs: i32,
    seen: Option<&Lease>,
) -> kube::Result<bool> {
    let now = Timestamp::now();
    let name = lease_name(key);
    match seen {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name),
                    labels: Some(BTreeMap::from([
                        (MANAGED_BY.to_string(), MANAGER.to_string()),
                        (LABEL_LOCK.to_string(), "true".to_string()),
                    ])),
                    annotations: Some(BTreeMap::from([(
                        ANNOTATION_LOCK.to_string(),
                        key.to_string(),
                    )])),
                    ..ObjectMeta::default()
                },
                spec: Some(spec_for(uid, duration_secs, now, 0)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(l) => {
            let h = holder(l);
            if h.holder.as_deref() == Some(uid) {
                return Ok(true);
            }
            if !super::planner::lock_free_for(&h, uid, now) {
                return Ok(false);
            }
            let transitions = l
                .spec
                .as_ref()
                .and_then(|s| s.lease_transitions)
                .unwrap_or(0)
                + 1;
            let mut next = l.clone();
            next.spec = Some(spec_for(uid, duration_secs, now, transitions));
            match api.replace(&name, &PostParams::default(), &next).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Release `key` if `uid` holds it (fresh read, so a cache lag never frees someone else's).
pub async fn release(api: &Api<Lease>, key: &str, uid: &str) -> kube::Result<()> {
    let name = lease_name(key);
    for _ in 0..3 {
        let Some(mut l) = api.get_opt(&name).await? else {
            return Ok(());
        };
        if holder(&l).holder.as_deref() != Some(uid) {
            return Ok(());
        }
        if let Some(spec) = l.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = None;
            spec.acquire_time = None;
        }
        match api.replace(&name, &PostParams::default(), &l).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Renew a held lease (from the cached copy; a conflict means it changed hands or was just
/// renewed, and the next round looks again).
pub async fn renew(api: &Api<Lease>, lease: &Lease) -> kube::Result<()> {
    let mut l = lease.clone();
    if let Some(spec) = l.spec.as_mut() {
        spec.renew_time = Some(MicroTime(Timestamp::now()));
    }
    match api
        .replace(&lease.name_any(), &PostParams::default(), &l)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::environment::Environments;
    use crate::api::{AgentJobSpec, AgentKind, DeployerParams};

    fn hooks(envs: Environments) -> Agents {
        crate::agents::operator_side(std::sync::Arc::new(envs))
    }

    #[test]
    fn locks_are_scoped_and_derived() {
        let mut spec = AgentJobSpec::new(AgentKind::Deployer);
        spec.locks = vec!["repo/core".into(), "repo/core".into()];
        spec.deployer = Some(Box::new(DeployerParams {
            environment: "staging".into(),
            version: "v1".into(),
            ..Default::default()
        }));
        let mut job = AgentJob::new("d", spec);
        job.metadata.namespace = Some("team-a".into());
        assert_eq!(
            job_locks(&job, &hooks(Environments::default())),
            vec![
                "deploy/team-a/staging".to_string(),
                "team-a/repo/core".to_string()
            ]
        );
        // With the environment configured, the lock is on its target namespace.
        let envs = Environments::parse(
            "environments: [{name: staging, namespace: shop, services: [{name: api, image: r/api}]}]",
        )
        .unwrap();
        assert_eq!(job_locks(&job, &hooks(envs))[0], "deploy/shop/staging");
    }

    #[test]
    fn lease_names_are_valid_and_stable() {
        let n = lease_name("deploy/team-a/staging");
        assert_eq!(n, lease_name("deploy/team-a/staging"));
        assert_ne!(n, lease_name("deploy/team-a/prod"));
        assert!(
            regex::Regex::new(crate::api::patterns::DNS_SUBDOMAIN)
                .unwrap()
                .is_match(&n)
        );
    }

    #[test]
    fn holder_and_expiry() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let lease = Lease {
            metadata: ObjectMeta::default(),
            spec: Some(spec_for("u", 15, t0, 0)),
        };
        let h = holder(&lease);
        assert_eq!(h.holder.as_deref(), Some("u"));
        assert_eq!(
            h.expires,
            Some(t0.checked_add(SignedDuration::from_secs(15)).unwrap())
        );
    }
}
