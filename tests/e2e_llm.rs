//! The LLM gateway behind the agent API, end to end: an agent Pod asks, the operator's
//! gateway calls a local test double of the Anthropic Messages API (never the real service),
//! and the tokens and cost land in the job's status.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::IntoResponse;
use axum::routing::post;
use common::{Operator, is_terminal, probe_job};
use devagents::api::{AgentJob, Phase};
use kube::api::{Api, PostParams};
use serde_json::json;

async fn anthropic_double(hits: Arc<AtomicUsize>) -> String {
    anthropic_double_timed(hits, Arc::default()).await
}

/// The test double, also recording when each request arrived.
async fn anthropic_double_timed(
    hits: Arc<AtomicUsize>,
    arrivals: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
) -> String {
    let app = axum::Router::new().route(
        "/v1/messages",
        post(move |body: axum::Json<serde_json::Value>| {
            let (hits, arrivals) = (hits.clone(), arrivals.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                arrivals.lock().unwrap().push(std::time::Instant::now());
                if body["stream"] == true {
                    // Anthropic's streaming shape: server-sent events.
                    let mut sse = String::new();
                    let mut ev = |name: &str, data: serde_json::Value| {
                        sse.push_str(&format!("event: {name}\ndata: {data}\n\n"));
                    };
                    ev("message_start", json!({"type": "message_start", "message": {"id": "msg_s",
                        "usage": {"input_tokens": 100, "output_tokens": 1}}}));
                    for w in ["a ", "tree ", "of ", "departments"] {
                        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": w}}));
                    }
                    ev("message_delta", json!({"type": "message_delta", "usage": {"output_tokens": 20}}));
                    ev("message_stop", json!({"type": "message_stop"}));
                    return ([("content-type", "text/event-stream")], sse).into_response();
                }
                axum::Json(json!({
                    "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{"type": "text", "text": "fields: name, parent_id, sort, remark"}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 1000, "output_tokens": 2000, "cache_read_input_tokens": 500}
                }))
                .into_response()
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn llm_use_is_accounted_in_status_and_identical_requests_are_cached() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-llm").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let hits = Arc::new(AtomicUsize::new(0));
    let url = anthropic_double(hits.clone()).await;
    let key_file = std::env::temp_dir().join(format!("{ns}-llm-key"));
    std::fs::write(&key_file, "test-key").unwrap();
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &url,
            "--llm-api-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    let prompt = json!({"llmPrompt": "Which fields does Department have?"});
    jobs.create(
        &PostParams::default(),
        &probe_job("ask-1", 1, prompt.clone(), json!({})),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "ask-1", 60, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    assert_eq!(
        st.result.unwrap().data.unwrap()["llm"],
        "fields: name, parent_id, sort, remark"
    );
    let llm = st.llm.expect("status.llm");
    assert_eq!(
        (
            llm.requests,
            llm.input_tokens,
            llm.output_tokens,
            llm.cached_tokens
        ),
        (1, 1500, 2000, 500)
    );
    assert!((llm.cost_usd - 0.03315).abs() < 1e-9, "{}", llm.cost_usd);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The identical request from another job is answered from the cache: no provider call.
    jobs.create(
        &PostParams::default(),
        &probe_job("ask-2", 1, prompt, json!({})),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "ask-2", 60, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(
        st.result.unwrap().data.unwrap()["llm"],
        "fields: name, parent_id, sort, remark"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the cached answer reached the provider"
    );
    let m = op.metrics().await;
    for want in [
        "devagents_llm_cache_hits_total 1",
        "devagents_llm_tokens_total{agent=\"probe\",kind=\"output\"} 2000",
        "devagents_llm_latency_seconds_count 1",
    ] {
        assert!(m.contains(want), "metrics lack {want}:\n{m}");
    }

    // Streaming: the provider's stream reaches the agent chunk by chunk through the
    // operator, and is accounted like any other call.
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "ask-stream",
            1,
            json!({"llmPrompt": "Describe the Department tree", "llmStream": true}),
            json!({}),
        ),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "ask-stream", 60, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    assert_eq!(
        st.result.unwrap().data.unwrap()["llm"],
        "a tree of departments"
    );
    let llm = st.llm.expect("status.llm");
    assert_eq!(
        (llm.requests, llm.input_tokens, llm.output_tokens),
        (1, 100, 20)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns);
    let progress = cms
        .get(&devagents::agentapi::progress_configmap("ask-stream"))
        .await
        .unwrap();
    let log = progress.data.unwrap()["log"].clone();
    assert!(
        log.contains("the answer arrived in 4 streamed chunks"),
        "{log}"
    );

    let _ = std::fs::remove_file(key_file);
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn without_a_provider_llm_steps_are_skipped_and_say_so() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-no-llm").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    jobs.create(
        &PostParams::default(),
        &probe_job("ask", 1, json!({"llmPrompt": "hello?"}), json!({})),
    )
    .await
    .unwrap();
    let j = common::wait_for(&jobs, "ask", 60, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded));
    assert!(
        st.llm
            .unwrap()
            .skipped
            .unwrap()
            .contains("no LLM provider is configured")
    );
    assert!(
        st.result.unwrap().data.unwrap()["llm"]
            .as_str()
            .unwrap()
            .starts_with("skipped:")
    );
    common::delete_namespace(&client, &ns).await;
}

/// Issue 15, point 7: with two replicas both serving the agent API, the LLM rate limit and the
/// response cache hold for the whole deployment — a standby forwards LLM calls to the leader.
/// 120 requests spread over both replicas: the provider test double never sees more than the
/// limit in any window, and an identical request sent to each replica reaches it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_keep_one_rate_limit_and_one_cache() {
    const LIMIT: usize = 12;
    const WINDOW: u64 = 2;
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-llm-ha").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let hits = Arc::new(AtomicUsize::new(0));
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let url = anthropic_double_timed(hits.clone(), arrivals.clone()).await;
    let key_file = std::env::temp_dir().join(format!("{ns}-llm-key"));
    std::fs::write(&key_file, "test-key").unwrap();
    let (port_a, port_b) = (common::free_port(), common::free_port());
    let args = |port: u16| {
        vec![
            "--llm-provider".to_string(),
            "anthropic".into(),
            "--llm-base-url".into(),
            url.clone(),
            "--llm-api-key-file".into(),
            key_file.to_string_lossy().into_owned(),
            "--llm-requests-per-minute".into(),
            LIMIT.to_string(),
            "--llm-rate-window-seconds".into(),
            WINDOW.to_string(),
            "--peer-address".into(),
            format!("127.0.0.1:{port}"),
            "--leader-lease-seconds".into(),
            "4".into(),
        ]
    };
    let (a_args, b_args) = (args(port_a), args(port_b));
    let a_ref: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let b_ref: Vec<&str> = b_args.iter().map(String::as_str).collect();
    let a = Operator::start_with_api_port(&ns, "replica-a", port_a, &a_ref);
    common::wait_leader(&client, &ns, "replica-a").await;
    let b = Operator::start_with_api_port(&ns, "replica-b", port_b, &b_ref);
    // Four running jobs to call with (a job's calls take turns).
    let names: Vec<String> = (0..4).map(|i| format!("caller-{i}")).collect();
    for n in &names {
        common::running_probe(&jobs, n).await;
    }
    let http = common::http(&common::api_ca(&client, &ns).await);
    let mut tokens = Vec::new();
    for n in &names {
        let sa = devagents::controller::pod::service_account_name(n);
        tokens.push(common::token(&client, &ns, &sa, "devagents.io").await);
    }
    // The standby is Ready (it serves the agent API) and does not lead.
    assert!(b.metrics().await.contains("devagents_leader 0"));
    let ask = |replica: &Operator, job: usize, prompt: String| {
        let (http, url, t) = (
            http.clone(),
            format!("{}/v1/jobs/{ns}/{}/llm", replica.api_url, names[job]),
            tokens[job].clone(),
        );
        async move {
            let body = json!({"system": "", "messages": [{"role": "user", "content": prompt}],
                              "maxTokens": 16});
            common::post_json(&http, &url, &t, &body).await
        }
    };
    // One identical request through each replica: one provider call, one cache.
    let (s1, b1) = ask(&a, 0, "the same question".into()).await;
    let (s2, b2) = ask(&b, 1, "the same question".into()).await;
    assert_eq!((s1, s2), (200, 200), "{b1}\n{b2}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the standby's call reached the provider"
    );
    assert!(b2.contains("\"fromCache\":true"), "{b2}");
    // 120 distinct requests, half through each replica, four jobs in parallel.
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for job in 0..4 {
        let mut calls = Vec::new();
        for i in 0..30 {
            let replica = if (job + i) % 2 == 0 { &a } else { &b };
            calls.push(ask(replica, job, format!("question {job}-{i}")));
        }
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for c in calls {
                out.push(c.await);
            }
            out
        }));
    }
    for t in tasks {
        for (status, body) in t.await.unwrap() {
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 121);
    // In any window of WINDOW seconds the provider saw at most LIMIT requests.
    let times = arrivals.lock().unwrap().clone();
    let mut worst = 0;
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .filter(|u| u.duration_since(*t) < std::time::Duration::from_secs(WINDOW))
            .count();
        worst = worst.max(n);
    }
    assert!(
        worst <= LIMIT,
        "{worst} provider requests in one {WINDOW}s window (limit {LIMIT})"
    );
    eprintln!("120 requests through two replicas in {:?}", t0.elapsed());
    let m = a.metrics().await;
    assert!(
        m.contains("devagents_llm_latency_seconds_count 121"),
        "the leader served every provider call:\n{m}"
    );
    drop((a, b));
    common::delete_namespace(&client, &ns).await;
}
