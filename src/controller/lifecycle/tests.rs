//! The lifecycle's pure steps, case by case.

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
    j.status = Some(admitted_status(
        &AgentJobStatus::default(),
        1,
        "j-1",
        None,
        t(0),
    ));
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
    // The deployer's hooks say its exit code 3 is a rollback (test modules may reach up).
    let cfg = Config {
        agents: crate::agents::operator_side(Default::default()),
        ..Config::default()
    };
    let (end, _) = end_of(step(
        &job,
        &failed(
            EXIT_ROLLED_BACK,
            "api: deployment \"api\" exceeded its progress deadline",
        ),
        t(3),
        &cfg,
    ));
    assert!(!end.retryable);
    assert_eq!(end.reason, "RolledBack");
    let (s, kind) = ended_status(&job, &end, t(3), &cfg);
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
    job.status = Some(admitted_status(&s, 2, "j-2", None, t(6)));
    let (s, kind) = ended_status(&job, &end, t(7), &cfg);
    assert_eq!(
        kind,
        EndKind::Retry {
            after: Duration::from_secs(4)
        }
    );
    // Third: retries exhausted.
    job.status = Some(admitted_status(&s, 3, "j-3", None, t(12)));
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

fn succeeded(message: &str) -> PodObs {
    PodObs::Succeeded {
        exit_code: 0,
        message: message.into(),
        started: Some(t(1)),
        finished: Some(t(2)),
    }
}

#[test]
fn a_result_in_the_termination_message_is_written_with_the_end_redacted() {
    let job = running_job(0);
    let token = format!("ghp_{}", "A1b2C3d4E5".repeat(4));
    // Written the way the runner writes it, but as a hostile agent would: secrets inside.
    let msg = crate::contract::result_message(&crate::contract::MessageResult {
        summary: format!("pushed with {token}"),
        data: Some(serde_json::json!({"pr": 7, "auth": format!("token: {token}")})),
    })
    .unwrap();
    let (end, _) = end_of(step(&job, &succeeded(&msg), t(3), &Config::default()));
    assert_eq!(end.phase, Phase::Succeeded);
    let (s, kind) = ended_status(&job, &end, t(3), &Config::default());
    assert_eq!(kind, EndKind::Final(Phase::Succeeded));
    let r = s.result.clone().unwrap();
    assert_eq!(r.data.as_ref().unwrap()["pr"], 7);
    let shown = serde_json::to_string(&s).unwrap();
    assert!(!shown.contains(&token), "{shown}");
    assert!(r.summary.starts_with("pushed with "), "{}", r.summary);
    // The summary, not the message's encoding, is what the status and the attempt say.
    assert_eq!(s.message.as_deref(), Some(r.summary.as_str()));
    assert!(
        !shown.contains(crate::contract::RESULT_MESSAGE_PREFIX),
        "{shown}"
    );

    // A result submitted through the agent API wins over the message's.
    let mut posted = job.clone();
    posted.status.as_mut().unwrap().result = Some(Box::new(JobResult {
        summary: "from the API".into(),
        ..JobResult::default()
    }));
    let (s, _) = ended_status(&posted, &end, t(3), &Config::default());
    assert_eq!(s.result.unwrap().summary, "from the API");
}

#[test]
fn a_termination_message_that_claims_a_result_but_holds_none_fails_the_job() {
    let job = running_job(3);
    for bad in [
        "{\"summary\": 1}",
        "{\"summary\":\"s\",\"artifacts\":[]}",
        "not json",
    ] {
        let msg = format!("{}{bad}", crate::contract::RESULT_MESSAGE_PREFIX);
        let (end, del) = end_of(step(&job, &succeeded(&msg), t(3), &Config::default()));
        assert!(!del);
        assert_eq!(
            (end.phase, end.reason.as_str(), end.retryable),
            (Phase::Failed, "ResultInvalid", false)
        );
        let (s, kind) = ended_status(&job, &end, t(3), &Config::default());
        assert_eq!(kind, EndKind::Final(Phase::Failed), "not retried: {bad}");
        assert!(s.result.is_none(), "{bad}");
    }
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

#[test]
fn a_pod_made_under_the_attempts_name_after_its_own_was_deleted_decides_nothing() {
    let mut job = running_job(1);
    job.status.as_mut().unwrap().attempts[0].pod_uid = Some("uid-made".into());
    let attempt = job.status.as_ref().unwrap().attempts[0].clone();
    // Another Pod of that name, its seal copied, ended "successfully" with a result.
    let msg = crate::contract::result_message(&crate::contract::MessageResult {
        summary: "done by someone else".into(),
        data: None,
    })
    .unwrap();
    let pod = |uid: &str| -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "j-1", "uid": uid},
            "status": {"phase": "Succeeded", "containerStatuses": [{
                "name": "agent", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "message": msg}},
            }]},
        }))
        .unwrap()
    };
    assert_eq!(
        observe_attempt(&pod("uid-other"), &attempt),
        PodObs::Replaced
    );
    let (end, del) = end_of(step(
        &job,
        &observe_attempt(&pod("uid-other"), &attempt),
        t(3),
        &Config::default(),
    ));
    assert!(!del, "a Pod the operator did not make is not its to delete");
    assert_eq!(
        (end.phase, end.reason.as_str(), end.retryable),
        (Phase::Failed, "PodReplaced", true)
    );
    assert!(end.result.is_none());
    let (s, kind) = ended_status(&job, &end, t(3), &Config::default());
    assert!(matches!(kind, EndKind::Retry { .. }), "{kind:?}");
    assert!(s.result.is_none(), "the other Pod's result landed");
    // The attempt's own Pod decides as before; so does any Pod of an attempt recorded
    // before UIDs were pinned.
    assert!(matches!(
        observe_attempt(&pod("uid-made"), &attempt),
        PodObs::Succeeded { .. }
    ));
    let unpinned = Attempt {
        pod_uid: None,
        ..attempt
    };
    assert!(matches!(
        observe_attempt(&pod("uid-other"), &unpinned),
        PodObs::Succeeded { .. }
    ));
}
