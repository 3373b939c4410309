//! Acceptance (agent API): per-job identity, results of any size, the audit trail.

mod common;

use common::{Operator, api_ca, http, is_terminal, probe_job, token};
use devagents::api::{AgentJob, Phase};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

/// A small result travels in the agent's termination message and lands in status with the
/// job's end: no watcher ever sees it while the job still runs (it used to be a status write of
/// its own, sent while the Pod waited for it), and it is redacted on its way.
#[tokio::test]
async fn a_small_result_arrives_with_the_end_in_one_status_write_redacted() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-smallresult").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let token = format!("ghp_{}", "A1b2C3d4E5".repeat(4));
    // Every version of the job a watch sees, in order.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<AgentJob>::new()));
    let watch = {
        let (jobs, seen) = (jobs.clone(), seen.clone());
        tokio::spawn(async move {
            use futures::StreamExt;
            use kube::runtime::WatchStreamExt;
            let mut w = kube::runtime::watcher(jobs, kube::runtime::watcher::Config::default())
                .applied_objects()
                .boxed();
            while let Some(Ok(j)) = w.next().await {
                seen.lock().unwrap().push(j);
            }
        })
    };
    let _op = Operator::start(&ns, "op-s", &[]);
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "small",
            1,
            json!({"message": format!("pushed with {token}"), "sleepMs": 300}),
            json!({}),
        ),
    )
    .await
    .unwrap();
    let job = common::wait_for(&jobs, "small", 120, "finished", is_terminal).await;
    let st = job.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let result = st.result.clone().unwrap();
    assert_eq!(result.data.as_ref().unwrap()["resultBytes"], json!(0));
    assert!(result.summary.starts_with("pushed with "), "{result:?}");
    assert!(
        !serde_json::to_string(&st).unwrap().contains(&token),
        "{st:#?}"
    );
    // The Pod carried it: its termination message is the result, already redacted.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
    let pod = pods.get("small-1").await.unwrap();
    let msg = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap()
        .message
        .unwrap_or_default();
    assert!(
        msg.starts_with(devagents::contract::RESULT_MESSAGE_PREFIX) && !msg.contains(&token),
        "{msg}"
    );
    // Never a version with the result and the job still running.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    watch.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|j| common::phase(j) == Some(Phase::Running)),
        "the watch saw the job run"
    );
    let first = seen
        .iter()
        .find(|j| j.status.as_ref().is_some_and(|s| s.result.is_some()))
        .unwrap();
    assert_eq!(
        common::phase(first),
        Some(Phase::Succeeded),
        "the result was written before the end: {:#?}",
        first.status
    );
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_5mb_result_round_trips_byte_exact_and_the_job_stays_small() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-result").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    let size = 5 * 1024 * 1024;
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "big",
            1,
            json!({"resultBytes": size, "message": "big result"}),
            json!({}),
        ),
    )
    .await
    .unwrap();
    let job = common::wait_for(&jobs, "big", 120, "finished", is_terminal).await;
    let st = job.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let result = st.result.clone().unwrap();
    assert_eq!(result.summary, "big result");
    assert_eq!(result.data.as_ref().unwrap()["resultBytes"], json!(size));
    let r = &result.artifacts[0];
    assert_eq!(r.size, size as i64);
    assert!(
        r.config_maps.len() >= 2,
        "5 MiB of incompressible data must span several objects"
    );
    let bytes = devagents::agentapi::results::fetch(&client, &ns, r)
        .await
        .unwrap();
    assert_eq!(
        bytes,
        devagents::agents::probe::work::payload(size),
        "the result is not byte-exact"
    );
    // `kubectl agent result` reassembles the same bytes.
    let out_file = std::env::temp_dir().join(format!("{ns}-result.bin"));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args(["-n", &ns, "result", "big", "--artifact", "result", "-o"])
        .arg(&out_file)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(&out_file).unwrap(), bytes);
    let _ = std::fs::remove_file(&out_file);
    let job_size = serde_json::to_vec(&job).unwrap().len();
    assert!(job_size < 64 * 1024, "the AgentJob is {job_size} bytes");

    // The audit trail lists the recorded action with the artifact's digest.
    let action = st
        .actions
        .iter()
        .find(|a| a.type_ == "api_call")
        .expect("action recorded");
    assert_eq!(action.target, "probe://result");
    assert_eq!(action.digest.as_deref(), Some(r.digest.as_str()));
    assert!(action.executed_at.is_some());
    // Progress lines.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let progress = cms
        .get(&devagents::agentapi::progress_configmap("big"))
        .await
        .unwrap();
    let log = progress.data.unwrap()["log"].clone();
    assert!(log.contains("probe: attempt 1 started"), "{log}");
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_jobs_token_only_opens_its_own_job() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-identity").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let op = Operator::start(&ns, "op-a", &[]);
    for n in ["job-a", "job-b"] {
        common::running_probe(&jobs, n).await;
    }
    let ca = api_ca(&client, &ns).await;
    let http = http(&ca);
    let url = |job: &str| format!("{}/v1/jobs/{ns}/{job}", op.api_url);
    let token_a = token(&client, &ns, "agent-job-a", "devagents.io").await;

    // Its own job: allowed.
    let r = http
        .get(url("job-a"))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let input: serde_json::Value = r.json().await.unwrap();
    assert_eq!(input["name"], "job-a");
    assert_eq!(input["spec"]["agent"], "probe");

    // Job B's endpoints with job A's token: refused, reads and writes.
    let r = http
        .get(url("job-b"))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(body.contains("may not act for job"), "{body}");
    let r = http
        .post(format!("{}/result", url("job-b")))
        .bearer_auth(&token_a)
        .json(&json!({"summary": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // No token, a token for another audience, garbage: 401.
    assert_eq!(http.get(url("job-a")).send().await.unwrap().status(), 401);
    let wrong_audience = token(
        &client,
        &ns,
        "agent-job-a",
        "https://kubernetes.default.svc",
    )
    .await;
    assert_eq!(
        http.get(url("job-a"))
            .bearer_auth(&wrong_audience)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(url("job-a"))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Another ServiceAccount of the namespace (not a job's): 403.
    let default_sa = token(&client, &ns, "default", "devagents.io").await;
    assert_eq!(
        http.get(url("job-a"))
            .bearer_auth(&default_sa)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let b = jobs.get("job-b").await.unwrap();
    assert!(
        b.status.unwrap().result.is_none(),
        "job B's status was written with job A's token"
    );
    for n in ["job-a", "job-b"] {
        common::cancel(&jobs, n).await;
    }
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn planted_secrets_never_reach_status_events_progress_or_pods() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-redact").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    let secrets: Vec<String> = devagents::services::redact::planted_secrets()
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let message = secrets.join(" | ");
    assert!(message.len() < 1024);
    jobs.create(
        &PostParams::default(),
        &probe_job("leaky-ok", 1, json!({"message": message}), json!({})),
    )
    .await
    .unwrap();
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "leaky-fail",
            1,
            json!({"message": message, "exitCode": 1}),
            json!({}),
        ),
    )
    .await
    .unwrap();
    let ok = common::wait_for(&jobs, "leaky-ok", 60, "finished", is_terminal).await;
    let failed = common::wait_for(&jobs, "leaky-fail", 60, "finished", is_terminal).await;
    assert_eq!(common::phase(&ok), Some(Phase::Succeeded));
    assert_eq!(common::phase(&failed), Some(Phase::Failed));
    assert!(
        failed
            .status
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap_or("")
            .contains("[REDACTED:")
    );

    // (The spec is the user's own input and holds the secrets; everything written from it is checked.)
    let mut haystack = serde_json::to_string(&ok.status).unwrap()
        + &serde_json::to_string(&failed.status).unwrap();
    // Events (both APIs), progress ConfigMaps, and the Pods' termination messages.
    let ev: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    for e in ev.list(&Default::default()).await.unwrap() {
        haystack += e.note.as_deref().unwrap_or("");
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for cm in cms.list(&Default::default()).await.unwrap() {
        haystack += &serde_json::to_string(&cm.data).unwrap();
    }
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), &ns);
    for p in pods.list(&Default::default()).await.unwrap() {
        haystack += &serde_json::to_string(&p.status).unwrap();
    }
    assert!(
        haystack.contains("probe: attempt 1 started"),
        "the progress line was not collected"
    );
    for needle in devagents::services::redact::planted_needles() {
        assert!(!haystack.contains(needle), "{needle} leaked");
    }
    common::delete_namespace(&client, &ns).await;
}
