//! GitOps mode and image builds.

use super::*;

/// Acceptance 6 and the image build: GitOps mode commits the tag to a real bare repository;
/// with a test that plays Argo CD's sync the job completes, without it the job times out.
/// A build Pod runs before a rollout; a failing build stops the job before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_commits_the_tag_and_waits_for_the_sync_and_builds_come_first() {
    const TOKEN: &str = "ghp_e2edeployertoken0123456789abcdef";
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-deploy").await;
    let app_ns = common::namespace(&client, "e2e-shop").await;
    app(&client, &app_ns, "api", "v1").await;
    let root = tempfile::tempdir().unwrap();
    let kustomization =
        format!("resources:\n- deployment.yaml\nimages:\n- name: {REGISTRY}/api\n  newTag: v1\n");
    let manifests = bare_repo_with(
        root.path(),
        "acme/manifests",
        "main",
        &[
            ("envs/staging/kustomization.yaml", kustomization.as_str()),
            ("envs/qa/kustomization.yaml", kustomization.as_str()),
        ],
    )
    .unwrap();
    let source = bare_repo_with(
        root.path(),
        "acme/shop",
        "main",
        &[("Dockerfile", "FROM scratch\n")],
    )
    .unwrap();
    git(&source, &["tag", "v2", "main"]).unwrap();
    let server = GitServer::start(root.path(), Some(("x-access-token", TOKEN)))
        .await
        .unwrap();
    common::token_secret(&client, &ns, "git", TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let gitops = |env: &str, timeout: u64| {
        json!({"repository": server.url("acme/manifests"), "credentialsSecret": "git",
               "file": format!("envs/{env}/kustomization.yaml"), "syncTimeoutSeconds": timeout})
    };
    let _op = operator(
        &ns,
        dir.path(),
        json!([
            {"name": "staging", "namespace": app_ns, "services": [services()[0].clone()], "gitops": gitops("staging", 120)},
            {"name": "qa", "namespace": app_ns, "services": [services()[0].clone()], "gitops": gitops("qa", 3)},
            {"name": "build", "namespace": app_ns, "services": [services()[0].clone()]},
            {"name": "build-broken", "namespace": app_ns, "services": [services()[0].clone()],
             "build": {"builderImage": "gcr.io/kaniko-project/executor:broken"}},
            {"name": "smoke-ok", "namespace": app_ns, "services": [services()[0].clone()],
             "smokeTest": {"pod": {"image": "registry.local/devagents-smoke:ok", "args": ["--service={service}", "--version={version}"]}}},
            {"name": "smoke-bad", "namespace": app_ns, "services": [services()[0].clone()],
             "smokeTest": {"pod": {"image": "registry.local/devagents-smoke:broken"}}},
        ]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &deploy_job("gitops", "staging", "v2", json!({"mode": "gitops"})),
    )
    .await
    .unwrap();
    // Play Argo CD: once the job has committed, apply what the repository now says.
    let committed = common::wait_for(&jobs, "gitops", 120, "committed", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref())
            .is_some_and(|s| s.actions.iter().any(|a| a.type_ == "git_commit"))
    })
    .await;
    let sha = committed
        .status
        .unwrap()
        .actions
        .iter()
        .find(|a| a.type_ == "git_commit")
        .unwrap()
        .digest
        .clone()
        .unwrap();
    assert_eq!(git(&manifests, &["rev-parse", "main"]).unwrap(), sha);
    let text = git(
        &manifests,
        &["show", "main:envs/staging/kustomization.yaml"],
    )
    .unwrap();
    let k: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let tag = k["images"][0]["newTag"].as_str().unwrap().to_string();
    assert_eq!(tag, "v2");
    assert_eq!(
        git(&manifests, &["log", "-1", "--format=%an", "main"]).unwrap(),
        "devagents deployer"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &app_ns);
    deployments
        .patch("api", &PatchParams::apply("argocd-test-sync").force(), &Patch::Apply(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": format!("{REGISTRY}/api:{tag}")}]}}}
        })))
        .await
        .unwrap();
    let j = common::wait_for(&jobs, "gitops", 120, "finished", is_terminal).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    assert_eq!(data(&j)["services"][0]["state"], "Synced");
    assert!(
        j.status
            .unwrap()
            .actions
            .iter()
            .all(|a| a.type_ != "deploy_patch"),
        "GitOps mode never patches"
    );

    // Without a sync: a clear timeout.
    let j = run_to_end(
        &jobs,
        &deploy_job("no-sync", "qa", "v3", json!({"mode": "gitops"})),
    )
    .await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    let msg = st.message.unwrap();
    assert!(
        msg.contains("did not match the manifests within 3s"),
        "{msg}"
    );
    assert!(
        git(&manifests, &["show", "main:envs/qa/kustomization.yaml"])
            .unwrap()
            .contains("newTag: v3")
    );

    // A build before the rollout: a build Pod tagging version, git SHA and latest.
    let repo =
        json!({"url": server.url("acme/shop"), "baseBranch": "main", "credentialsSecret": "git"});
    let mut job = deploy_job("built", "build", "v2", json!({"build": {"enabled": true}}));
    job.spec.repository = Some(serde_json::from_value(repo.clone()).unwrap());
    let j = run_to_end(&jobs, &job).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    let b = &data(&j)["builds"][0];
    let tag_sha = git(&source, &["rev-parse", "v2^{commit}"]).unwrap();
    assert_eq!(b["gitSha"], tag_sha.as_str());
    assert_eq!(
        b["tags"],
        json!([
            format!("{REGISTRY}/api:v2"),
            format!("{REGISTRY}/api:{}", &tag_sha[..12]),
            format!("{REGISTRY}/api:latest")
        ])
    );
    // A failing build stops the job before anything is touched.
    let before = deployments.get("api").await.unwrap();
    let mut job = deploy_job(
        "build-fails",
        "build-broken",
        "v3",
        json!({"build": {"enabled": true, "gitRef": "v2"}}),
    );
    job.spec.repository = Some(serde_json::from_value(repo).unwrap());
    let j = run_to_end(&jobs, &job).await;
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    let msg = st.message.unwrap();
    assert!(
        msg.contains("the image build of api failed, nothing was deployed"),
        "{msg}"
    );
    let after = deployments.get("api").await.unwrap();
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert!(st.actions.iter().all(|a| a.type_ != "deploy_patch"));

    // A smoke-test Pod run to completion: passing, then failing (which rolls back).
    let j = run_to_end(&jobs, &deploy_job("smoke-ok", "smoke-ok", "v6", json!({}))).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    let t = &data(&j)["smokeTests"][0];
    assert_eq!(
        (t["passed"].as_bool(), t["check"].as_str()),
        (Some(true), Some("pod smoke-ok-smoke-api"))
    );
    let j = run_to_end(
        &jobs,
        &deploy_job("smoke-bad", "smoke-bad", "v7", json!({})),
    )
    .await;
    let st = j.status.clone().unwrap();
    assert_eq!(st.phase, Some(Phase::RolledBack), "{st:#?}");
    let msg = st.message.unwrap();
    assert!(
        msg.contains("api: smoke test failed: pod smoke-bad-smoke-api exited with code 1"),
        "{msg}"
    );
    let now = deployments.get("api").await.unwrap();
    assert_eq!(
        now.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some(format!("{REGISTRY}/api:v6").as_str())
    );

    // An environment the operator does not know: a clear failure before anything runs.
    let j = run_to_end(&jobs, &deploy_job("nowhere", "prod-eu", "v1", json!({}))).await;
    let st = j.status.unwrap();
    assert_eq!(
        (st.phase, st.reason.as_deref()),
        (Some(Phase::Failed), Some("InvalidSpec"))
    );
    assert_eq!(
        st.message.as_deref(),
        Some(
            "spec.deployer.environment: \"prod-eu\" is not configured (configured: build, build-broken, qa, smoke-bad, smoke-ok, staging)"
        )
    );
    assert!(st.attempts.is_empty());
    common::delete_namespace(&client, &ns).await;
    common::delete_namespace(&client, &app_ns).await;
}
