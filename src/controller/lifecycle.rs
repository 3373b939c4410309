//! The state machine of one admitted job, as pure functions: what its Pod says, what happens
//! next (nothing, delete the Pod, retry, finish), and the status that results.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::config::Config;
use crate::api::{AgentJob, AgentJobStatus, Attempt, JobResult, Phase};
use crate::runner::{EXIT_ROLLED_BACK, EXIT_TRANSIENT};

/// What the current attempt's Pod looks like.
#[derive(Clone, Debug, PartialEq)]
pub enum PodObs {
    /// Confirmed absent (not just missing from a lagging cache).
    Missing,
    Pending {
        created: Timestamp,
        waiting: Option<(String, String)>,
    },
    Running {
        started: Option<Timestamp>,
    },
    Succeeded {
        exit_code: i32,
        message: String,
        started: Option<Timestamp>,
        finished: Option<Timestamp>,
    },
    Failed {
        exit_code: Option<i32>,
        container_reason: Option<String>,
        message: String,
        pod_reason: Option<String>,
        pod_message: Option<String>,
        started: Option<Timestamp>,
        finished: Option<Timestamp>,
    },
}

pub fn observe(pod: &Pod) -> PodObs {
    let st = pod.status.clone().unwrap_or_default();
    let cs = st.container_statuses.as_ref().and_then(|c| c.first());
    let state = cs.and_then(|c| c.state.as_ref());
    let term = state.and_then(|s| s.terminated.as_ref());
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now);
    let started = st.start_time.as_ref().map(|t| t.0);
    match st.phase.as_deref() {
        Some("Succeeded") => PodObs::Succeeded {
            exit_code: term.map(|t| t.exit_code).unwrap_or(0),
            message: term.and_then(|t| t.message.clone()).unwrap_or_default(),
            started,
            finished: term.and_then(|t| t.finished_at.as_ref()).map(|t| t.0),
        },
        Some("Failed") => PodObs::Failed {
            exit_code: term.map(|t| t.exit_code),
            container_reason: term.and_then(|t| t.reason.clone()),
            message: term.and_then(|t| t.message.clone()).unwrap_or_default(),
            pod_reason: st.reason.clone(),
            pod_message: st.message.clone(),
            started,
            finished: term.and_then(|t| t.finished_at.as_ref()).map(|t| t.0),
        },
        Some("Running") => PodObs::Running { started },
        _ => PodObs::Pending {
            created,
            waiting: state.and_then(|s| s.waiting.as_ref()).map(|w| {
                (
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default(),
                )
            }),
        },
    }
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptEnd {
    pub exit_code: Option<i32>,
    pub reason: String,
    pub message: String,
    /// Pod lost, evicted, never started, or the runner's transient exit code.
    pub retryable: bool,
    /// The phase if this ends the job.
    pub phase: Phase,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
}

/// The controller's next step for an admitted job.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Nothing to do; look again after this long (deadline, start timeout).
    Wait(Option<Duration>),
    /// The attempt is over; delete its Pod first when `delete_pod`.
    End { end: AttemptEnd, delete_pod: bool },
}

fn secs(d: SignedDuration) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64().max(0.0))
}

/// Decide from the job and its current attempt's Pod.
pub fn step(job: &AgentJob, pod: &PodObs, now: Timestamp, cfg: &Config) -> Step {
    let status = job.status.clone().unwrap_or_default();
    let attempt_created = status
        .attempts
        .last()
        .and_then(|a| a.created_at.as_ref())
        .map(|t| t.0)
        .unwrap_or(now);
    let pod_alive = matches!(pod, PodObs::Pending { .. } | PodObs::Running { .. });

    if job.spec.cancel {
        return Step::End {
            end: AttemptEnd {
                exit_code: None,
                reason: "Cancelled".into(),
                message: "spec.cancel was set".into(),
                retryable: false,
                phase: Phase::Cancelled,
                started: None,
                finished: Some(now),
            },
            delete_pod: pod_alive,
        };
    }

    let deadline = attempt_created
        .checked_add(SignedDuration::from_secs(job.spec.timeout_seconds))
        .ok()
        .and_then(|t| {
            t.checked_add(SignedDuration::try_from(cfg.deadline_grace).ok()?)
                .ok()
        })
        .unwrap_or(now);
    if pod_alive && now >= deadline {
        return Step::End {
            end: AttemptEnd {
                exit_code: None,
                reason: "DeadlineExceeded".into(),
                message: format!(
                    "the attempt ran longer than timeoutSeconds ({}s)",
                    job.spec.timeout_seconds
                ),
                retryable: false,
                phase: Phase::Failed,
                started: None,
                finished: Some(now),
            },
            delete_pod: true,
        };
    }
    let until_deadline = Some(secs(now.duration_until(deadline)));

    match pod {
        PodObs::Missing => Step::End {
            end: AttemptEnd {
                exit_code: None,
                reason: "PodDeleted".into(),
                message: "the agent pod was deleted before it finished".into(),
                retryable: true,
                phase: Phase::Failed,
                started: None,
                finished: Some(now),
            },
            delete_pod: false,
        },
        PodObs::Pending { created, waiting } => {
            let start_by = created
                .checked_add(
                    SignedDuration::try_from(cfg.start_timeout).unwrap_or(SignedDuration::ZERO),
                )
                .unwrap_or(now);
            if now >= start_by {
                let (r, m) = waiting
                    .clone()
                    .unwrap_or_else(|| ("Pending".into(), "not scheduled".into()));
                return Step::End {
                    end: AttemptEnd {
                        exit_code: None,
                        reason: "NeverStarted".into(),
                        message: format!(
                            "the agent pod did not start within {}s: {r}: {m}",
                            cfg.start_timeout.as_secs()
                        ),
                        retryable: true,
                        phase: Phase::Failed,
                        started: None,
                        finished: Some(now),
                    },
                    delete_pod: true,
                };
            }
            let until_start = secs(now.duration_until(start_by));
            Step::Wait(until_deadline.map(|d| d.min(until_start)))
        }
        PodObs::Running { .. } => Step::Wait(until_deadline),
        PodObs::Succeeded {
            exit_code,
            message,
            started,
            finished,
        } => Step::End {
            end: AttemptEnd {
                exit_code: Some(*exit_code),
                reason: "Succeeded".into(),
                message: message.clone(),
                retryable: false,
                phase: Phase::Succeeded,
                started: *started,
                finished: *finished,
            },
            delete_pod: false,
        },
        PodObs::Failed {
            exit_code,
            container_reason,
            message,
            pod_reason,
            pod_message,
            started,
            finished,
        } => {
            // Only the deployer ends RolledBack; exit code 3 is just a failure for others.
            let rolled_back_is_meaningful = job.spec.agent == crate::api::AgentKind::Deployer;
            let (reason, retryable, msg) = match (
                pod_reason.as_deref(),
                exit_code,
                container_reason.as_deref(),
            ) {
                (Some("DeadlineExceeded"), _, _) => (
                    "DeadlineExceeded",
                    false,
                    format!(
                        "the attempt ran longer than timeoutSeconds ({}s)",
                        job.spec.timeout_seconds
                    ),
                ),
                (
                    Some(r @ ("Evicted" | "Preempting" | "NodeLost" | "Shutdown" | "Terminated")),
                    _,
                    _,
                ) => (
                    r,
                    true,
                    pod_message.clone().unwrap_or_else(|| message.clone()),
                ),
                (_, _, Some("ContainerStatusUnknown")) => ("PodLost", true, message.clone()),
                (_, Some(code), _) if *code == EXIT_TRANSIENT => {
                    ("TransientFailure", true, message.clone())
                }
                (_, Some(code), _) if *code == EXIT_ROLLED_BACK && rolled_back_is_meaningful => {
                    ("RolledBack", false, message.clone())
                }
                (_, Some(code), _) => (
                    "AgentFailed",
                    false,
                    if message.is_empty() {
                        format!("the agent exited with code {code}")
                    } else {
                        message.clone()
                    },
                ),
                (_, None, _) => (
                    "PodFailed",
                    true,
                    pod_message.clone().unwrap_or_else(|| message.clone()),
                ),
            };
            Step::End {
                end: AttemptEnd {
                    exit_code: *exit_code,
                    reason: reason.into(),
                    message: msg,
                    retryable,
                    phase: if *exit_code == Some(EXIT_ROLLED_BACK) && rolled_back_is_meaningful {
                        Phase::RolledBack
                    } else {
                        Phase::Failed
                    },
                    started: *started,
                    finished: *finished,
                },
                delete_pod: false,
            }
        }
    }
}

/// Exponential backoff of retry `n` (1-based), capped.
pub fn backoff(base_seconds: i64, retry: i32, cap: Duration) -> Duration {
    let exp = (retry.max(1) - 1).min(30) as u32;
    let secs = (base_seconds.max(1) as u64).saturating_mul(1u64 << exp);
    Duration::from_secs(secs).min(cap)
}

pub fn set_condition(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let s = if status { "True" } else { "False" };
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != s {
                c.last_transition_time = Time(now);
            }
            c.status = s.into();
            c.reason = reason.into();
            c.message = message.into();
        }
        None => conds.push(Condition {
            type_: type_.into(),
            status: s.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(now),
            observed_generation: None,
        }),
    }
}

/// The phase of a job waiting for `waiting_for`.
pub fn waiting_phase(waiting_for: &str) -> Phase {
    if waiting_for.starts_with("approval:") {
        Phase::WaitingForApproval
    } else {
        Phase::Queued
    }
}

/// Status of a job that waits (queued, backoff, lock, approval).
pub fn waiting_status(prev: &AgentJobStatus, waiting_for: &str, now: Timestamp) -> AgentJobStatus {
    let mut s = prev.clone();
    s.phase = Some(waiting_phase(waiting_for));
    s.waiting_for = Some(waiting_for.into());
    if s.reason.as_deref() != Some("Retrying") {
        s.reason = Some("Waiting".into());
        s.message = Some(format!("waiting for {waiting_for}"));
    }
    set_condition(
        &mut s.conditions,
        "Admitted",
        false,
        "Waiting",
        &format!("waiting for {waiting_for}"),
        now,
    );
    s
}

/// Status of a job whose attempt `n` was just started with Pod `pod`.
pub fn admitted_status(
    prev: &AgentJobStatus,
    attempt: i32,
    pod: &str,
    now: Timestamp,
) -> AgentJobStatus {
    let mut s = prev.clone();
    s.phase = Some(Phase::Running);
    s.waiting_for = None;
    s.next_attempt_at = None;
    s.reason = Some("Running".into());
    s.message = Some(format!("attempt {attempt} runs in pod {pod}"));
    if s.started_at.is_none() {
        s.started_at = Some(Time(now));
    }
    if !s.attempts.iter().any(|a| a.attempt == attempt) {
        s.attempts.push(Attempt {
            attempt,
            pod: pod.into(),
            created_at: Some(Time(now)),
            ..Default::default()
        });
    }
    set_condition(
        &mut s.conditions,
        "Admitted",
        true,
        "PodCreated",
        &format!("attempt {attempt}: pod {pod}"),
        now,
    );
    s
}

/// What ending an attempt does to the job.
#[derive(Clone, Debug, PartialEq)]
pub enum EndKind {
    Retry { after: Duration },
    Final(Phase),
}

/// Status after an attempt ended; retries while the budget allows and the failure is retryable.
pub fn ended_status(
    job: &AgentJob,
    end: &AttemptEnd,
    now: Timestamp,
    cfg: &Config,
) -> (AgentJobStatus, EndKind) {
    // What agents say (termination messages) is redacted before it reaches status or Events.
    let mut end = end.clone();
    end.message = crate::services::redact::redact(&end.message).into_owned();
    let end = &end;
    let mut s = job.status.clone().unwrap_or_default();
    if let Some(a) = s.attempts.last_mut() {
        a.started_at = a.started_at.clone().or(end.started.map(Time));
        a.finished_at = Some(Time(end.finished.unwrap_or(now)));
        a.exit_code = end.exit_code;
        a.reason = Some(end.reason.clone());
        a.message = Some(crate::runner::truncate_message(&end.message).to_string());
    }
    let attempts = s.attempts.len() as i32;
    let limit = job.spec.retries.as_ref().map(|r| r.limit).unwrap_or(0);
    let base = job
        .spec
        .retries
        .as_ref()
        .map(|r| r.backoff_seconds)
        .unwrap_or(10);
    s.waiting_for = None;
    if end.retryable && attempts <= limit {
        let after = backoff(base, attempts, cfg.max_backoff);
        let at = now
            .checked_add(SignedDuration::try_from(after).unwrap_or(SignedDuration::ZERO))
            .unwrap_or(now);
        s.phase = Some(Phase::Queued);
        s.next_attempt_at = Some(Time(at));
        s.waiting_for = Some("backoff".into());
        s.reason = Some("Retrying".into());
        s.message = Some(format!(
            "attempt {attempts} failed ({}: {}); retry {attempts} of {limit} after {}s",
            end.reason,
            end.message,
            after.as_secs()
        ));
        set_condition(
            &mut s.conditions,
            "Admitted",
            false,
            "Retrying",
            &format!("attempt {attempts} failed"),
            now,
        );
        return (s, EndKind::Retry { after });
    }
    let phase = end.phase;
    s.phase = Some(phase);
    s.next_attempt_at = None;
    s.completed_at = Some(Time(now));
    s.reason = Some(end.reason.clone());
    let message = if end.retryable && limit > 0 {
        format!(
            "{} (retries exhausted after {attempts} attempts)",
            end.message
        )
    } else {
        end.message.clone()
    };
    s.message = Some(crate::runner::truncate_message(&message).to_string());
    if phase == Phase::Succeeded {
        // A result the agent submitted through the agent API wins; otherwise the
        // termination message is the summary.
        if s.result.as_ref().is_none_or(|r| r.summary.is_empty()) {
            let prev = s.result.take().unwrap_or_default();
            s.result = Some(JobResult {
                summary: end.message.clone(),
                ..prev
            });
        }
    }
    set_condition(
        &mut s.conditions,
        "Finished",
        true,
        &end.reason,
        s.message.as_deref().unwrap_or(""),
        now,
    );
    (s, EndKind::Final(phase))
}

/// A job that never started and is cancelled while waiting.
pub fn cancelled_while_waiting(prev: &AgentJobStatus, now: Timestamp) -> AgentJobStatus {
    ended_while_waiting(
        prev,
        Phase::Cancelled,
        "Cancelled",
        "spec.cancel was set before the job started",
        now,
    )
}

/// A job that ends before it started (cancelled, approval rejected or expired).
pub fn ended_while_waiting(
    prev: &AgentJobStatus,
    phase: Phase,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> AgentJobStatus {
    let message = &*crate::services::redact::redact(message);
    let mut s = prev.clone();
    s.phase = Some(phase);
    s.reason = Some(reason.into());
    s.message = Some(crate::runner::truncate_message(message).into());
    s.waiting_for = None;
    s.next_attempt_at = None;
    s.completed_at = Some(Time(now));
    set_condition(&mut s.conditions, "Finished", true, reason, message, now);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, AgentKind, RetryPolicy};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn running_job(retries: i32) -> AgentJob {
        let mut spec = AgentJobSpec::new(AgentKind::Probe);
        spec.probe = Some(Box::default());
        spec.timeout_seconds = 60;
        spec.retries = Some(RetryPolicy {
            limit: retries,
            backoff_seconds: 2,
        });
        let mut j = AgentJob::new("j", spec);
        j.status = Some(admitted_status(&AgentJobStatus::default(), 1, "j-1", t(0)));
        j
    }

    fn failed(code: i32, msg: &str) -> PodObs {
        PodObs::Failed {
            exit_code: Some(code),
            container_reason: Some("Error".into()),
            message: msg.into(),
            pod_reason: None,
            pod_message: None,
            started: Some(t(1)),
            finished: Some(t(2)),
        }
    }

    fn end_of(step: Step) -> (AttemptEnd, bool) {
        match step {
            Step::End { end, delete_pod } => (end, delete_pod),
            other => panic!("expected End, got {other:?}"),
        }
    }

    #[test]
    fn agent_failure_is_final_with_its_reason() {
        let job = running_job(3);
        let (end, del) = end_of(step(
            &job,
            &failed(1, "entity Department exists"),
            t(3),
            &Config::default(),
        ));
        assert!(!end.retryable && !del);
        assert_eq!(end.reason, "AgentFailed");
        let (s, kind) = ended_status(&job, &end, t(3), &Config::default());
        assert_eq!(kind, EndKind::Final(Phase::Failed));
        assert_eq!(s.message.as_deref(), Some("entity Department exists"));
        assert_eq!(s.attempts[0].exit_code, Some(1));
        assert!(s.completed_at.is_some());
    }

    #[test]
    fn a_deploy_that_rolled_back_ends_rolled_back_with_its_reason() {
        // Exit code 3 of another agent is an ordinary failure.
        let probe = running_job(0);
        let (end, _) = end_of(step(
            &probe,
            &failed(EXIT_ROLLED_BACK, "x"),
            t(3),
            &Config::default(),
        ));
        assert_eq!(
            (end.reason.as_str(), end.phase),
            ("AgentFailed", Phase::Failed)
        );
        let mut job = running_job(3);
        job.spec.agent = AgentKind::Deployer;
        let (end, _) = end_of(step(
            &job,
            &failed(
                EXIT_ROLLED_BACK,
                "api: deployment \"api\" exceeded its progress deadline",
            ),
            t(3),
            &Config::default(),
        ));
        assert!(!end.retryable);
        assert_eq!(end.reason, "RolledBack");
        let (s, kind) = ended_status(&job, &end, t(3), &Config::default());
        assert_eq!(kind, EndKind::Final(Phase::RolledBack));
        assert!(s.message.unwrap().contains("progress deadline"));
    }

    #[test]
    fn transient_exit_retries_with_exponential_backoff_until_the_limit() {
        let cfg = Config::default();
        let mut job = running_job(2);
        let (end, _) = end_of(step(
            &job,
            &failed(EXIT_TRANSIENT, "operator unreachable"),
            t(3),
            &cfg,
        ));
        assert!(end.retryable);
        let (s, kind) = ended_status(&job, &end, t(3), &cfg);
        assert_eq!(
            kind,
            EndKind::Retry {
                after: Duration::from_secs(2)
            }
        );
        assert_eq!(s.phase, Some(Phase::Queued));
        assert_eq!(s.next_attempt_at.as_ref().unwrap().0, t(5));
        // Second attempt fails the same way: backoff doubles.
        job.status = Some(admitted_status(&s, 2, "j-2", t(6)));
        let (s, kind) = ended_status(&job, &end, t(7), &cfg);
        assert_eq!(
            kind,
            EndKind::Retry {
                after: Duration::from_secs(4)
            }
        );
        // Third: retries exhausted.
        job.status = Some(admitted_status(&s, 3, "j-3", t(12)));
        let (s, kind) = ended_status(&job, &end, t(13), &cfg);
        assert_eq!(kind, EndKind::Final(Phase::Failed));
        assert_eq!(s.attempts.len(), 3);
        assert!(s.message.unwrap().contains("retries exhausted"));
    }

    #[test]
    fn lost_evicted_or_never_started_pods_are_retryable() {
        let cfg = Config {
            start_timeout: Duration::from_secs(30),
            ..Config::default()
        };
        let job = running_job(1);
        assert!(end_of(step(&job, &PodObs::Missing, t(1), &cfg)).0.retryable);
        let evicted = PodObs::Failed {
            exit_code: None,
            container_reason: None,
            message: String::new(),
            pod_reason: Some("Evicted".into()),
            pod_message: Some("node pressure".into()),
            started: None,
            finished: None,
        };
        assert!(end_of(step(&job, &evicted, t(1), &cfg)).0.retryable);
        let pending = PodObs::Pending {
            created: t(0),
            waiting: Some(("ImagePullBackOff".into(), "x".into())),
        };
        assert_eq!(
            step(&job, &pending, t(10), &cfg),
            Step::Wait(Some(Duration::from_secs(20)))
        );
        let (end, del) = end_of(step(&job, &pending, t(31), &cfg));
        assert!(end.retryable && del);
        assert_eq!(end.reason, "NeverStarted");
    }

    #[test]
    fn deadline_is_enforced_by_the_controller_too() {
        let cfg = Config {
            deadline_grace: Duration::from_secs(5),
            ..Config::default()
        };
        let job = running_job(3);
        let run = PodObs::Running {
            started: Some(t(1)),
        };
        assert_eq!(
            step(&job, &run, t(10), &cfg),
            Step::Wait(Some(Duration::from_secs(55)))
        );
        let (end, del) = end_of(step(&job, &run, t(65), &cfg));
        assert_eq!(
            (end.reason.as_str(), end.retryable, del),
            ("DeadlineExceeded", false, true)
        );
        let kubelet = PodObs::Failed {
            exit_code: Some(137),
            container_reason: Some("Error".into()),
            message: String::new(),
            pod_reason: Some("DeadlineExceeded".into()),
            pod_message: None,
            started: None,
            finished: None,
        };
        let (end, _) = end_of(step(&job, &kubelet, t(61), &cfg));
        assert_eq!(
            (end.reason.as_str(), end.retryable),
            ("DeadlineExceeded", false)
        );
    }

    #[test]
    fn cancel_deletes_the_pod_and_ends_cancelled() {
        let mut job = running_job(3);
        job.spec.cancel = true;
        let (end, del) = end_of(step(
            &job,
            &PodObs::Running { started: None },
            t(2),
            &Config::default(),
        ));
        assert!(del);
        let (s, kind) = ended_status(&job, &end, t(2), &Config::default());
        assert_eq!(kind, EndKind::Final(Phase::Cancelled));
        assert_eq!(s.phase, Some(Phase::Cancelled));
    }

    #[test]
    fn success_records_the_summary() {
        let job = running_job(0);
        let ok = PodObs::Succeeded {
            exit_code: 0,
            message: "done".into(),
            started: Some(t(1)),
            finished: Some(t(2)),
        };
        let (end, _) = end_of(step(&job, &ok, t(3), &Config::default()));
        let (s, _) = ended_status(&job, &end, t(3), &Config::default());
        assert_eq!(s.phase, Some(Phase::Succeeded));
        assert_eq!(s.result.unwrap().summary, "done");
        assert_eq!(s.attempts[0].started_at.as_ref().unwrap().0, t(1));
        let finished = s.conditions.iter().find(|c| c.type_ == "Finished").unwrap();
        assert_eq!(finished.status, "True");
    }

    #[test]
    fn backoff_caps() {
        assert_eq!(
            backoff(10, 1, Duration::from_secs(3600)),
            Duration::from_secs(10)
        );
        assert_eq!(
            backoff(10, 3, Duration::from_secs(3600)),
            Duration::from_secs(40)
        );
        assert_eq!(
            backoff(10, 30, Duration::from_secs(3600)),
            Duration::from_secs(3600)
        );
    }
}
