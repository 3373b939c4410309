//! The chart's Grafana dashboard (issue 22): every query names a metric the operator exports,
//! and every label it groups or filters by is one that metric has — a renamed metric or label
//! breaks this test, not a user's dashboard.

use std::collections::{BTreeMap, BTreeSet};

use devagents::controller::metrics::{
    AgentLabel, AgentPhase, DeployLabel, EnvironmentLabel, ErrorLabel, Metrics, OutcomeLabel,
    RequestLabel, TokenLabel,
};

/// The operator's metrics with one sample in every labelled family, as exposed: name → labels.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::default();
    let (agent, phase) = ("probe".to_string(), "Succeeded".to_string());
    m.jobs
        .get_or_create(&AgentPhase {
            agent: agent.clone(),
            phase: phase.clone(),
        })
        .set(1);
    m.jobs_finished
        .get_or_create(&AgentPhase {
            agent: agent.clone(),
            phase,
        })
        .inc();
    m.job_duration
        .get_or_create(&AgentLabel {
            agent: agent.clone(),
        })
        .observe(1.0);
    m.reconcile_errors
        .get_or_create(&ErrorLabel {
            kind: "api_409".into(),
        })
        .inc();
    m.api_requests
        .get_or_create(&RequestLabel {
            verb: "get".into(),
            resource: "pods".into(),
        })
        .inc();
    m.llm_tokens
        .get_or_create(&TokenLabel {
            agent: agent.clone(),
            kind: "input".into(),
        })
        .inc();
    m.llm_cost_usd
        .get_or_create(&AgentLabel { agent })
        .inc_by(1.0);
    m.llm_prompt_cache
        .get_or_create(&OutcomeLabel {
            outcome: "read".into(),
        })
        .inc();
    m.deploys
        .get_or_create(&DeployLabel {
            environment: "staging".into(),
            outcome: "Succeeded".into(),
        })
        .inc();
    m.deploy_duration
        .get_or_create(&EnvironmentLabel {
            environment: "staging".into(),
        })
        .observe(1.0);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in m
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = line.split_once(['{', ' ']).unwrap();
        let labels = out.entry(name.to_string()).or_default();
        if let Some(body) = rest.split_once('}').map(|(b, _)| b) {
            for kv in body.split(',').filter(|s| !s.is_empty()) {
                labels.insert(kv.split('=').next().unwrap().to_string());
            }
        }
    }
    out
}

#[test]
fn every_dashboard_query_names_an_exported_metric_and_its_labels() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let d: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/charts/devagents/dashboards/devagents.json"))
            .unwrap(),
    )
    .unwrap();
    let exported = exported();
    let metric = regex::Regex::new(r"devagents_[a-z_]+").unwrap();
    let by = regex::Regex::new(r"by \(([a-z_, ]+)\)").unwrap();
    let matchers = regex::Regex::new(r"\{([^}]*)\}").unwrap();
    let mut queries = 0;
    let mut panels = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        panels.insert(p["title"].as_str().unwrap().to_string());
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            queries += 1;
            let names: Vec<&str> = metric.find_iter(e).map(|m| m.as_str()).collect();
            assert!(!names.is_empty(), "{e}");
            for n in &names {
                assert!(
                    exported.contains_key(*n),
                    "{e}: {n} is not exported ({:?})",
                    exported.keys()
                );
            }
            let mut used: BTreeSet<String> = BTreeSet::new();
            for c in by.captures_iter(e) {
                used.extend(c[1].split(',').map(|s| s.trim().to_string()));
            }
            for c in matchers.captures_iter(e) {
                used.extend(
                    c[1].split(',')
                        .filter_map(|kv| kv.split('=').next())
                        .map(|s| s.trim().to_string()),
                );
            }
            used.remove("le");
            let have: BTreeSet<String> = names.iter().flat_map(|n| exported[*n].clone()).collect();
            for l in used {
                assert!(have.contains(&l), "{e}: label {l} is not one of {have:?}");
            }
        }
    }
    assert!(queries >= 14, "{queries}");
    // What the issue asks the dashboard to show.
    for want in [
        "Jobs per hour",
        "duration",
        "Queue depth",
        "Running",
        "Success rate",
        "LLM latency",
        "tokens",
        "cost",
        "rate-limit",
        "Deploys and rollbacks",
    ] {
        assert!(
            panels.iter().any(|p| p.contains(want)),
            "no panel for {want}: {panels:?}"
        );
    }
}
