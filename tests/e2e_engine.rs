//! Acceptance (job engine): priority queue and limits, Lease locks, retries, timeouts, cancel,
//! restart safety and leader election — on the real control plane with real operator
//! processes (`agent-operator run`, scoped to the test's namespace).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::trace::PodTrace;
use common::{Operator, is_terminal, probe_job};
use devagents::api::{AgentJob, Phase};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn wait_all_terminal(api: &Api<AgentJob>, names: &[String], secs: u64) -> Vec<AgentJob> {
    let mut out = Vec::new();
    for n in names {
        out.push(common::wait_for(api, n, secs, "in a final phase", is_terminal).await);
    }
    out
}

#[tokio::test]
async fn ten_jobs_two_slots_priority_order() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-queue").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let trace = PodTrace::start(&client, &ns);
    // All ten exist before the operator starts, so the order is the queue's, not arrival's.
    let prios = [10, 500, 70, 990, 30, 800, 200, 5, 650, 120];
    let mut names = Vec::new();
    for (i, p) in prios.iter().enumerate() {
        let name = format!("job-{i}-p{p}");
        jobs.create(
            &PostParams::default(),
            &probe_job(&name, *p, json!({"sleepMs": 1200}), json!({})),
        )
        .await
        .unwrap();
        names.push(name);
    }
    let op = Operator::start(&ns, "op-a", &["--max-running", "2"]);
    let done = wait_all_terminal(&jobs, &names, 120).await;
    for j in &done {
        assert_eq!(common::phase(j), Some(Phase::Succeeded), "{j:#?}");
    }
    assert!(
        trace.max_live() <= 2,
        "{} agent pods were alive at once (limit 2)",
        trace.max_live()
    );
    assert_eq!(trace.max_live(), 2, "the limit should be used");
    // Start order follows priority: a higher-priority job never starts after a lower one.
    let mut by_prio: Vec<(i32, Instant)> = done
        .iter()
        .map(|j| {
            let pod = &j.status.as_ref().unwrap().attempts[0].pod;
            (j.spec.priority, trace.first_seen(pod).expect("pod seen"))
        })
        .collect();
    by_prio.sort_by_key(|x| std::cmp::Reverse(x.0));
    // Jobs admitted in one pass start together (their Pods are created concurrently); each
    // batch runs 1.2 s, so "a later batch" is unambiguous with a 500 ms tolerance.
    for (i, hi) in by_prio.iter().enumerate() {
        for lo in &by_prio[i + 1..] {
            assert!(
                hi.1 <= lo.1 + Duration::from_millis(500),
                "priority {} started {:?} after priority {}",
                hi.0,
                hi.1 - lo.1,
                lo.0
            );
        }
    }
    // The status timestamps say the same, at their second resolution: jobs of one admission
    // pass get their startedAt in separate status writes, which may fall on either side of a
    // second boundary (the precise order is asserted above, from the watch).
    let mut started: Vec<(i32, k8s_openapi::jiff::Timestamp)> = done
        .iter()
        .map(|j| {
            (
                j.spec.priority,
                j.status.as_ref().unwrap().started_at.clone().unwrap().0,
            )
        })
        .collect();
    started.sort_by_key(|x| std::cmp::Reverse(x.0));
    for w in started.windows(2) {
        assert!(
            w[0].1 <= w[1].1 + k8s_openapi::jiff::SignedDuration::from_secs(1),
            "status.startedAt: priority {} after {}",
            w[0].0,
            w[1].0
        );
    }
    let m = op.metrics().await;
    assert!(
        m.contains("devagents_jobs_finished_total{agent=\"probe\",phase=\"Succeeded\"} 10"),
        "{m}"
    );
    assert!(
        m.contains("devagents_dispatch_latency_seconds_count 10"),
        "{m}"
    );
    drop(op);
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn queued_jobs_say_why_they_wait() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-waiting").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &["--max-running", "1"]);
    jobs.create(
        &PostParams::default(),
        &probe_job("first", 100, json!({"sleepMs": 5000}), json!({})),
    )
    .await
    .unwrap();
    common::wait_for(&jobs, "first", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(common::phase) == Some(Phase::Running)
    })
    .await;
    jobs.create(
        &PostParams::default(),
        &probe_job("second", 50, json!({}), json!({})),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &probe_job("third", 10, json!({}), json!({"locks": ["repo"]})),
    )
    .await
    .unwrap();
    let second = common::wait_for(&jobs, "second", 30, "Queued", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref())
            .is_some_and(|s| s.waiting_for.as_deref() == Some("slot"))
    })
    .await;
    assert_eq!(second.status.unwrap().phase, Some(Phase::Queued));
    let third = common::wait_for(&jobs, "third", 30, "Queued", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref())
            .is_some_and(|s| s.waiting_for.as_deref() == Some("slot"))
    })
    .await;
    // Positions are not written into status; the plugin computes them with the scheduler's
    // planner from the listed objects.
    assert!(third.status.unwrap().phase == Some(Phase::Queued));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args(["queue", "-n", &ns, "--operator-namespace", &ns])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{table} {:?}", out.stderr);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.iter()
            .map(|r| (r[0], r[1], r[r.len() - 1]))
            .collect::<Vec<_>>(),
        vec![("1", "second", "slot"), ("2", "third", "slot")],
        "{table}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args(["get", "third", "-n", &ns, "--operator-namespace", &ns])
        .output()
        .unwrap();
    let get = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(get.contains("Position:    2 of 2 waiting"), "{get}");
    wait_all_terminal(
        &jobs,
        &["first".into(), "second".into(), "third".into()],
        60,
    )
    .await;
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn jobs_sharing_a_lock_never_overlap_and_hand_over_at_once() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-lock").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let trace = PodTrace::start(&client, &ns);
    let _op = Operator::start(
        &ns,
        "op-a",
        &["--max-running", "10", "--lock-lease-seconds", "30"],
    );
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "a",
            100,
            json!({"sleepMs": 1500}),
            json!({"locks": ["repo/core"]}),
        ),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "b",
            50,
            json!({"sleepMs": 200}),
            json!({"locks": ["repo/core"]}),
        ),
    )
    .await
    .unwrap();
    let b = common::wait_for(
        &jobs,
        "b",
        30,
        "waiting for the lock",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref()).is_some_and(|s| {
                s.waiting_for.as_deref() == Some(&format!("lock:{}/repo/core", j_ns(j)))
            })
        },
    )
    .await;
    assert_eq!(b.status.unwrap().phase, Some(Phase::Queued));
    wait_all_terminal(&jobs, &["a".into(), "b".into()], 60).await;
    let a_done = trace.finished_at("a-1").expect("a's pod finished");
    let b_start = trace.first_seen("b-1").expect("b's pod created");
    assert!(
        b_start >= a_done,
        "b started before a finished: the lock did not hold"
    );
    let gap = b_start - a_done;
    // The lease lasts 30 s: a hand-over this fast is the release, not the expiry.
    assert!(
        gap < Duration::from_secs(1),
        "b started {gap:?} after a finished (want < 1 s)"
    );
    // The lock is free again.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let lease = leases
        .get(&devagents::controller::locks::lease_name(&format!(
            "{ns}/repo/core"
        )))
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None);
    common::delete_namespace(&client, &ns).await;
}

fn j_ns(j: Option<&AgentJob>) -> String {
    j.and_then(|j| j.metadata.namespace.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_lock_of_a_dead_holder_is_taken_over_after_expiry() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-lock-expiry").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let key = format!("{ns}/repo/core");
    // A lock held by a job whose operator died: renewed now, 4 s lease, never renewed again.
    let now = k8s_openapi::jiff::Timestamp::now();
    let stale: Lease = serde_json::from_value(json!({
        "metadata": {
            "name": devagents::controller::locks::lease_name(&key),
            "labels": {"devagents.io/lock": "true", "app.kubernetes.io/managed-by": "devagents"},
            "annotations": {"devagents.io/lock-name": key},
        },
        "spec": {"holderIdentity": "uid-of-a-job-whose-operator-died", "leaseDurationSeconds": 4,
                 "acquireTime": now, "renewTime": now}
    }))
    .unwrap();
    leases.create(&PostParams::default(), &stale).await.unwrap();
    let t0 = Instant::now();
    let _op = Operator::start(&ns, "op-a", &[]);
    jobs.create(
        &PostParams::default(),
        &probe_job("c", 1, json!({}), json!({"locks": ["repo/core"]})),
    )
    .await
    .unwrap();
    common::wait_for(
        &jobs,
        "c",
        30,
        "waiting for the lock",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref()).is_some_and(|s| {
                s.waiting_for
                    .as_deref()
                    .is_some_and(|w| w.starts_with("lock:"))
            })
        },
    )
    .await;
    let c = common::wait_for(&jobs, "c", 60, "finished", is_terminal).await;
    assert_eq!(common::phase(&c), Some(Phase::Succeeded));
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "the live lock was taken before it expired"
    );
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn retries_final_failures_timeouts_and_cancel() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-failures").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &["--max-running", "10"]);
    let pp = PostParams::default();
    jobs.create(
        &pp,
        &probe_job(
            "flaky",
            1,
            json!({"failAttempts": 1}),
            json!({"retries": {"limit": 2, "backoffSeconds": 1}}),
        ),
    )
    .await
    .unwrap();
    jobs.create(
        &pp,
        &probe_job(
            "broken",
            1,
            json!({"exitCode": 3, "message": "entity Department exists; set overwrite: true"}),
            json!({"retries": {"limit": 2, "backoffSeconds": 1}}),
        ),
    )
    .await
    .unwrap();
    jobs.create(
        &pp,
        &probe_job(
            "slow",
            1,
            json!({"sleepMs": 120000}),
            json!({"timeoutSeconds": 10}),
        ),
    )
    .await
    .unwrap();
    jobs.create(
        &pp,
        &probe_job("cancel-me", 1, json!({"sleepMs": 120000}), json!({})),
    )
    .await
    .unwrap();

    // Retryable failure → a second attempt after the backoff → Succeeded.
    let flaky = common::wait_for(&jobs, "flaky", 60, "finished", is_terminal).await;
    let st = flaky.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    assert_eq!(st.attempts.len(), 2);
    assert_eq!(st.attempts[0].exit_code, Some(75));
    assert_eq!(st.attempts[0].reason.as_deref(), Some("TransientFailure"));
    let gap = st.attempts[1]
        .created_at
        .as_ref()
        .unwrap()
        .0
        .duration_since(st.attempts[0].finished_at.as_ref().unwrap().0);
    assert!(
        gap.as_secs_f64() >= 0.0,
        "second attempt before the first ended"
    );

    // The agent's own failure: final, its reason, no retry.
    let broken = common::wait_for(&jobs, "broken", 60, "finished", is_terminal).await;
    let st = broken.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    assert_eq!(st.reason.as_deref(), Some("AgentFailed"));
    assert_eq!(
        st.message.as_deref(),
        Some("entity Department exists; set overwrite: true")
    );
    assert_eq!(st.attempts.len(), 1, "an agent failure must not be retried");

    // Cancel while running: Cancelled, Pod gone.
    common::wait_for(&jobs, "cancel-me", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(common::phase) == Some(Phase::Running)
    })
    .await;
    jobs.patch(
        "cancel-me",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"cancel": true}})),
    )
    .await
    .unwrap();
    let c = common::wait_for(&jobs, "cancel-me", 60, "finished", is_terminal).await;
    assert_eq!(common::phase(&c), Some(Phase::Cancelled));
    let pod_uid = pods
        .get_opt("cancel-me-1")
        .await
        .unwrap()
        .and_then(|p| p.metadata.uid);
    if let Some(uid) = pod_uid {
        common::wait_gone(&pods, "cancel-me-1", &uid, 30).await;
    }

    // Timeout → Failed / DeadlineExceeded.
    let slow = common::wait_for(&jobs, "slow", 60, "finished", is_terminal).await;
    let st = slow.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    assert_eq!(st.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(st.attempts.len(), 1);
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn ttl_deletes_finished_jobs() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-ttl").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    let created = jobs
        .create(
            &PostParams::default(),
            &probe_job(
                "short-lived",
                1,
                json!({}),
                json!({"ttlSecondsAfterFinished": 2}),
            ),
        )
        .await
        .unwrap();
    common::wait_for(&jobs, "short-lived", 60, "finished", is_terminal).await;
    common::wait_gone(&jobs, "short-lived", &created.metadata.uid.unwrap(), 30).await;
    common::delete_namespace(&client, &ns).await;
}

/// Every job terminal; every attempt's Pod name was used by exactly one Pod.
fn assert_no_double_dispatch(trace: &PodTrace, done: &[AgentJob]) {
    for (name, uids) in trace.uids_by_name() {
        assert_eq!(
            uids.len(),
            1,
            "pod name {name} was created {} times",
            uids.len()
        );
    }
    for j in done {
        let st = j.status.as_ref().unwrap();
        assert_eq!(st.phase, Some(Phase::Succeeded), "{j:#?}");
        assert_eq!(
            st.attempts.len(),
            1,
            "{:?} needed {} attempts",
            j.metadata.name,
            st.attempts.len()
        );
    }
}

#[tokio::test]
async fn kill_9_the_operator_with_20_jobs_in_flight_loses_nothing() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-restart").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let trace = PodTrace::start(&client, &ns);
    let mut op = Operator::start(&ns, "op-a", &["--max-running", "4"]);
    let names: Vec<String> = (0..20).map(|i| format!("r-{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        jobs.create(
            &PostParams::default(),
            &probe_job(n, (i * 37 % 100) as i32, json!({"sleepMs": 700}), json!({})),
        )
        .await
        .unwrap();
    }
    // Kill it while jobs are queued and running.
    common::wait_for(&jobs, &names[0], 60, "seen", |_: Option<&AgentJob>| {
        trace.events().len() >= 4
    })
    .await;
    op.kill();
    let list = jobs.list(&ListParams::default()).await.unwrap();
    let phases: HashMap<String, usize> = list.items.iter().fold(HashMap::new(), |mut m, j| {
        *m.entry(format!("{:?}", common::phase(j))).or_default() += 1;
        m
    });
    assert!(
        list.items.iter().any(|j| !is_terminal(Some(j))),
        "nothing left in flight at the kill: {phases:?}"
    );
    let _op2 = Operator::start_with_api_port(&ns, "op-b", op.api_port, &["--max-running", "4"]);
    let done = wait_all_terminal(&jobs, &names, 180).await;
    assert_eq!(done.len(), 20);
    assert_no_double_dispatch(&trace, &done);
    assert!(
        trace.max_live() <= 4,
        "{} pods alive at once (limit 4)",
        trace.max_live()
    );
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn two_replicas_one_leader_and_failover() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-ha").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let trace = PodTrace::start(&client, &ns);
    let args = ["--max-running", "2", "--leader-lease-seconds", "4"];
    let mut a = Operator::start(&ns, "replica-a", &args);
    // Let replica-a win the election before replica-b starts.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    common::wait_for(
        &leases,
        "devagents-operator-leader",
        60,
        "held",
        |l: Option<&Lease>| {
            l.and_then(|l| l.spec.as_ref())
                .and_then(|s| s.holder_identity.as_deref())
                == Some("replica-a")
        },
    )
    .await;
    let mut b = Operator::start_with_api_port(&ns, "replica-b", a.api_port, &args);
    let names: Vec<String> = (0..8).map(|i| format!("ha-{i}")).collect();
    for n in &names {
        jobs.create(
            &PostParams::default(),
            &probe_job(n, 1, json!({"sleepMs": 1000}), json!({})),
        )
        .await
        .unwrap();
    }
    common::wait_for(&jobs, &names[1], 60, "finished", is_terminal).await;
    assert!(a.metrics().await.contains("devagents_leader 1"));
    assert!(
        b.metrics().await.contains("devagents_leader 0"),
        "the standby must not lead"
    );
    let started_by_b_before = started_events_by(&client, &ns, "replica-b").await;
    assert_eq!(started_by_b_before, 0, "the standby admitted jobs");
    a.kill();
    let done = wait_all_terminal(&jobs, &names, 120).await;
    assert_no_double_dispatch(&trace, &done);
    assert!(b.metrics().await.contains("devagents_leader 1"));
    assert!(
        started_events_by(&client, &ns, "replica-b").await > 0,
        "the new leader finished the rest"
    );
    b.kill();
    common::delete_namespace(&client, &ns).await;
}

/// "Started" Events (events.k8s.io/v1) reported by one operator instance.
async fn started_events_by(client: &kube::Client, ns: &str, instance: &str) -> usize {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| {
            e.reason.as_deref() == Some("Started")
                && e.reporting_instance.as_deref() == Some(instance)
        })
        .count()
}
