//! The agents' registry is the one list of agents: the API's kinds, the README's table and
//! the chart's per-agent limits name exactly what it names.

use std::collections::BTreeSet;

use devagents::agents::REGISTRY;
use devagents::api::AgentKind;

fn registry_names() -> Vec<&'static str> {
    REGISTRY.iter().map(|a| a.kind().as_str()).collect()
}

#[test]
fn every_kind_of_the_api_has_exactly_one_agent() {
    let names = registry_names();
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "an agent is listed twice: {names:?}"
    );
    let kinds: BTreeSet<_> = AgentKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        kinds,
        names.iter().copied().collect::<BTreeSet<_>>(),
        "AgentKind and the registry differ"
    );
    for a in REGISTRY {
        assert!(
            !a.description().is_empty(),
            "{} has no description",
            a.kind()
        );
        assert_eq!(
            devagents::agents::agent(a.kind()).map(|x| x.kind()),
            Some(a.kind())
        );
    }
}

/// The agents the operator publishes as built (`kubectl agent list`) are those whose
/// descriptor runs them: every agent in this build.
#[test]
fn implemented_agents_are_the_ones_that_run() {
    let hooks = devagents::agents::operator_side(Default::default());
    let running: Vec<&str> = hooks.implemented().iter().map(|k| k.as_str()).collect();
    assert_eq!(
        running,
        [
            "generator",
            "reviewer",
            "deployer",
            "doc-sync",
            "test-gen",
            "migrator",
            "spec-writer",
            "probe"
        ]
    );
}

/// The first column of the README's agent table (the one under the introduction).
fn readme_agents() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut lines = readme
        .lines()
        .skip_while(|l| !l.starts_with("| agent | does |"));
    lines.next();
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_start_matches('|')
                .split('|')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('`')
                .to_string()
        })
        .collect()
}

#[test]
fn the_readme_table_names_exactly_the_registry() {
    assert_eq!(readme_agents(), registry_names());
}

#[test]
fn the_charts_per_agent_limits_name_exactly_the_registry() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/charts/devagents/values.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let listed: Vec<&str> =
        schema["properties"]["limits"]["properties"]["perAgent"]["propertyNames"]["enum"]
            .as_array()
            .expect("limits.perAgent.propertyNames.enum in values.schema.json")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
    assert_eq!(listed, registry_names());
}

/// The webhook's repository rule is the agent's own: each agent's example job passes, and
/// without its repository it is refused exactly when the agent needs one.
#[test]
fn the_repository_rule_comes_from_each_agent() {
    let agents = devagents::agents::operator_side(Default::default());
    for a in REGISTRY {
        let path = format!(
            "{}/examples/agentjobs/{}.yaml",
            env!("CARGO_MANIFEST_DIR"),
            a.kind()
        );
        let job: devagents::api::AgentJob =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let check = |spec| devagents::agentapi::webhook::check_job_spec(spec, &agents);
        assert_eq!(check(&job.spec), Ok(()), "{path}");
        let mut bare = job.spec.clone();
        bare.repository = None;
        let expected = match a.needs_repository() {
            true => Err(format!(
                "spec.repository is required for the {} agent",
                a.kind()
            )),
            false => Ok(()),
        };
        assert_eq!(check(&bare), expected, "{path}");
    }
}
