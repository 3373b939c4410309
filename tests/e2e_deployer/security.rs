//! The deployer's identity only reads, and a rollout someone else changes is not a success.

use super::*;

/// Security (issue 14, point 3): a token minted for the deployer's ServiceAccount while the
/// deploy runs (plain `edit` in the job's namespace may mint one) can change nothing in the
/// environment: the identity only reads there, and the operator, which writes on the
/// deployer's request, derives every target and image from the job and its environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_the_deployers_identity_can_change_nothing_in_the_environment() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // api is rolled out to v2 and its smoke test waits: now someone wears the job's identity.
    let held = held_deploy(&client, "-token").await;
    let (ns, app_ns) = (held.ns.clone(), held.app_ns.clone());
    let sa = devagents::controller::pod::service_account_name("to-v2");
    let token = common::token(&client, &ns, &sa, "https://kubernetes.default.svc").await;
    let intruder = common::token_client(&token).await;
    let deployments: Api<Deployment> = Api::namespaced(intruder.clone(), &app_ns);
    let evil = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": "evil.example/api:latest"}]}}}});
    let e = deployments
        .patch("api", &PatchParams::default(), &Patch::Strategic(evil))
        .await
        .expect_err("the job's identity may not patch a Deployment");
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e:?}");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(intruder, &app_ns);
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "to-v2-smoke-api"},
        "spec": {"containers": [{"name": "x", "image": "evil.example/x"}]}}))
    .unwrap();
    let e = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect_err("the job's identity may not start a Pod");
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e:?}");

    // Through the operator: only what the job itself does.
    let agent_token = common::token(&client, &ns, &sa, "devagents.io").await;
    let http = common::http(&common::api_ca(&client, &ns).await);
    let url = format!("{}/v1/jobs/{ns}/to-v2/deploy", held.op.api_url);
    let ask = |body: Value| {
        let (http, url, t) = (http.clone(), url.clone(), agent_token.clone());
        async move { common::post_json(&http, &url, &t, &body).await }
    };
    let (code, body) =
        ask(json!({"op": "setImage", "service": "api", "image": "evil.example/api:latest"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown field `image`"), "{body}");
    let (code, body) = ask(json!({"op": "setImage", "service": "web"})).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("web") && body.contains("is not one job"),
        "{body}"
    );
    let (code, body) = ask(json!({"op": "restore", "service": "rpc"})).await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("nothing to put back"), "{body}");
    let (code, body) = ask(json!({"op": "startPod", "kind": "smoke", "service": "api"})).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("has no smoke-test Pod"), "{body}");
    let (code, body) =
        ask(json!({"op": "startPod", "kind": "build", "service": "api", "gitSha": "a".repeat(40)}))
            .await;
    assert_eq!(code, 403, "{body}");
    // What the job does anyway: api at v2.
    let (code, body) = ask(json!({"op": "setImage", "service": "api"})).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&format!("{REGISTRY}/api:v2")), "{body}");

    held.smoke.gate.send(true).unwrap();
    let j = common::wait_for(&held.jobs, "to-v2", 120, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    let admin: Api<Deployment> = Api::namespaced(client.clone(), &app_ns);
    for svc in ["api", "rpc"] {
        let d = admin.get(svc).await.unwrap();
        let image = d.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        assert_eq!(image, format!("{REGISTRY}/{svc}:v2"));
    }
    held.end(&client).await;
}

/// A rollout changed by someone else while the deploy runs (anyone with rights in the
/// environment's namespace) is not reported as success: the operator compares the live
/// images with the ones the job was to roll out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_changed_by_someone_else_during_the_deploy_does_not_end_succeeded() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    // api is rolled out to v2 and its smoke test waits: now someone else sets another image.
    let held = held_deploy(&client, "-tamper").await;
    let intruder: Api<Deployment> = Api::namespaced(client.clone(), &held.app_ns);
    intruder
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "api", "image": "evil.example/api:latest"}]}}}})),
        )
        .await
        .unwrap();
    held.smoke.gate.send(true).unwrap();

    let j = common::wait_for(&held.jobs, "to-v2", 120, "finished", is_terminal).await;
    let st = j.status.unwrap();
    assert_eq!(
        (st.phase, st.reason.as_deref()),
        (Some(Phase::Failed), Some("LiveImageMismatch")),
        "{:?}",
        st.message
    );
    let msg = st.message.unwrap_or_default();
    assert!(
        msg.contains(&format!(
            "api runs evil.example/api:latest, not {REGISTRY}/api:v2"
        )),
        "{msg}"
    );
    held.end(&client).await;
}
