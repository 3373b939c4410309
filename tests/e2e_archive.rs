//! The job archive end to end (issue 22): a real control plane, a real PostgreSQL, the
//! operator with JSON logs. 50 jobs of two agents (probe jobs that succeed or fail, spec-writer
//! jobs that this build fails) are archived once each and then deleted by their TTL; while
//! the database is away finished jobs stay (nothing is deleted, `archive_errors` rises), the
//! operator is `kill -9`ed and restarted, and once the database is back every job is archived
//! — once. `kubectl agent history` and `report` read the rows back with the right numbers, and
//! every line the operator logged is a JSON object, those of a job with its fields.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::Operator;
use devagents::api::AgentJob;
use devagents::services::postgres::LocalServer;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

fn job(i: usize) -> AgentJob {
    let spec = if i % 5 == 4 {
        json!({"agent": "spec-writer", "ttlSecondsAfterFinished": 1,
               "specWriter": {"feature": "department-tree", "requirements": "a tree of departments"}})
    } else {
        // One probe in four fails (exit 1: an agent failure, not retried).
        json!({"agent": "probe", "ttlSecondsAfterFinished": 1,
               "probe": {"sleepMs": 100, "exitCode": if i % 4 == 3 { 1 } else { 0 }}})
    };
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
        "metadata": {"name": format!("job-{i:02}")}, "spec": spec
    }))
    .unwrap()
}

fn is_finished(j: &AgentJob) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(|p| p.is_terminal())
}

/// Wait until `cond` holds of the namespace's jobs.
async fn until(jobs: &Api<AgentJob>, secs: u64, what: &str, cond: impl Fn(&[AgentJob]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let list = jobs.list(&ListParams::default()).await.unwrap().items;
        if cond(&list) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not {what} after {secs}s: {} jobs left",
            list.len()
        );
        // Polling a list: the condition spans many objects (no single watch to await).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn cli(args: &[&str], url: &str) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_kubectl-agent"))
        .args(args)
        .env("DEVAGENTS_ARCHIVE_URL", url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_archived_once_through_an_outage_and_a_kill_and_reported() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-archive").await;
    let dir = tempfile::tempdir().unwrap();
    let pg = LocalServer::start(dir.path()).expect("PostgreSQL (e2e/install-deps.sh)");
    let url_file = dir.path().join("archive-url");
    std::fs::write(&url_file, &pg.url).unwrap();
    let args = [
        "--archive-database-url-file",
        url_file.to_str().unwrap(),
        "--log-format",
        "json",
    ];
    let mut op = Operator::start(&ns, "op-a", &args);
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let mut uids = BTreeSet::new();
    // First half: archived, then deleted by their TTL.
    for i in 0..25 {
        let j = jobs.create(&PostParams::default(), &job(i)).await.unwrap();
        uids.insert(j.metadata.uid.unwrap());
    }
    until(&jobs, 240, "archived and deleted", |l| l.is_empty()).await;

    // The database goes away: the second half finishes and stays.
    pg.pause().unwrap();
    for i in 25..50 {
        let j = jobs.create(&PostParams::default(), &job(i)).await.unwrap();
        uids.insert(j.metadata.uid.unwrap());
    }
    until(&jobs, 240, "finished", |l| {
        l.len() == 25 && l.iter().all(is_finished)
    })
    .await;
    // Past their TTL, with the archive away: still there, and the metric says why.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let m = op.metrics().await;
        if m.lines()
            .any(|l| l.starts_with("devagents_archive_errors_total ") && !l.ends_with(" 0"))
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        jobs.list(&ListParams::default()).await.unwrap().items.len(),
        25
    );
    // kill -9 between finish and archive, a new operator, the database back.
    op.kill();
    let op = Operator::start(&ns, "op-b", &args);
    pg.resume().unwrap();
    until(&jobs, 240, "archived and deleted", |l| l.is_empty()).await;
    drop(op);

    // Once each: 50 rows, exactly the jobs' UIDs.
    let rows = cli(&["history", "-n", &ns, "-o", "json"], &pg.url);
    let rows = rows.as_array().unwrap();
    let got: BTreeSet<String> = rows
        .iter()
        .map(|r| r["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows.len(), 50);
    assert_eq!(got, uids);
    let failed = cli(
        &[
            "history", "-n", &ns, "--agent", "probe", "--phase", "Failed", "-o", "json",
        ],
        &pg.url,
    );
    assert_eq!(failed.as_array().unwrap().len(), 10, "{failed}");
    let report = cli(
        &["report", "-n", &ns, "--since", "1d", "-o", "json"],
        &pg.url,
    );
    let line = |agent: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["agent"] == agent)
            .cloned()
            .unwrap_or_else(|| panic!("{agent}: {report}"))
    };
    let probe = line("probe");
    assert_eq!(
        (probe["jobs"].as_u64(), probe["succeeded"].as_u64()),
        (Some(40), Some(30)),
        "{probe}"
    );
    assert_eq!(probe["successRate"].as_f64(), Some(0.75));
    // Durations are whole seconds (status times are): 100 ms probes take 0 or 1.
    let (p50, p95) = (
        probe["medianSeconds"].as_f64().unwrap(),
        probe["p95Seconds"].as_f64().unwrap(),
    );
    assert!((0.0..=p95).contains(&p50) && p95 <= 5.0, "{probe}");
    let spec = line("spec-writer");
    assert_eq!(
        (spec["jobs"].as_u64(), spec["succeeded"].as_u64()),
        (Some(10), Some(0))
    );

    // JSON logs: every line parses; a job's lines name it, its namespace and agent.
    let log_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-logs");
    let mut with_job = 0;
    for id in ["op-a", "op-b"] {
        let text = std::fs::read_to_string(log_dir.join(format!("{ns}-{id}.log"))).unwrap();
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
            if v["job"].is_string() {
                assert_eq!(v["namespace"], ns.as_str(), "{l}");
                assert!(v["agent"].is_string(), "{l}");
                with_job += 1;
            }
        }
    }
    assert!(with_job > 0, "no line names its job");
    common::delete_namespace(&client, &ns).await;
}
