//! The admission queue, as a pure function of a snapshot: which waiting jobs start now, and
//! why every other one waits. The scheduler loop feeds it the reflector stores and applies
//! the decisions; nothing about the queue lives only in memory.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::jiff::Timestamp;

use kube::ResourceExt;

use super::agent::Agents;
use crate::api::{AgentJob, AgentJobStatus, AgentKind, Phase};

/// What the planner needs to know about one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    /// `namespace/name`.
    pub key: String,
    pub uid: String,
    pub agent: AgentKind,
    pub priority: i32,
    pub created: Timestamp,
    pub state: JobState,
    /// Lock keys the job needs (spec.locks scoped to its namespace + the agent's own).
    pub locks: Vec<String>,
    /// Name of the AgentApproval the job waits for, when it is not approved yet.
    pub pending_approval: Option<String>,
    /// Not admissible before this instant (retry backoff).
    pub not_before: Option<Timestamp>,
    /// The operator's finalizer is on the job (needed before it may hold locks).
    pub has_finalizer: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Not started, or waiting for a retry.
    Waiting,
    /// Holds a slot: admitted and not finished.
    Running,
    /// Finished; ignored.
    Done,
}

/// Who holds a lock, and until when (renewTime + leaseDuration).
#[derive(Clone, Debug, PartialEq)]
pub struct LockHolder {
    pub holder: Option<String>,
    pub expires: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_running: usize,
    pub per_agent: BTreeMap<AgentKind, usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Start the job now (its locks are free for it). `index`: the job's place in the slice
    /// given to [`plan`].
    Admit { key: &'a str, index: usize },
    /// Keep waiting: 1-based queue position and the reason.
    Wait {
        key: &'a str,
        index: usize,
        position: i32,
        waiting_for: Cow<'static, str>,
    },
}

/// What the caller observed beside the job object itself.
pub struct Observed<'a> {
    /// The agents' operator-side hooks (their own locks, approvals and problems).
    pub agents: &'a Agents,
    /// The operator's own view: approvals and problems come from the hooks. Not (the CLI,
    /// which does not know the operator's configuration): approvals are taken from what
    /// status says, and problems are left to the operator.
    pub operator: bool,
    /// The Pod of the job's next attempt exists, or this process just admitted it.
    pub started: bool,
    /// The Pod of the job's current attempt has terminated: its slot is free already, while
    /// the reconciler records the end (the end write is not on the next job's path).
    pub pod_finished: bool,
    /// Whether the AgentApproval of this name is Approved and was issued for this job.
    pub approved: &'a dyn Fn(&str) -> bool,
}

/// What of a job's view follows from the job object alone (so a caller that keeps views
/// between passes computes it once per resourceVersion, see [`fixed_view`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Fixed {
    /// The AgentApproval the job needs before it runs, approved or not.
    pub approval: Option<String>,
    /// The operator's configuration cannot serve it (never admitted; the reconciler ends it).
    pub unservable: bool,
}

/// The planner's view of one job: the same function serves the scheduler (from its caches)
/// and `kubectl agent queue` (from listed objects).
pub fn view(job: &AgentJob, seen: &Observed<'_>) -> JobView {
    let (mut v, fixed) = fixed_view(job, seen.agents, seen.operator);
    observe(&mut v, &fixed, job, seen);
    v
}

/// The part of [`view`] that depends on the job object only; its `state` and
/// `pending_approval` are set by [`observe`].
pub fn fixed_view(job: &AgentJob, agents: &Agents, operator: bool) -> (JobView, Fixed) {
    let no_status = AgentJobStatus::default();
    let status = job.status.as_ref().unwrap_or(&no_status);
    let unservable =
        operator && status.attempts.is_empty() && agents.of(job.spec.agent).problem(job).is_some();
    let approval = match operator {
        true => super::approval::run_approval(job, agents).map(|(name, _)| name),
        // The CLI does not know the operator's configuration: the approval status names.
        false => status
            .waiting_for
            .as_deref()
            .and_then(|w| w.strip_prefix("approval:"))
            .map(str::to_string),
    };
    let v = JobView {
        key: format!(
            "{}/{}",
            job.metadata.namespace.as_deref().unwrap_or_default(),
            job.metadata.name.as_deref().unwrap_or_default()
        ),
        uid: job.metadata.uid.clone().unwrap_or_default(),
        agent: job.spec.agent,
        priority: job.spec.priority,
        created: job
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(Timestamp::now),
        state: JobState::Waiting,
        locks: super::locks::job_locks(job, agents),
        pending_approval: None,
        not_before: status.next_attempt_at.as_ref().map(|t| t.0),
        has_finalizer: job.finalizers().iter().any(|f| f == super::FINALIZER),
    };
    (
        v,
        Fixed {
            approval,
            unservable,
        },
    )
}

/// Set what of `v` depends on more than the job object: its state (slot held, waiting, done)
/// and the approval it still waits for. Allocates nothing unless the pending approval changes.
pub fn observe(v: &mut JobView, fixed: &Fixed, job: &AgentJob, seen: &Observed<'_>) {
    let phase = job
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    v.state = if job.metadata.deletion_timestamp.is_some()
        || phase.is_terminal()
        || job.spec.cancel
        || fixed.unservable
    {
        JobState::Done
    } else if seen.started || (phase == Phase::Running && !seen.pod_finished) {
        JobState::Running
    } else if phase == Phase::Running {
        // Ended, not yet recorded: no slot, and never admitted again before the record (a
        // retry becomes Waiting once status says so). Its locks stay held by their Leases.
        JobState::Done
    } else {
        JobState::Waiting
    };
    let pending = fixed
        .approval
        .as_deref()
        .filter(|name| !(seen.approved)(name));
    if v.pending_approval.as_deref() != pending {
        v.pending_approval = pending.map(str::to_string);
    }
}

/// Queue order: priority descending, then older first, then by name.
fn queue_order(a: &JobView, b: &JobView) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(a.created.cmp(&b.created))
        .then(a.key.cmp(&b.key))
}

pub fn lock_free_for(lock: &LockHolder, uid: &str, now: Timestamp) -> bool {
    match &lock.holder {
        None => true,
        Some(h) if h.is_empty() || h == uid => true,
        Some(_) => lock.expires.is_some_and(|e| e <= now),
    }
}

/// Plan one admission pass.
pub fn plan<'a, V: std::borrow::Borrow<JobView>>(
    jobs: &'a [V],
    locks: &HashMap<String, LockHolder>,
    limits: &Limits,
    now: Timestamp,
) -> Vec<Decision<'a>> {
    let jobs: Vec<&JobView> = jobs.iter().map(|j| j.borrow()).collect();
    let mut running = 0usize;
    let mut running_by_agent: HashMap<AgentKind, usize> = HashMap::new();
    for j in jobs.iter().filter(|j| j.state == JobState::Running) {
        running += 1;
        *running_by_agent.entry(j.agent).or_default() += 1;
    }
    let mut waiting: Vec<(usize, &JobView)> = jobs
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, j)| j.state == JobState::Waiting)
        .collect();
    waiting.sort_by(|a, b| queue_order(a.1, b.1));

    // Locks of running jobs (their Lease may not be in the cache yet), and locks taken or
    // reserved in this pass by higher-priority jobs.
    let mut claimed: HashSet<&str> = jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .flat_map(|j| j.locks.iter().map(String::as_str))
        .collect();
    let mut out = Vec::with_capacity(waiting.len());
    let mut position = 0;
    for (index, j) in waiting {
        if let Some(nb) = j.not_before
            && nb > now
        {
            position += 1;
            out.push(Decision::Wait {
                key: &j.key,
                index,
                position,
                waiting_for: Cow::Borrowed("backoff"),
            });
            continue;
        }
        if let Some(a) = &j.pending_approval {
            position += 1;
            out.push(Decision::Wait {
                key: &j.key,
                index,
                position,
                waiting_for: Cow::Owned(format!("approval:{a}")),
            });
            continue;
        }
        let blocked_lock = j.locks.iter().find(|l| {
            claimed.contains(l.as_str())
                || locks
                    .get(l.as_str())
                    .is_some_and(|h| !lock_free_for(h, &j.uid, now))
        });
        let agent_full = limits
            .per_agent
            .get(&j.agent)
            .is_some_and(|lim| running_by_agent.get(&j.agent).copied().unwrap_or(0) >= *lim);
        let slot = running < limits.max_running && !agent_full;
        match blocked_lock {
            Some(l) => {
                position += 1;
                out.push(Decision::Wait {
                    key: &j.key,
                    index,
                    position,
                    waiting_for: Cow::Owned(format!("lock:{l}")),
                });
            }
            None if slot && j.has_finalizer => {
                running += 1;
                *running_by_agent.entry(j.agent).or_default() += 1;
                out.push(Decision::Admit { key: &j.key, index });
            }
            None if slot => {
                // The finalizer lands within one reconcile: hold its slot (lower priorities
                // must not overtake it meanwhile), without a status write.
                running += 1;
                *running_by_agent.entry(j.agent).or_default() += 1;
            }
            None => {
                position += 1;
                out.push(Decision::Wait {
                    key: &j.key,
                    index,
                    position,
                    waiting_for: Cow::Borrowed("slot"),
                });
            }
        }
        // Admitted or waiting for a slot: its locks are its next (priority order).
        for l in &j.locks {
            claimed.insert(l.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn job(name: &str, prio: i32, created: i64) -> JobView {
        JobView {
            key: format!("ns/{name}"),
            uid: format!("uid-{name}"),
            agent: AgentKind::Probe,
            priority: prio,
            created: t(created),
            state: JobState::Waiting,
            locks: vec![],
            pending_approval: None,
            not_before: None,
            has_finalizer: true,
        }
    }

    fn limits(n: usize) -> Limits {
        Limits {
            max_running: n,
            per_agent: BTreeMap::new(),
        }
    }

    fn admitted<'a>(d: &'a [Decision<'a>]) -> Vec<&'a str> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Admit { key, .. } => Some(key.trim_start_matches("ns/")),
                _ => None,
            })
            .collect()
    }

    fn waits<'a>(d: &'a [Decision<'a>]) -> Vec<(&'a str, i32, &'a str)> {
        d.iter()
            .filter_map(|d| match d {
                Decision::Wait {
                    key,
                    position,
                    waiting_for,
                    ..
                } => Some((
                    key.trim_start_matches("ns/"),
                    *position,
                    waiting_for.as_ref(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn admits_by_priority_then_age_within_the_global_limit() {
        let jobs = vec![
            job("low", 10, 0),
            job("high", 900, 5),
            job("mid-old", 50, 1),
            job("mid-new", 50, 2),
        ];
        let d = plan(&jobs, &HashMap::new(), &limits(2), t(10));
        assert_eq!(admitted(&d), vec!["high", "mid-old"]);
        assert_eq!(waits(&d), vec![("mid-new", 1, "slot"), ("low", 2, "slot")]);
    }

    #[test]
    fn running_jobs_hold_their_slots() {
        let mut r = job("running", 0, 0);
        r.state = JobState::Running;
        let mut done = job("done", 0, 0);
        done.state = JobState::Done;
        let jobs = vec![r, done, job("a", 5, 1), job("b", 4, 1)];
        let d = plan(&jobs, &HashMap::new(), &limits(2), t(10));
        assert_eq!(admitted(&d), vec!["a"]);
        assert_eq!(waits(&d), vec![("b", 1, "slot")]);
    }

    #[test]
    fn per_agent_limits_let_other_agents_pass() {
        let mut r = job("gen-running", 0, 0);
        r.agent = AgentKind::Generator;
        r.state = JobState::Running;
        let mut g = job("gen", 100, 1);
        g.agent = AgentKind::Generator;
        let jobs = vec![r, g, job("probe", 1, 2)];
        let lim = Limits {
            max_running: 4,
            per_agent: [(AgentKind::Generator, 1)].into(),
        };
        let d = plan(&jobs, &HashMap::new(), &lim, t(10));
        assert_eq!(admitted(&d), vec!["probe"]);
        assert_eq!(waits(&d), vec![("gen", 1, "slot")]);
    }

    #[test]
    fn locks_held_by_others_block_until_expired() {
        let mut a = job("a", 10, 0);
        a.locks = vec!["ns/repo".into()];
        let held = HashMap::from([(
            "ns/repo".to_string(),
            LockHolder {
                holder: Some("uid-other".into()),
                expires: Some(t(20)),
            },
        )]);
        let d = plan(std::slice::from_ref(&a), &held, &limits(4), t(10));
        assert_eq!(waits(&d), vec![("a", 1, "lock:ns/repo")]);
        // Expired: taken over.
        let d = plan(std::slice::from_ref(&a), &held, &limits(4), t(20));
        assert_eq!(admitted(&d), vec!["a"]);
        // Released (no holder) or our own: free.
        let released = HashMap::from([(
            "ns/repo".to_string(),
            LockHolder {
                holder: None,
                expires: None,
            },
        )]);
        assert_eq!(
            admitted(&plan(
                std::slice::from_ref(&a),
                &released,
                &limits(4),
                t(10)
            )),
            vec!["a"]
        );
        let ours = HashMap::from([(
            "ns/repo".to_string(),
            LockHolder {
                holder: Some("uid-a".into()),
                expires: Some(t(20)),
            },
        )]);
        assert_eq!(admitted(&plan(&[a], &ours, &limits(4), t(10))), vec!["a"]);
    }

    #[test]
    fn two_jobs_sharing_a_lock_are_never_admitted_together_and_priority_goes_first() {
        let mut a = job("a", 10, 0);
        a.locks = vec!["x".into()];
        let mut b = job("b", 20, 1);
        b.locks = vec!["x".into()];
        let js = [a, b];
        let d = plan(&js, &HashMap::new(), &limits(4), t(10));
        assert_eq!(admitted(&d), vec!["b"]);
        assert_eq!(waits(&d), vec![("a", 1, "lock:x")]);
    }

    #[test]
    fn a_running_job_holds_its_locks_before_the_lease_cache_shows_them() {
        let mut r = job("running", 0, 0);
        r.state = JobState::Running;
        r.locks = vec!["x".into()];
        let mut w = job("waiting", 100, 1);
        w.locks = vec!["x".into()];
        let js = [r, w];
        let d = plan(&js, &HashMap::new(), &limits(4), t(10));
        assert!(admitted(&d).is_empty());
        assert_eq!(waits(&d), vec![("waiting", 1, "lock:x")]);
    }

    #[test]
    fn a_higher_priority_waiter_reserves_its_lock() {
        // "first" needs a generator slot (full) and lock x; "second" (another agent) also
        // needs x: it must not take x ahead of the higher-priority job.
        let mut r = job("gen-running", 0, 0);
        r.agent = AgentKind::Generator;
        r.state = JobState::Running;
        let mut first = job("first", 100, 1);
        first.agent = AgentKind::Generator;
        first.locks = vec!["x".into()];
        let mut second = job("second", 1, 2);
        second.locks = vec!["x".into()];
        let lim = Limits {
            max_running: 4,
            per_agent: [(AgentKind::Generator, 1)].into(),
        };
        let js = [r, first, second];
        let d = plan(&js, &HashMap::new(), &lim, t(10));
        assert!(admitted(&d).is_empty());
        assert_eq!(
            waits(&d),
            vec![("first", 1, "slot"), ("second", 2, "lock:x")]
        );
    }

    #[test]
    fn backoff_and_approval_wait_without_taking_slots() {
        let mut a = job("a", 100, 0);
        a.not_before = Some(t(30));
        let mut b = job("b", 90, 0);
        b.pending_approval = Some("b-run".into());
        let c = job("c", 80, 0);
        let js = [a.clone(), b, c];
        let d = plan(&js, &HashMap::new(), &limits(1), t(10));
        assert_eq!(admitted(&d), vec!["c"]);
        assert_eq!(
            waits(&d),
            vec![("a", 1, "backoff"), ("b", 2, "approval:b-run")]
        );
        assert_eq!(
            admitted(&plan(&[a], &HashMap::new(), &limits(1), t(30))),
            vec!["a"]
        );
    }

    #[test]
    fn a_job_whose_pod_ended_frees_its_slot_before_its_end_is_recorded() {
        use crate::api::{AgentJobSpec, AgentJobStatus};
        let mut j = AgentJob::new("j", AgentJobSpec::new(AgentKind::Probe));
        j.metadata.namespace = Some("ns".into());
        j.status = Some(AgentJobStatus {
            phase: Some(Phase::Running),
            ..Default::default()
        });
        let no = |_: &str| false;
        let agents = Agents::default();
        let seen = |pod_finished| Observed {
            agents: &agents,
            operator: false,
            started: false,
            pod_finished,
            approved: &no,
        };
        assert_eq!(view(&j, &seen(false)).state, JobState::Running);
        assert_eq!(view(&j, &seen(true)).state, JobState::Done);
    }

    #[test]
    fn no_admission_before_the_finalizer_but_the_slot_is_held() {
        let mut a = job("a", 1, 0);
        a.has_finalizer = false;
        let js = [a.clone(), job("b", 0, 0)];
        let d = plan(&js, &HashMap::new(), &limits(4), t(1));
        assert_eq!(admitted(&d), vec!["b"]);
        assert!(waits(&d).is_empty());
        // With one slot, the lower-priority job must not overtake it.
        let js = [a, job("b", 0, 0)];
        let d = plan(&js, &HashMap::new(), &limits(1), t(1));
        assert!(admitted(&d).is_empty());
        assert_eq!(waits(&d), vec![("b", 1, "slot")]);
    }
}
