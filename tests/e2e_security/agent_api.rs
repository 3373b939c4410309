//! What one agent token (or none) can send to the agent API is bounded.

use super::*;

/// Points 5–7 and 9–11: what one agent token (or no token) can send is bounded.
#[tokio::test]
async fn an_agent_token_cannot_bloat_its_job_fill_etcd_overwrite_others_or_outlive_its_job() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-limits").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--artifact-max-bytes",
            "1048576",
            "--artifact-uploads-per-minute",
            "6",
        ],
    );
    let victim = common::running_probe(&jobs, "victim").await;
    common::running_probe(&jobs, "victim-data").await;
    let ca = api_ca(&client, &ns).await;
    let http = http_once(&ca);
    let url = |job: &str, rest: &str| format!("{}/v1/jobs/{ns}/{job}{rest}", op.api_url);
    let t_victim = token(&client, &ns, "agent-victim", "devagents.io").await;
    let t_data = token(&client, &ns, "agent-victim-data", "devagents.io").await;

    // 5. Huge digests: refused; bounded actions beyond the trail's length keep the job small.
    let huge = json!({"type": "api_call", "target": "x", "digest": "d".repeat(100_000)});
    let r = http
        .post(url("victim", "/actions"))
        .bearer_auth(&t_victim)
        .json(&huge)
        .send()
        .await;
    refused(r, 413);
    let long = json!({"type": "api_call", "target": "t".repeat(1024), "digest": "d".repeat(257)});
    let r = http
        .post(url("victim", "/actions"))
        .bearer_auth(&t_victim)
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("digest must be 1..256"));
    for i in 0..120 {
        let a = json!({"type": "api_call", "target": format!("{i}:{}", "t".repeat(1000)), "digest": "d".repeat(256)});
        let r = http
            .post(url("victim", "/actions"))
            .bearer_auth(&t_victim)
            .json(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "action {i}");
    }
    let j = jobs.get("victim").await.unwrap();
    let st = j.status.as_ref().unwrap();
    assert_eq!(st.actions.len(), devagents::agentapi::ACTIONS_KEPT);
    assert!(
        st.actions[0].target.starts_with("20:"),
        "the oldest actions go first"
    );
    let size = serde_json::to_vec(&j).unwrap().len();
    eprintln!("measured: the job is {size} bytes after 120 maximal actions");
    assert!(
        size < devagents::agentapi::STATUS_MAX + 16 * 1024,
        "the job is {size} bytes"
    );

    // 10. `victim-data` + `result` and `victim` + `data-result` no longer share objects.
    let a_bytes = b"victim-data's own result".to_vec();
    let b_bytes = b"victim's data-result".to_vec();
    let r = http
        .put(url("victim", "/artifacts/data-result"))
        .bearer_auth(&t_victim)
        .body(b_bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ref_b: devagents::api::ArtifactRef = r.json().await.unwrap();
    let r = http
        .put(url("victim-data", "/artifacts/result"))
        .bearer_auth(&t_data)
        .body(a_bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ref_a: devagents::api::ArtifactRef = r.json().await.unwrap();
    assert_eq!(
        devagents::agentapi::results::fetch(&client, &ns, &ref_a)
            .await
            .unwrap(),
        a_bytes
    );
    assert_eq!(
        devagents::agentapi::results::fetch(&client, &ns, &ref_b)
            .await
            .unwrap(),
        b_bytes
    );

    // 6. The per-job quota (1 MiB stored here) and upload rate (6 a minute here).
    let noise = |n: usize, seed: u64| -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let r = http
        .put(url("victim", "/artifacts/big-one"))
        .bearer_auth(&t_victim)
        .body(noise(600 * 1024, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .put(url("victim", "/artifacts/big-two"))
        .bearer_auth(&t_victim)
        .body(noise(600 * 1024, 9))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("may hold 1048576 bytes"));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let held: usize = cms
        .list(
            &ListParams::default()
                .labels(&format!("devagents.io/job-uid={}", victim.uid().unwrap())),
        )
        .await
        .unwrap()
        .items
        .iter()
        .filter(|c| c.labels().contains_key("devagents.io/artifact"))
        .map(|c| c.binary_data.as_ref().map_or(0, |d| d["chunk"].0.len()))
        .sum();
    assert!(held <= 1024 * 1024, "{held} bytes stored, over the quota");
    let mut codes = Vec::new();
    for i in 0..4 {
        let r = http
            .put(url("victim", &format!("/artifacts/small-{i}")))
            .bearer_auth(&t_victim)
            .body("x")
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
    }
    assert_eq!(
        codes,
        vec![200, 200, 200, 429],
        "uploads 4..7 of the minute"
    );

    // 9. Secrets the first redaction missed, sent as progress (a private key line by line).
    let lines = [
        "DB_PASSWORD=Sup3rS3cretDb",
        "GITHUB_TOKEN=abcd1234efgh5678",
        r#"{"password": "Hunter2Hunter2", "client_secret": "cl1entS3cret"}"#,
        "glpat-Zx9Yw8Vu7TZx9Yw8Vu7T",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ];
    let r = http
        .post(url("victim", "/progress"))
        .bearer_auth(&t_victim)
        .json(&json!({"lines": lines}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for line in [
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "-----END OPENSSH PRIVATE KEY-----",
        "after the key",
    ] {
        let r = http
            .post(url("victim", "/progress"))
            .bearer_auth(&t_victim)
            .json(&json!({"lines": [line]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let log = cms
        .get(&devagents::agentapi::progress_configmap("victim"))
        .await
        .unwrap()
        .data
        .unwrap()["log"]
        .clone();
    for needle in [
        "Sup3rS3cretDb",
        "abcd1234efgh5678",
        "Hunter2Hunter2",
        "cl1entS3cret",
        "Zx9Yw8Vu7TZx9Yw8Vu7T",
        "SyA1b2C3d4E5f6G7h8I9",
        "b3BlbnNzaC1rZXkt",
    ] {
        assert!(
            !log.contains(needle),
            "{needle} leaked into the progress log:\n{log}"
        );
    }
    assert!(log.contains("after the key"), "{log}");

    // 7. No token, a 100 MiB body, four at once: refused from the headers, never buffered.
    let pid = op.child.id();
    let before = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(before));
    let watcher = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut sends = Vec::new();
    let flood = axum::body::Bytes::from(vec![b'x'; 100 * 1024 * 1024]);
    for _ in 0..4 {
        let (http, u, body) = (
            http.clone(),
            url("victim", "/artifacts/flood"),
            flood.clone(),
        );
        sends.push(tokio::spawn(async move {
            http.put(u).bearer_auth("bogus").body(body).send().await
        }));
    }
    for s in sends {
        refused(s.await.unwrap(), 401);
    }
    // Authenticated, but over the route's limit: 413.
    let r = http
        .post(url("victim", "/progress"))
        .bearer_auth(&t_victim)
        .json(&json!({"lines": ["y".repeat(2 * 1024 * 1024)]}))
        .send()
        .await;
    refused(r, 413);
    watcher.abort();
    let grew = peak.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!(
        "measured: operator RSS {before} KiB before, grew by {grew} KiB at peak under 4 x 100 MiB unauthenticated uploads"
    );
    assert!(
        grew < 64 * 1024,
        "the operator grew by {grew} KiB under 4 × 100 MiB of unauthenticated bodies"
    );

    // 11. A token of a deleted job's account does not open a re-created job of that name.
    common::running_probe(&jobs, "reborn").await;
    let old = token(&client, &ns, "agent-reborn", "devagents.io").await;
    assert_eq!(
        http.get(url("reborn", ""))
            .bearer_auth(&old)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let uid = jobs.get("reborn").await.unwrap().uid().unwrap();
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa_uid = sas.get("agent-reborn").await.unwrap().uid().unwrap();
    jobs.delete("reborn", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone(&jobs, "reborn", &uid, 60).await;
    common::wait_gone(&sas, "agent-reborn", &sa_uid, 60).await;
    common::running_probe(&jobs, "reborn").await;
    let r = http
        .get(url("reborn", ""))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    let (code, body) = (r.status(), r.text().await.unwrap());
    // Refused: by the operator while its cached review lasts (403, the account's UID differs),
    // or, once that expired (a slow machine), by the apiserver (401: the account is gone).
    match code.as_u16() {
        403 => assert!(
            body.contains("not of the serviceaccount the operator made for job"),
            "{body}"
        ),
        401 => assert!(body.contains("not valid for audience"), "{body}"),
        other => panic!("{other}: {body}"),
    }

    for n in ["victim", "victim-data", "reborn"] {
        common::cancel(&jobs, n).await;
    }
    common::delete_namespace(&client, &ns).await;
}
