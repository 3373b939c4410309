//! Agent-specific rights: the reviewer's sandbox and the LLM budget.

use super::*;

/// Point 4: the sandbox that runs a pull request's tests takes only the reviewer's own
/// source, plain package paths and small bodies, and no other agent gets one.
#[tokio::test]
async fn a_sandbox_runs_only_a_reviewers_own_source_and_no_other_agent_gets_one() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-sandbox").await;
    // A GitHub API that accepts connections and never answers: the reviewer stays Running.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--github-api-url",
            &silent_url,
            "--agent-egress",
            r#"[{"ports": [{"port": 53, "protocol": "UDP"}]}]"#,
        ],
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let reviewer: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "rev"},
        "spec": {"agent": "reviewer", "timeoutSeconds": 300,
                 "repository": {"url": "https://github.com/acme/shop", "baseBranch": "main",
                                "credentialsSecret": "github-token"},
                 "reviewer": {"pullRequest": 7, "checks": ["tests"]}}
    }))
    .unwrap();
    common::token_secret(
        &client,
        &ns,
        "github-token",
        "ghp_sandboxtest0123456789abcdefghij",
    )
    .await;
    jobs.create(&PostParams::default(), &reviewer)
        .await
        .unwrap();
    common::wait_for(&jobs, "rev", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref()).and_then(|s| s.phase) == Some(Phase::Running)
    })
    .await;
    let other = common::running_probe(&jobs, "other").await;
    // The agent NetworkPolicy came first: it covers both agent Pods, deny-all ingress, egress
    // to the operator and DNS only.
    let np: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(client.clone(), &ns);
    let spec = np
        .get(devagents::controller::netpol::NAME)
        .await
        .unwrap()
        .spec
        .unwrap();
    assert!(spec.ingress.unwrap_or_default().is_empty());
    assert_eq!(spec.egress.as_ref().unwrap().len(), 2);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let agent_pod = &other.status.as_ref().unwrap().attempts[0].pod;
    let labels = pods.get(agent_pod).await.unwrap().metadata.labels.unwrap();
    for e in spec.pod_selector.unwrap().match_expressions.unwrap() {
        let has = labels.get(&e.key);
        let holds = match e.operator.as_str() {
            "Exists" => has.is_some(),
            "NotIn" => has.is_none_or(|v| !e.values.clone().unwrap_or_default().contains(v)),
            op => panic!("unexpected operator {op}"),
        };
        assert!(holds, "{e:?} does not select {labels:?}");
    }
    let http = http(&api_ca(&client, &ns).await);
    let url = |job: &str| format!("{}/v1/jobs/{ns}/{job}/sandbox", op.api_url);
    let t_rev = token(&client, &ns, "agent-rev", "devagents.io").await;
    let t_other = token(&client, &ns, "agent-other", "devagents.io").await;
    // `other` uploads a "source" of its own; the reviewer tries to have it run.
    let r = http
        .put(format!(
            "{}/v1/jobs/{ns}/other/artifacts/source",
            op.api_url
        ))
        .bearer_auth(&t_other)
        .body("not the reviewer's code")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let foreign: devagents::api::ArtifactRef = r.json().await.unwrap();
    let ask = |job: &'static str, t: &str, body: Value| {
        let (http, u, t) = (http.clone(), url(job), t.to_string());
        async move { common::post_json(&http, &u, &t, &body).await }
    };
    let (code, body) = ask(
        "rev",
        &t_rev,
        json!({"source": foreign, "packages": ["./pkg/db"]}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("is not a chunk of this job's source artifact"),
        "{body}"
    );
    for bad in ["../../etc", "-exec=/bin/sh", "./a;rm -rf /"] {
        let (code, body) = ask("rev", &t_rev, json!({"source": foreign, "packages": [bad]})).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains("is not a package path"), "{body}");
    }
    let (code, body) = ask(
        "other",
        &t_other,
        json!({"source": foreign, "packages": ["."]}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("is not a reviewer"), "{body}");
    let huge = json!({"source": foreign, "packages": vec!["./p"; 10_000]});
    let (code, _) = ask("rev", &t_rev, huge).await;
    assert_eq!(code, 413);
    let started = pods
        .list(&ListParams::default().labels("devagents.io/sandbox=true"))
        .await
        .unwrap();
    assert!(started.items.is_empty(), "no sandbox Pod was started");
    hold.abort();
    for n in ["rev", "other"] {
        common::cancel(&jobs, n).await;
    }
    common::delete_namespace(&client, &ns).await;
}

/// A test double of the Anthropic Messages API that, like the real one, writes as many output
/// tokens as `max_tokens` allows (here: all of them); returns its URL and the tokens it wrote.
async fn generous_anthropic_double() -> (String, Arc<AtomicU64>) {
    use axum::routing::post;
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let app = axum::Router::new().route(
        "/v1/messages",
        post(move |body: axum::Json<Value>| {
            let w = w.clone();
            async move {
                let out = body["max_tokens"].as_u64().unwrap_or(0);
                w.fetch_add(out + 5, Ordering::SeqCst);
                // A slow provider: concurrent calls overlap.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                axum::Json(json!({
                    "id": "msg_b", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{"type": "text", "text": "words ".repeat(out as usize)}],
                    "stop_reason": "max_tokens",
                    "usage": {"input_tokens": 5, "output_tokens": out}
                }))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), written)
}

/// Point 8: twenty concurrent calls of a job with a 1,000-token budget stay within it.
#[tokio::test]
async fn concurrent_llm_calls_cannot_overrun_the_jobs_budget() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-budget").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let (provider, written) = generous_anthropic_double().await;
    let key_file = std::env::temp_dir().join(format!("{ns}-llm-key"));
    std::fs::write(&key_file, "test-key").unwrap();
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &provider,
            "--llm-api-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "thrifty",
            1,
            json!({"sleepMs": 300000}),
            json!({"budget": {"maxTokens": 1000}}),
        ),
    )
    .await
    .unwrap();
    common::wait_for(&jobs, "thrifty", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(common::phase) == Some(Phase::Running)
    })
    .await;
    let ca = api_ca(&client, &ns).await;
    let http = http(&ca);
    let t = token(&client, &ns, "agent-thrifty", "devagents.io").await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let (http, t) = (http.clone(), t.clone());
        let u = format!("{}/v1/jobs/{ns}/thrifty/llm", op.api_url);
        calls.push(tokio::spawn(async move {
            let req = json!({"system": "be brief", "maxTokens": 1000,
                "messages": [{"role": "user", "content": format!("question number {i:02} of twenty")}]});
            http.post(u).bearer_auth(t).json(&req).send().await.unwrap().status().as_u16()
        }));
    }
    // 200: answered or skipped (the budget is spent); 422: cut at the output limit the
    // budget left (an incomplete answer is an error, but its tokens are accounted).
    let mut cut = 0;
    for c in calls {
        match c.await.unwrap() {
            200 => {}
            422 => cut += 1,
            other => panic!("an LLM call answered {other}"),
        }
    }
    assert!(
        cut >= 1,
        "the double writes up to max_tokens: some answer was cut"
    );
    let j = jobs.get("thrifty").await.unwrap();
    let llm = j.status.unwrap().llm.unwrap();
    let used = llm.input_tokens + llm.output_tokens;
    eprintln!(
        "measured: 20 concurrent calls used {used} tokens of a 1000-token budget in {} provider calls",
        llm.requests
    );
    assert!(
        used <= 1000,
        "the job used {used} tokens of a 1000-token budget"
    );
    assert!(
        written.load(Ordering::SeqCst) <= 1000,
        "the provider wrote {} tokens",
        written.load(Ordering::SeqCst)
    );
    assert!(llm.skipped.unwrap_or_default().contains("budget is spent"));
    common::cancel(&jobs, "thrifty").await;
    common::delete_namespace(&client, &ns).await;
}

/// spec-writer's questions endpoint: only a running spec-writer asks, only about itself, at
/// most 5 questions of 2–5 small options, in a small body; what it asked stays as it was.
#[tokio::test]
async fn only_a_running_spec_writer_asks_and_only_small_questions() {
    use devagents::testing::saas_doubles::AnthropicDouble;
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-questions").await;
    let root = tempfile::tempdir().unwrap();
    devagents::testing::docsync_cases::bare_with_steps(root.path(), "acme/core", "main", 0)
        .unwrap();
    let server = devagents::testing::git_server::GitServer::start(root.path(), None)
        .await
        .unwrap();
    let asks = json!({"questions": [{"question": "How deep?", "options": ["2", "unlimited"]}]});
    let llm = AnthropicDouble::start(vec![asks.to_string()])
        .await
        .unwrap();
    let key = root.path().join("key");
    std::fs::write(&key, "test-key").unwrap();
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &llm.url,
            "--llm-api-key-file",
            key.to_str().unwrap(),
        ],
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let spec: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "spec"},
        "spec": {"agent": "spec-writer", "timeoutSeconds": 300,
                 "repository": {"url": server.url("acme/core"), "baseBranch": "main"},
                 "specWriter": {"feature": "tree", "requirements": "Departments form a tree."}}
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &spec).await.unwrap();
    common::wait_for(&jobs, "spec", 120, "asking", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref())
            .is_some_and(|s| !s.questions.is_empty())
    })
    .await;
    let _other = common::running_probe(&jobs, "other").await;
    let http = http(&api_ca(&client, &ns).await);
    let url = |job: &str| format!("{}/v1/jobs/{ns}/{job}/questions", op.api_url);
    let t_spec = token(&client, &ns, "agent-spec", "devagents.io").await;
    let t_other = token(&client, &ns, "agent-other", "devagents.io").await;
    let q = |n: usize, options: Vec<&str>| json!({"questions": (0..n).map(|i| json!({"question": format!("Q{i}?"), "options": options})).collect::<Vec<_>>()});
    // Another agent may not ask, about itself or about the spec-writer.
    let (code, body) = common::post_json(&http, &url("other"), &t_other, &q(1, vec![])).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("is not a spec-writer"), "{body}");
    let (code, body) = common::post_json(&http, &url("spec"), &t_other, &q(1, vec![])).await;
    assert_eq!(code, 403, "{body}");
    // The spec-writer itself: at most 5 questions, 2–5 options, a small body.
    let (code, body) = common::post_json(&http, &url("spec"), &t_spec, &q(6, vec![])).await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = common::post_json(&http, &url("spec"), &t_spec, &q(1, vec!["only"])).await;
    assert_eq!(code, 422, "{body}");
    let long = "x".repeat(20_000);
    let (code, _) = common::post_json(&http, &url("spec"), &t_spec, &q(1, vec![&long, "b"])).await;
    assert_eq!(code, 413);
    let asked = jobs.get("spec").await.unwrap().status.unwrap().questions;
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].question, "How deep?");
    for n in ["spec", "other"] {
        common::cancel(&jobs, n).await;
    }
    common::delete_namespace(&client, &ns).await;
}
