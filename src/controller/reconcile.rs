//! Per-job reconcile: fetch (caches) → decide ([`lifecycle::step`]) → apply → status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::{debug, info, warn};

use super::lifecycle::{self, EndKind, PodObs, Step};
use super::metrics::{AgentLabel, AgentPhase, ErrorLabel};
use super::{Context, Error, FINALIZER, Result, approval, locks, pod};
use crate::api::{
    AgentApproval, AgentApprovalStatus, AgentJob, AgentJobStatus, ApprovalPhase, Phase,
};

pub async fn reconcile(job: Arc<AgentJob>, ctx: Arc<Context>) -> Result<Action> {
    let ns = job.namespace().ok_or(Error::Missing("namespace"))?;
    let api = ctx.job_api(&ns);
    // Every line logged on the job's behalf carries its name, namespace and agent (the JSON
    // log format puts them beside the message).
    let span = super::job_span(&job);
    tracing::Instrument::instrument(
        finalizer(&api, FINALIZER, job, |event| async {
            match event {
                Finalizer::Apply(job) => apply(job, &ctx).await,
                Finalizer::Cleanup(job) => cleanup(job, &ctx).await,
            }
        }),
        span,
    )
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

pub fn error_policy(_job: Arc<AgentJob>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabel {
            kind: err.metric_label(),
        })
        .inc();
    // A conflict means the cache was behind a concurrent write: look again soon.
    if is_conflict(err) {
        debug!(error = %err, "reconcile conflict");
        return Action::requeue(Duration::from_millis(300));
    }
    warn!(error = %err, "reconcile error");
    Action::requeue(Duration::from_secs(5))
}

fn is_conflict(err: &Error) -> bool {
    use kube::runtime::finalizer::Error as F;
    let kube_err = match err {
        Error::Kube(e) => Some(e),
        Error::Finalizer(f) => match f.as_ref() {
            F::ApplyFailed(Error::Kube(e)) | F::CleanupFailed(Error::Kube(e)) => Some(e),
            F::AddFinalizer(e) | F::RemoveFinalizer(e) => Some(e),
            _ => None,
        },
        _ => None,
    };
    matches!(kube_err, Some(kube::Error::Api(s)) if s.code == 409)
}

/// Server-side apply of the whole status, with the job's resourceVersion as a precondition
/// (a concurrent writer makes this fail instead of being overwritten).
pub async fn patch_status(ctx: &Context, job: &AgentJob, status: &AgentJobStatus) -> Result<()> {
    let ns = job.namespace().ok_or(Error::Missing("namespace"))?;
    super::status::apply(&ctx.job_api(&ns), job, status).await?;
    Ok(())
}

pub async fn publish(ctx: &Context, job: &AgentJob, ev: Event) {
    if let Err(e) = ctx.recorder.publish(&ev, &job.object_ref(&())).await {
        debug!(error = %e, "event not published");
    }
}

fn until(now: Timestamp, t: Timestamp) -> Duration {
    Duration::from_secs_f64(now.duration_until(t).as_secs_f64().max(0.0))
}

/// Release every lock this job still holds (according to the cache; release re-reads).
async fn release_locks(ctx: &Context, job: &AgentJob) -> Result<()> {
    let uid = job.uid().unwrap_or_default();
    let api = ctx.lease_api();
    for key in locks::job_locks(job, &ctx.cfg.agents) {
        let cached = ctx
            .leases
            .get(&ObjectRef::new(&locks::lease_name(&key)).within(&ctx.cfg.namespace));
        if cached.is_some_and(|l| locks::holder(&l).holder.as_deref() == Some(uid.as_str())) {
            locks::release(&api, &key, &uid).await?;
            debug!(lock = %key, "lock released");
        }
    }
    Ok(())
}

async fn apply(job: Arc<AgentJob>, ctx: &Context) -> Result<Action> {
    let ns = job.namespace().ok_or(Error::Missing("namespace"))?;
    let name = job.name_any();
    let status = job.status.clone().unwrap_or_default();
    let phase = status.phase.unwrap_or_default();
    let now = Timestamp::now();

    if phase.is_terminal() {
        release_locks(ctx, &job).await?;
        revoke_rights(ctx, &job).await?;
        // Its slot is free now that the cache shows it finished — unless the scheduler freed
        // it already, when it saw the Pod end (the common case: no second pass for it). A
        // released lock wakes the scheduler through its Lease.
        let pod_ended = status
            .attempts
            .last()
            .and_then(|a| ctx.pods.get(&ObjectRef::new(&a.pod).within(&ns)))
            .and_then(|p| p.status.as_ref().and_then(|s| s.phase.clone()))
            .is_some_and(|ph| ph == "Succeeded" || ph == "Failed");
        if !pod_ended {
            ctx.wake.notify("job_ended");
        }
        // Archived first: the TTL deletes no job the archive has not got.
        if !super::archive::ensure(ctx, &job).await? {
            return Ok(Action::requeue(ARCHIVE_RETRY));
        }
        return ttl(ctx, &job, now).await;
    }

    if phase != Phase::Running {
        if job.spec.cancel {
            let st = lifecycle::cancelled_while_waiting(&status, now);
            patch_status(ctx, &job, &st).await?;
            finished(
                ctx,
                &job,
                Phase::Cancelled,
                "Cancelled",
                "cancelled before it started",
            )
            .await;
            return Ok(Action::await_change());
        }
        if status.attempts.is_empty()
            && let Some(msg) = ctx.cfg.agents.of(job.spec.agent).problem(&job)
        {
            let st =
                lifecycle::ended_while_waiting(&status, Phase::Failed, "InvalidSpec", &msg, now);
            patch_status(ctx, &job, &st).await?;
            finished(ctx, &job, Phase::Failed, "InvalidSpec", &msg).await;
            return Ok(Action::await_change());
        }
        // Before-run approval: make sure it exists; a rejection or expiry ends the job.
        // While it is pending, look again at its expiry at the latest (the approval change
        // that triggers this reconcile can arrive before the approval cache shows it).
        let mut look_again: Option<Timestamp> = None;
        if status.attempts.is_empty()
            && let Some((name, pins)) = approval::run_approval(&job, &ctx.cfg.agents)
        {
            match ctx.approvals.get(&ObjectRef::new(&name).within(&ns)) {
                None => {
                    let agents = &ctx.cfg.agents;
                    let need = agents.of(job.spec.agent).approval(&job);
                    let action = approval::run_action(need.as_ref());
                    let what = match need {
                        Some(n) => n.description,
                        None => format!("run {} job {ns}/{}", job.spec.agent, job.name_any()),
                    };
                    let a = approval::build(&job, agents, &name, action, &what, pins, now);
                    match ctx
                        .approval_api(&ns)
                        .create(&PostParams::default(), &a)
                        .await
                    {
                        Ok(_) => {
                            info!(job = %job.name_any(), approval = %name, "approval requested")
                        }
                        Err(kube::Error::Api(s)) if s.code == 409 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(a) => {
                    let ast = a.status.clone().unwrap_or_default();
                    look_again = a.spec.expires_at.as_ref().map(|e| e.0);
                    // An approval at this name that the operator did not issue for this job
                    // (or one voided: its pins are this job's current ones, so it was
                    // tampered with) is never honoured, and the job cannot go on.
                    let invalid = approval::verify(&a, &job, &ctx.cfg.agents).err();
                    let ended = match (&invalid, ast.phase) {
                        (Some(_), _) | (_, Some(ApprovalPhase::Voided)) => Some("ApprovalInvalid"),
                        (_, Some(ApprovalPhase::Rejected)) => Some("ApprovalRejected"),
                        (_, Some(ApprovalPhase::Expired)) => Some("ApprovalExpired"),
                        _ => None,
                    };
                    if let Some(reason) = ended {
                        let why = match invalid {
                            Some(why) => format!("not issued by the operator for this job: {why}"),
                            None => ast.message.unwrap_or_default(),
                        };
                        let msg = format!("approval {name}: {why}");
                        let st = lifecycle::ended_while_waiting(
                            &status,
                            Phase::Failed,
                            reason,
                            &msg,
                            now,
                        );
                        patch_status(ctx, &job, &st).await?;
                        finished(ctx, &job, Phase::Failed, reason, &msg).await;
                        return Ok(Action::await_change());
                    }
                }
            }
        }
        // A Pod for the next attempt exists but status does not say so (the operator stopped
        // between creating the Pod and recording it): adopt it.
        let next = status.attempts.len() as i32 + 1;
        let next_pod = pod::pod_name(&name, next);
        let admitting = ctx
            .admitted
            .lock()
            .await
            .get(&job.uid().unwrap_or_default())
            == Some(&next);
        // Only a Pod the operator sealed for this attempt: one that someone else made under
        // that name is not adopted (admission replaces it).
        let there = ctx.pods.get(&ObjectRef::new(&next_pod).within(&ns));
        let sealed = there
            .as_ref()
            .and_then(|p| pod::sealed_account(p, &ctx.cfg.seal_key, &job, next));
        if !admitting && there.is_some() && sealed.is_none() {
            warn!(job = %name, pod = %next_pod, "a pod the operator did not make has the name of attempt {next}");
            publish(
                ctx,
                &job,
                Event {
                    type_: EventType::Warning,
                    reason: "ForeignPod".into(),
                    note: Some(format!(
                        "pod {next_pod} has the name of attempt {next} but the operator did not make it: it is not this job's pod, holds no slot, and is replaced when the job is admitted"
                    )),
                    action: "Admit".into(),
                    secondary: None,
                },
            )
            .await;
        }
        if !admitting && let Some(sa_uid) = sealed {
            info!(job = %name, pod = %next_pod, "adopting the pod of attempt {next}");
            let pod_uid = there.as_ref().and_then(|p| p.uid());
            let mut st =
                lifecycle::admitted_status(&status, next, &next_pod, pod_uid.as_deref(), now);
            st.service_account_uid = Some(sa_uid);
            patch_status(ctx, &job, &st).await?;
            return Ok(Action::await_change());
        }
        // A waiting job changed (it arrived, its finalizer landed, its backoff ended).
        ctx.wake.queue_changed();
        if let Some(at) = status.next_attempt_at.as_ref().map(|t| t.0)
            && at > now
        {
            return Ok(Action::requeue(until(now, at)));
        }
        if let Some(at) = look_again {
            return Ok(Action::requeue(
                until(now, at).min(Duration::from_secs(30)) + Duration::from_millis(500),
            ));
        }
        return Ok(Action::await_change());
    }

    // Running: follow the current attempt's Pod.
    let Some(attempt) = status.attempts.last() else {
        return Err(Error::Missing("status.attempts of a running job"));
    };
    let obs = match ctx.pods.get(&ObjectRef::new(&attempt.pod).within(&ns)) {
        Some(p) => lifecycle::observe_attempt(&p, attempt),
        // Not in the cache: ask the apiserver before concluding it is gone.
        None => match ctx.pod_api(&ns).get_opt(&attempt.pod).await? {
            Some(p) => lifecycle::observe_attempt(&p, attempt),
            None => PodObs::Missing,
        },
    };
    match lifecycle::step(&job, &obs, now, &ctx.cfg) {
        Step::Wait(after) => Ok(after
            .map(|d| Action::requeue(d + Duration::from_millis(200)))
            .unwrap_or_else(Action::await_change)),
        Step::End { end, delete_pod } => {
            // An ended Pod woke the scheduler when the Pod cache saw it (its slot is free from
            // then on); a Pod still running holds its slot until the end below is in the
            // cache, and the reconcile of the ended job wakes the scheduler then.
            if delete_pod {
                let uid = ctx
                    .pods
                    .get(&ObjectRef::new(&attempt.pod).within(&ns))
                    .and_then(|p| p.uid());
                let dp = DeleteParams {
                    preconditions: uid.map(|u| Preconditions {
                        uid: Some(u),
                        resource_version: None,
                    }),
                    ..DeleteParams::background()
                };
                match ctx.pod_api(&ns).delete(&attempt.pod, &dp).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // A success is checked against the cluster where the agent says how (a deploy:
            // the live Deployments run the images it was to roll out).
            let mut end = end;
            if end.phase == Phase::Succeeded
                && let Some(f) = ctx
                    .cfg
                    .agents
                    .of(job.spec.agent)
                    .check_success(&ctx.client, &job)
                    .await?
            {
                end.phase = Phase::Failed;
                end.reason = f.reason.into();
                end.message = f.message;
            }
            let (st, kind) = lifecycle::ended_status(&job, &end, now, &ctx.cfg);
            // The attempt is over: its locks and (at the end) its deploy rights go first, so
            // they never depend on the status write below succeeding.
            release_locks(ctx, &job).await?;
            if matches!(kind, EndKind::Final(_)) {
                revoke_rights(ctx, &job).await?;
            }
            patch_status(ctx, &job, &st).await?;
            match kind {
                EndKind::Retry { after } => {
                    publish(
                        ctx,
                        &job,
                        Event {
                            type_: EventType::Warning,
                            reason: "Retrying".into(),
                            note: Some(
                                crate::contract::truncate_message(
                                    st.message.as_deref().unwrap_or(""),
                                )
                                .into(),
                            ),
                            action: "Retry".into(),
                            secondary: None,
                        },
                    )
                    .await;
                    Ok(Action::requeue(after + Duration::from_millis(100)))
                }
                EndKind::Final(phase) => {
                    if let Some(started) = status.started_at.as_ref() {
                        ctx.metrics
                            .job_duration
                            .get_or_create(&AgentLabel {
                                agent: job.spec.agent.to_string(),
                            })
                            .observe(started.0.duration_until(now).as_secs_f64().max(0.0));
                    }
                    // The job as it ended: its agent's hooks read the status just written
                    // (the result its Pod carried arrives with the end).
                    let mut ended = AgentJob::clone(&job);
                    ended.status = Some(st.clone());
                    finished(
                        ctx,
                        &ended,
                        phase,
                        &end.reason,
                        st.message.as_deref().unwrap_or(""),
                    )
                    .await;
                    Ok(job
                        .spec
                        .ttl_seconds_after_finished
                        .map(|t| {
                            Action::requeue(
                                Duration::from_secs(t.max(0) as u64) + Duration::from_millis(100),
                            )
                        })
                        .unwrap_or_else(Action::await_change))
                }
            }
        }
    }
}

/// Metrics and the Event of a job that reached a final phase.
async fn finished(ctx: &Context, job: &AgentJob, phase: Phase, reason: &str, message: &str) {
    ctx.cfg
        .agents
        .of(job.spec.agent)
        .finished(job, phase, &ctx.metrics);
    ctx.metrics
        .jobs_finished
        .get_or_create(&AgentPhase {
            agent: job.spec.agent.to_string(),
            phase: format!("{phase:?}"),
        })
        .inc();
    let type_ = if phase == Phase::Succeeded {
        EventType::Normal
    } else {
        EventType::Warning
    };
    publish(
        ctx,
        job,
        Event {
            type_,
            reason: format!("{phase:?}"),
            note: Some(
                crate::contract::truncate_message(&format!("{reason}: {message}"))
                    .chars()
                    .take(1000)
                    .collect(),
            ),
            action: "Finish".into(),
            secondary: None,
        },
    )
    .await;
}

/// How soon a finished job whose archive write failed is tried again.
const ARCHIVE_RETRY: Duration = Duration::from_secs(5);

/// `ttlSecondsAfterFinished`: delete the job when its time has come.
async fn ttl(ctx: &Context, job: &AgentJob, now: Timestamp) -> Result<Action> {
    let (Some(ttl), Some(done)) = (
        job.spec.ttl_seconds_after_finished,
        job.status
            .as_ref()
            .and_then(|s| s.completed_at.as_ref())
            .map(|t| t.0),
    ) else {
        return Ok(Action::await_change());
    };
    let due = done
        .checked_add(SignedDuration::from_secs(ttl.max(0)))
        .unwrap_or(done);
    if now >= due {
        let ns = job.namespace().ok_or(Error::Missing("namespace"))?;
        let dp = DeleteParams {
            preconditions: job.uid().map(|u| Preconditions {
                uid: Some(u),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match ctx.job_api(&ns).delete(&job.name_any(), &dp).await {
            Ok(_) => info!(job = %job.name_any(), "deleted after ttlSecondsAfterFinished"),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(
        until(now, due) + Duration::from_millis(100),
    ))
}

/// A finished or deleted job keeps none of the rights its agent was granted for its life
/// (a deployer's Role in its environment's namespace).
async fn revoke_rights(ctx: &Context, job: &AgentJob) -> Result<()> {
    if ctx
        .cfg
        .agents
        .of(job.spec.agent)
        .revoke(&ctx.client, job)
        .await?
    {
        info!(job = %job.name_any(), "rights granted for the job's life removed");
    }
    Ok(())
}

/// The job is being deleted: give its locks back (Pods and the ServiceAccount are owned and
/// garbage-collected).
async fn cleanup(job: Arc<AgentJob>, ctx: &Context) -> Result<Action> {
    // A deleted job that ran is archived before it goes (the finalizer holds it meanwhile).
    if !super::archive::ensure(ctx, &job).await? {
        return Err(Error::Archive(crate::services::archive::ArchiveError::Db(
            "the job is kept until the archive has it".into(),
        )));
    }
    revoke_rights(ctx, &job).await?;
    let uid = job.uid().unwrap_or_default();
    let api = ctx.lease_api();
    for key in locks::job_locks(&job, &ctx.cfg.agents) {
        locks::release(&api, &key, &uid).await?;
    }
    ctx.admitted.lock().await.remove(&uid);
    ctx.wake.notify("job_deleted");
    Ok(Action::await_change())
}

/// AgentApproval reconcile: its status is what its decisions add up to (quorum, rejection,
/// expiry, voided pins); a change wakes the scheduler and, through ownership, the job.
pub async fn reconcile_approval(a: Arc<AgentApproval>, ctx: Arc<Context>) -> Result<Action> {
    let ns = a.namespace().ok_or(Error::Missing("namespace"))?;
    let now = Timestamp::now();
    // The job is found by UID (the name alone could be a decoy).
    let cached = ctx.jobs.get(&ObjectRef::new(&a.spec.job_name).within(&ns));
    let job = match cached.filter(|j| a.spec.job_uid.is_some() && j.uid() == a.spec.job_uid) {
        Some(j) => Some(j),
        // The job cache can lag behind the approval's (a job created a moment before its
        // approval): before voiding an approval for a missing job, ask the apiserver.
        None if a.spec.job_uid.is_some() => ctx
            .job_api(&ns)
            .get_opt(&a.spec.job_name)
            .await?
            .filter(|j| j.uid() == a.spec.job_uid)
            .map(Arc::new),
        None => None,
    };
    let requester = job
        .as_ref()
        .and_then(|j| j.spec.requested_by.as_ref())
        .map(|r| r.username.clone());
    // A before-run approval (the operator's: `run`, or the agent's own such as `deploy`
    // pinned to the images) is void once the job's spec no longer matches it.
    let before_run = |j: &AgentJob| {
        let action = approval::run_action(ctx.cfg.agents.of(j.spec.agent).approval(j).as_ref());
        (a.spec.action == "run" || a.spec.action == action)
            && a.spec.pins.iter().any(|p| p.name == approval::SPEC_PIN)
    };
    let current = job
        .as_deref()
        .filter(|j| before_run(j))
        .and_then(|j| approval::run_approval(j, &ctx.cfg.agents))
        .map(|(_, p)| p);
    let forged = match &job {
        Some(j) => approval::verify(&a, j, &ctx.cfg.agents).err(),
        None => Some("its job does not exist".to_string()),
    };
    let st = match forged {
        Some(why)
            if a.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_none_or(|p| !p.is_final()) =>
        {
            AgentApprovalStatus {
                phase: Some(ApprovalPhase::Voided),
                message: Some(format!("not issued by the operator for this job: {why}")),
                decided_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
                ..AgentApprovalStatus::default()
            }
        }
        _ => approval::evaluate(&a, requester.as_deref(), current.as_deref(), now),
    };
    if a.status.as_ref() != Some(&st) {
        super::status::apply(&ctx.approval_api(&ns), a.as_ref(), &st).await?;
        info!(approval = %a.name_any(), phase = ?st.phase, "approval status");
        ctx.wake.notify("approval");
    }
    let pending = st.phase.is_none_or(|p| p == ApprovalPhase::Pending);
    match a.spec.expires_at.as_ref().map(|e| e.0) {
        Some(e) if pending && e > now => {
            Ok(Action::requeue(until(now, e) + Duration::from_millis(100)))
        }
        _ => Ok(Action::await_change()),
    }
}

pub fn approval_error_policy(_a: Arc<AgentApproval>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabel {
            kind: format!("approval_{}", err.metric_label()),
        })
        .inc();
    if is_conflict(err) {
        return Action::requeue(Duration::from_millis(300));
    }
    warn!(error = %err, "approval reconcile error");
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests;
