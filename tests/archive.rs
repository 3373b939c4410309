//! The job archive (issue 22) against a real PostgreSQL (Debian's, started by the test like the
//! control plane): the schema made by the migrations (again: nothing changes), one row per job
//! whatever the number of writes, secrets redacted, filters, retention, and an outage that
//! loses nothing once the database is back.

use devagents::api::{AgentJob, AgentJobSpec, AgentJobStatus, AgentKind, JobResult, Phase};
use devagents::services::archive::{Archive, Filter, row_of};
use devagents::services::postgres::LocalServer;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

fn job(name: &str, agent: AgentKind, phase: Phase, done_ago_secs: i64) -> AgentJob {
    let mut j = AgentJob::new(name, AgentJobSpec::new(agent));
    j.metadata.namespace = Some("team".into());
    j.metadata.uid = Some(format!("uid-{name}"));
    let done = Timestamp::now() - SignedDuration::from_secs(done_ago_secs);
    j.metadata.creation_timestamp = Some(Time(done - SignedDuration::from_secs(30)));
    j.status = Some(AgentJobStatus {
        phase: Some(phase),
        started_at: Some(Time(done - SignedDuration::from_secs(20))),
        completed_at: Some(Time(done)),
        result: Some(Box::new(JobResult {
            summary: "pushed with ghp_abcdefghijklmnopqrstuvwxyz0123456789".into(),
            data: Some(
                serde_json::json!({"pullRequestUrl": "https://github.example/acme/core/pull/3"}),
            ),
            ..JobResult::default()
        })),
        ..AgentJobStatus::default()
    });
    j
}

#[tokio::test]
async fn jobs_are_archived_once_redacted_filtered_pruned_and_an_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pg = LocalServer::start(dir.path()).expect("PostgreSQL (e2e/install-deps.sh)");
    let archive = Archive::new(&pg.url);
    let a = row_of(&job("a", AgentKind::Probe, Phase::Succeeded, 10)).unwrap();
    assert!(archive.insert(&a).await.unwrap(), "new");
    assert!(!archive.insert(&a).await.unwrap(), "once");
    // A second process migrates the same database: nothing changes.
    let again = Archive::new(&pg.url);
    assert_eq!(again.count().await.unwrap(), 1);
    let got = archive.history(&Filter::default()).await.unwrap();
    assert_eq!(
        got,
        vec![a.clone()]
            .into_iter()
            .map(|mut r| {
                // Seconds survive the round trip to the microsecond.
                r.completed_at = got[0].completed_at;
                r.created_at = got[0].created_at;
                r.started_at = got[0].started_at;
                r
            })
            .collect::<Vec<_>>()
    );
    assert!((got[0].completed_at - a.completed_at).abs() < 0.001);
    assert!(
        !got[0].summary.as_deref().unwrap().contains("ghp_"),
        "{:?}",
        got[0].summary
    );
    assert_eq!(
        got[0].refs["pullRequestUrl"],
        "https://github.example/acme/core/pull/3"
    );
    assert_eq!(got[0].duration_seconds, Some(20.0));

    // The database goes away: writes fail (the operator keeps the job and retries) …
    pg.pause().unwrap();
    let b = row_of(&job("b", AgentKind::Deployer, Phase::RolledBack, 5)).unwrap();
    assert!(archive.insert(&b).await.is_err());
    assert!(archive.insert(&b).await.is_err());
    // … and succeed once it is back, on a new connection.
    pg.resume().unwrap();
    assert!(archive.insert(&b).await.unwrap());
    let old = row_of(&job("old", AgentKind::Reviewer, Phase::Failed, 40 * 86_400)).unwrap();
    assert!(archive.insert(&old).await.unwrap());

    let deploys = archive
        .history(&Filter {
            agent: Some("deployer".into()),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(deploys.len(), 1);
    assert_eq!(deploys[0].phase, "RolledBack");
    let recent = archive
        .history(&Filter {
            since: Some(Timestamp::now().as_second() as f64 - 86_400.0),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        recent.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    // Retention: 30 days.
    let pruned = archive
        .prune(std::time::Duration::from_secs(30 * 86_400))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(archive.count().await.unwrap(), 2);
}
