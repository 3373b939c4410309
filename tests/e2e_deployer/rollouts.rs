//! Native rollouts, rollbacks and smoke tests.

use super::*;

/// Acceptance 1, 2 and 5: v1 → v2 on two services; the job's identity may read Deployments in
/// the environment's namespace during the job (the operator writes them) and nothing
/// elsewhere, nothing afterwards; a
/// broken v3 stalls, ProgressDeadlineExceeded rolls it back, the job ends RolledBack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_roll_out_and_a_broken_version_rolls_back() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // The smoke test holds the v2 deploy until the permission checks below are done.
    // During the job (its smoke test of api is waiting on us):
    let Held {
        ns,
        app_ns,
        jobs,
        smoke,
        op,
        _dir,
    } = held_deploy(&client, "").await;
    let user = format!(
        "system:serviceaccount:{ns}:{}",
        devagents::controller::pod::service_account_name("to-v2")
    );
    // The identity reads; the operator writes (on the deployer's request).
    for d in ["api", "rpc"] {
        assert!(!may_on(&client, &user, "patch", "apps", "deployments", &app_ns, d).await);
    }
    assert!(may(&client, &user, "get", "apps", "deployments", &app_ns).await);
    for (verb, group, resource, in_ns) in [
        ("patch", "apps", "deployments", ns.as_str()),
        ("patch", "apps", "deployments", "default"),
        ("patch", "apps", "deployments", app_ns.as_str()),
        ("update", "apps", "deployments", app_ns.as_str()),
        ("list", "apps", "replicasets", app_ns.as_str()),
        ("delete", "apps", "deployments", app_ns.as_str()),
        ("create", "apps", "deployments", app_ns.as_str()),
        ("get", "", "secrets", app_ns.as_str()),
        ("create", "", "pods", app_ns.as_str()),
        ("patch", "apps", "daemonsets", app_ns.as_str()),
        ("update", "devagents.io", "agentjobs", ns.as_str()),
    ] {
        assert!(
            !may(&client, &user, verb, group, resource, in_ns).await,
            "{verb} {resource} in {in_ns} must be denied"
        );
    }
    // The Role is bound now, in the environment's namespace.
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &app_ns);
    let binding = bindings
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|b| b.name_any().starts_with("devagents-deploy-to-v2-"))
        .expect("the job's RoleBinding exists during the job");
    smoke.gate.send(true).unwrap();

    let j = common::wait_for(&jobs, "to-v2", 120, "finished", is_terminal).await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let d = data(&j);
    for (i, svc) in ["api", "rpc"].iter().enumerate() {
        let s = &d["services"][i];
        assert_eq!(s["name"], *svc);
        assert_eq!(s["fromImage"], format!("{REGISTRY}/{svc}:v1"));
        assert_eq!(s["toImage"], format!("{REGISTRY}/{svc}:v2"));
        assert_eq!(
            (s["fromRevision"].as_i64(), s["toRevision"].as_i64()),
            (Some(1), Some(2))
        );
        assert_eq!(s["state"], "RolledOut");
        assert_eq!(
            history(&client, &app_ns, svc).await,
            vec![
                (1, format!("{REGISTRY}/{svc}:v1")),
                (2, format!("{REGISTRY}/{svc}:v2"))
            ]
        );
    }
    assert_eq!(d["smokeTests"].as_array().unwrap().len(), 2);
    let patches: Vec<&str> = st
        .actions
        .iter()
        .filter(|a| a.type_ == "deploy_patch")
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(
        patches,
        vec![
            format!("deployment/{app_ns}/api#api"),
            format!("deployment/{app_ns}/rpc#rpc")
        ]
    );

    // Afterwards: the binding is gone and the identity can do nothing.
    common::wait_gone(&bindings, &binding.name_any(), &binding.uid().unwrap(), 30).await;
    assert!(!may(&client, &user, "get", "apps", "deployments", &app_ns).await);

    // A broken v3: api stalls, its progress deadline passes, the deployer rolls it back.
    let j = run_to_end(
        &jobs,
        &deploy_job("to-v3", "staging", "broken-v3", json!({})),
    )
    .await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::RolledBack), "{st:#?}");
    assert_eq!(st.reason.as_deref(), Some("RolledBack"));
    let msg = st.message.clone().unwrap();
    assert!(
        msg.contains("api: deployment \"api\" exceeded its progress deadline"),
        "{msg}"
    );
    let d = data(&j);
    assert_eq!(d["outcome"], "RolledBack");
    assert_eq!(d["services"][0]["state"], "RolledBack");
    assert_eq!(
        d["services"][1]["state"], "Pending",
        "rpc was never touched"
    );
    let api_now = rolled_out(&client, &app_ns, "api").await;
    assert_eq!(image_of(&api_now), format!("{REGISTRY}/api:v2"));
    let dep = devagents::agents::deployer::rollout::status(&api_now);
    assert!(matches!(dep, Rollout::Done(_)), "{dep:?}");
    assert_eq!(api_now.status.unwrap().available_replicas, Some(2));
    // kubectl rollout undo semantics: v2's ReplicaSet is current again, with a new revision.
    let h = history(&client, &app_ns, "api").await;
    assert_eq!(
        h.last().unwrap(),
        &(4, format!("{REGISTRY}/api:v2")),
        "{h:?}"
    );
    assert!(
        st.actions
            .iter()
            .any(|a| a.type_ == "rollback" && a.target == format!("deployment/{app_ns}/api#api"))
    );
    // Metrics: deploys by environment and outcome, rollout durations.
    let m = op.metrics().await;
    for line in [
        "devagents_deploys_total{environment=\"staging\",outcome=\"Succeeded\"} 1",
        "devagents_deploys_total{environment=\"staging\",outcome=\"RolledBack\"} 1",
        "devagents_deploy_rollout_seconds_count{environment=\"staging\"} 2",
    ] {
        assert!(m.contains(line), "{line} not in:\n{m}");
    }
    common::delete_namespace(&client, &ns).await;
    common::delete_namespace(&client, &app_ns).await;
}

/// Acceptance 3: a failing HTTP smoke test of service 2 of 2 rolls back both services; Slack
/// (test double) hears about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_smoke_test_of_the_second_service_rolls_back_both() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-deploy").await;
    let app_ns = common::namespace(&client, "e2e-shop").await;
    app(&client, &app_ns, "api", "v1").await;
    app(&client, &app_ns, "rpc", "v1").await;
    let smoke = smoke_server(true).await;
    smoke.status.lock().unwrap().insert("rpc".into(), 500);
    let slack = SlackDouble::start().await.unwrap();
    let notion = NotionDouble::start("secret_notione2edeployer0123456789")
        .await
        .unwrap();
    // Notion 2025-09-03: the configured database holds one data source; rows go there.
    notion.with(|s| s.database("deploys", &[("deploys-source", "Deploys")]));
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "slack"}, "stringData": {"webhook-url": slack.webhook_url()}})).unwrap(),
        )
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "notion"}, "stringData": {"token": "secret_notione2edeployer0123456789"}})).unwrap(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _op = operator(
        &ns,
        dir.path(),
        json!([{
            "name": "staging", "namespace": app_ns, "services": services(),
            "smokeTest": {"http": [{"url": format!("{}/{{service}}/health", smoke.served.url()),
                                     "retries": 2, "intervalSeconds": 0}]},
            "notifications": {"slackSecret": "slack",
                              "notion": {"secret": "notion", "databaseId": "deploys", "apiUrl": notion.url}},
        }]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let j = run_to_end(&jobs, &deploy_job("to-v2", "staging", "v2", json!({}))).await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::RolledBack), "{st:#?}");
    let msg = st.message.clone().unwrap();
    assert!(msg.contains("rpc: smoke test failed: GET "), "{msg}");
    assert!(msg.contains("answered 500, expected 200"), "{msg}");
    let d = data(&j);
    assert_eq!(d["services"][0]["state"], "RolledBack");
    assert_eq!(d["services"][1]["state"], "RolledBack");
    for svc in ["api", "rpc"] {
        let now = rolled_out(&client, &app_ns, svc).await;
        assert_eq!(
            image_of(&now),
            format!("{REGISTRY}/{svc}:v1"),
            "{svc} is back on v1"
        );
    }
    // rpc rolled back before api (last changed, first restored).
    let rollbacks: Vec<&str> = st
        .actions
        .iter()
        .filter(|a| a.type_ == "rollback")
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(
        rollbacks,
        vec![
            format!("deployment/{app_ns}/rpc#rpc"),
            format!("deployment/{app_ns}/api#api")
        ]
    );
    let posted = slack.with(|s| s.messages.clone());
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = posted[0]["text"].as_str().unwrap();
    assert!(text.contains("rolled back v2 to staging"), "{text}");
    assert_eq!(d["notifications"][0], "slack: sent");
    let pages = notion.with(|s| s.pages.clone());
    assert_eq!(pages.len(), 1, "{pages:?}");
    let row = pages[0].1.to_string();
    assert!(
        row.contains("\"data_source_id\":\"deploys-source\""),
        "{row}"
    );
    assert!(
        row.contains("RolledBack") && row.contains("rolled back v2 to staging"),
        "{row}"
    );
    assert!(
        !serde_json::to_string(&j)
            .unwrap()
            .contains("secret_notione2e")
    );
    common::delete_namespace(&client, &ns).await;
    common::delete_namespace(&client, &app_ns).await;
}
