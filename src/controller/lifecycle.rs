//! The state machine of one admitted job, as pure functions: what its Pod says, what happens
//! next (nothing, delete the Pod, retry, finish), and the status that results.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::config::Config;
use crate::api::{AgentJob, AgentJobStatus, Attempt, JobResult, Phase};
use crate::contract::{EXIT_ROLLED_BACK, EXIT_TRANSIENT};

/// What the current attempt's Pod looks like.
#[derive(Clone, Debug, PartialEq)]
pub enum PodObs {
    /// Confirmed absent (not just missing from a lagging cache).
    Missing,
    /// A Pod of the attempt's name that is not the Pod the operator made for it (another UID
    /// than the one pinned in status): the attempt's own Pod was deleted.
    Replaced,
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

/// How the Pod of `attempt` stands: `pod` is the one of its name, which is its Pod only if
/// it has the UID pinned when the attempt was recorded.
pub fn observe_attempt(pod: &Pod, attempt: &Attempt) -> PodObs {
    match &attempt.pod_uid {
        Some(uid) if pod.metadata.uid.as_ref() != Some(uid) => PodObs::Replaced,
        _ => observe(pod),
    }
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
    /// The result the agent's termination message carried (see
    /// [`crate::contract::RESULT_MESSAGE_PREFIX`]), made fit for status.
    pub result: Option<Box<JobResult>>,
}

/// The largest `data` of a result, as JSON.
pub const RESULT_DATA_MAX: usize = 16 * 1024;

/// A result as an agent submitted it (through the agent API or in its termination message),
/// made fit for status: the summary redacted and cut to a termination message's length, the
/// data redacted. Data over [`RESULT_DATA_MAX`] is refused.
pub fn agent_result(
    summary: &str,
    data: Option<serde_json::Value>,
    artifacts: Vec<crate::api::ArtifactRef>,
) -> Result<JobResult, String> {
    let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(0);
    if size > RESULT_DATA_MAX {
        return Err("result data over 16 KiB: upload it as an artifact and reference it".into());
    }
    let summary =
        crate::contract::truncate_message(&crate::services::redact::redact(summary)).to_string();
    let mut data = data;
    if let Some(d) = data.as_mut() {
        crate::services::redact::redact_json(d);
    }
    Ok(JobResult {
        summary,
        data,
        artifacts,
    })
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
                result: None,
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
                result: None,
            },
            delete_pod: true,
        };
    }
    let until_deadline = Some(secs(now.duration_until(deadline)));

    match pod {
        // Its Pod was deleted; or it was, and another made under its name (whatever that
        // one says is not the attempt's).
        PodObs::Missing | PodObs::Replaced => {
            let (reason, message) = if *pod == PodObs::Missing {
                ("PodDeleted", "the agent pod was deleted before it finished")
            } else {
                (
                    "PodReplaced",
                    "the agent pod was deleted and another pod made under its name: its end \
                     and result are not the attempt's",
                )
            };
            Step::End {
                end: AttemptEnd {
                    exit_code: None,
                    reason: reason.into(),
                    message: message.into(),
                    retryable: true,
                    phase: Phase::Failed,
                    started: None,
                    finished: Some(now),
                    result: None,
                },
                delete_pod: false,
            }
        }
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
                        result: None,
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
        } => {
            // A plain message is the summary; a result in it is taken as the agent API takes
            // one; the result prefix with anything else after it fails the job (the agent
            // said it had a result, and what it gave is not one).
            let carried = crate::contract::parse_result_message(message)
                .map(|r| r.and_then(|r| agent_result(&r.summary, r.data, Vec::new())));
            let (reason, phase, message, result) = match carried {
                None => ("Succeeded", Phase::Succeeded, message.clone(), None),
                Some(Ok(r)) => (
                    "Succeeded",
                    Phase::Succeeded,
                    r.summary.clone(),
                    Some(Box::new(r)),
                ),
                Some(Err(why)) => (
                    "ResultInvalid",
                    Phase::Failed,
                    format!("the result in the agent's termination message is not valid: {why}"),
                    None,
                ),
            };
            Step::End {
                end: AttemptEnd {
                    exit_code: Some(*exit_code),
                    reason: reason.into(),
                    message,
                    retryable: false,
                    phase,
                    started: *started,
                    finished: *finished,
                    result,
                },
                delete_pod: false,
            }
        }
        PodObs::Failed {
            exit_code,
            container_reason,
            message,
            pod_reason,
            pod_message,
            started,
            finished,
        } => {
            // Only an agent that rolls back ends RolledBack; exit code 3 is just a failure
            // for others.
            let rolled_back_is_meaningful = cfg.agents.of(job.spec.agent).rolls_back();
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
                    result: None,
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
    pod_uid: Option<&str>,
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
            pod_uid: pod_uid.map(Into::into),
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
        a.message = Some(crate::contract::truncate_message(&end.message).to_string());
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
    s.message = Some(crate::contract::truncate_message(&message).to_string());
    // A result the agent submitted through the agent API wins; then one its termination
    // message carried (kept even when a success check fails the job, as a submitted one is);
    // otherwise a success's termination message is the summary.
    if let Some(r) = &end.result
        && s.result.as_ref().is_none_or(|r| r.summary.is_empty())
    {
        s.result = Some(r.clone());
    }
    if phase == Phase::Succeeded && s.result.as_ref().is_none_or(|r| r.summary.is_empty()) {
        let prev = s.result.take().unwrap_or_default();
        s.result = Some(Box::new(JobResult {
            summary: end.message.clone(),
            ..*prev
        }));
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
    s.message = Some(crate::contract::truncate_message(message).into());
    s.waiting_for = None;
    s.next_attempt_at = None;
    s.completed_at = Some(Time(now));
    set_condition(&mut s.conditions, "Finished", true, reason, message, now);
    s
}

#[cfg(test)]
mod tests;
