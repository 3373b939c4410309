//! Tables and documents the plugin prints (pure, from the API objects).

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::api::{AgentJob, AgentKind, Phase};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Wide,
    Json,
    Yaml,
}

/// What each agent does (`kubectl agent list`), from the agents' registry.
pub fn describe_agent(a: AgentKind) -> &'static str {
    crate::agents::agent(a).map_or("", |x| x.description())
}

/// Human age: `45s`, `3m`, `5h`, `2d`.
pub fn age(since: Option<Timestamp>, now: Timestamp) -> String {
    let Some(t) = since else {
        return "<unknown>".into();
    };
    let s = t.duration_until(now).as_secs().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub(crate) fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn phase(j: &AgentJob) -> String {
    j.status
        .as_ref()
        .and_then(|s| s.phase)
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "Pending".into())
}

/// `-o json|yaml`: the object as a document (None: a table is wanted).
pub fn document<T: serde::Serialize>(
    v: &T,
    output: Option<Output>,
) -> Option<Result<String, String>> {
    match output {
        Some(Output::Json) => Some(
            serde_json::to_string_pretty(v)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
        ),
        Some(Output::Yaml) => Some(serde_yaml::to_string(v).map_err(|e| e.to_string())),
        _ => None,
    }
}

/// `kubectl agent jobs`: like `kubectl get agentjobs`.
pub fn jobs(
    list: &[AgentJob],
    output: Option<Output>,
    all_ns: bool,
    positions: &BTreeMap<String, (i32, String)>,
) -> Result<String, String> {
    if output.is_some_and(|o| o != Output::Wide) {
        let doc = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": list });
        if let Some(d) = document(&doc, output) {
            return d;
        }
    }
    if list.is_empty() {
        return Ok("No agentjobs found.\n".into());
    }
    let wide = output == Some(Output::Wide);
    let now = Timestamp::now();
    let mut head: Vec<&str> = Vec::new();
    if all_ns {
        head.push("NAMESPACE");
    }
    head.extend(["NAME", "AGENT", "PHASE", "AGE"]);
    if wide {
        head.extend(["PRIORITY", "ATTEMPTS", "POSITION", "WAITING", "SUMMARY"]);
    }
    let mut rows = vec![head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    let mut sorted: Vec<&AgentJob> = list.iter().collect();
    sorted.sort_by_key(|j| {
        (
            j.namespace(),
            j.metadata.creation_timestamp.clone().map(|t| t.0),
            j.name_any(),
        )
    });
    for j in sorted {
        let st = j.status.clone().unwrap_or_default();
        let mut r = Vec::new();
        if all_ns {
            r.push(j.namespace().unwrap_or_default());
        }
        r.push(j.name_any());
        r.push(j.spec.agent.to_string());
        r.push(phase(j));
        r.push(age(
            j.metadata.creation_timestamp.as_ref().map(|t| t.0),
            now,
        ));
        if wide {
            r.push(j.spec.priority.to_string());
            r.push(st.attempts.len().to_string());
            let key = format!("{}/{}", j.namespace().unwrap_or_default(), j.name_any());
            let pos = positions.get(&key);
            r.push(pos.map(|p| p.0.to_string()).unwrap_or_else(|| "-".into()));
            r.push(
                pos.map(|p| p.1.clone())
                    .or(st.waiting_for.clone())
                    .unwrap_or_else(|| "-".into()),
            );
            let summary = st
                .result
                .as_ref()
                .map(|r| r.summary.clone())
                .or(st.message.clone())
                .unwrap_or_default();
            r.push(
                summary
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect(),
            );
        }
        rows.push(r);
    }
    Ok(render(&rows))
}

/// `kubectl agent get JOB`.
pub fn describe(
    j: &AgentJob,
    output: Option<Output>,
    positions: &BTreeMap<String, (i32, String)>,
) -> Result<String, String> {
    if let Some(d) = document(j, output) {
        return d;
    }
    let st = j.status.clone().unwrap_or_default();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<13}{v}\n", format!("{k}:")));
    kv("Name", j.name_any());
    kv("Namespace", j.namespace().unwrap_or_default());
    kv("Agent", j.spec.agent.to_string());
    kv("Priority", j.spec.priority.to_string());
    kv("Phase", phase(j));
    if let Some(r) = &st.reason {
        kv("Reason", r.clone());
    }
    if let Some(m) = &st.message {
        kv("Message", m.clone());
    }
    let key = format!("{}/{}", j.namespace().unwrap_or_default(), j.name_any());
    match positions.get(&key) {
        Some((pos, why)) => {
            kv("Waiting for", why.clone());
            kv(
                "Position",
                format!("{pos} of {} waiting (kubectl agent queue)", positions.len()),
            );
        }
        None => {
            if let Some(w) = &st.waiting_for {
                kv("Waiting for", w.clone());
            }
        }
    }
    if let Some(r) = &j.spec.requested_by {
        kv("Requested by", r.username.clone());
    }
    if let Some(r) = &st.result {
        kv("Result", r.summary.clone());
    }
    if let Some(l) = &st.llm {
        kv(
            "LLM",
            format!(
                "{} requests, {} in / {} out tokens, ${:.4}",
                l.requests, l.input_tokens, l.output_tokens, l.cost_usd
            ),
        );
    }
    if !st.attempts.is_empty() {
        out.push_str("Attempts:\n");
        for a in &st.attempts {
            out.push_str(&format!(
                "  #{} pod {}  exit {}  {}{}\n",
                a.attempt,
                a.pod,
                a.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                a.reason.clone().unwrap_or_default(),
                a.message
                    .as_ref()
                    .map(|m| format!(": {}", m.lines().next().unwrap_or("")))
                    .unwrap_or_default()
            ));
        }
    }
    if !st.actions.is_empty() {
        out.push_str("Actions:\n");
        for a in &st.actions {
            out.push_str(&format!(
                "  {} {}{}\n",
                a.type_,
                a.target,
                a.digest
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(out)
}

/// What the operator publishes about its agents (ConfigMap `devagents-agents`).
#[derive(serde::Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Registry {
    pub image: String,
    pub max_running: usize,
    #[serde(default)]
    pub limits: BTreeMap<String, usize>,
    #[serde(default)]
    pub implemented: Vec<String>,
    /// The only namespace the operator serves (none: every namespace).
    #[serde(default)]
    pub watch_namespace: Option<String>,
}

/// `kubectl agent list`: every agent, its image and limit, with the success rate and average
/// duration of its finished jobs.
pub fn agents(jobs: &[AgentJob], registry: Option<&Registry>) -> String {
    #[derive(Default)]
    struct Stats {
        finished: usize,
        succeeded: usize,
        seconds: f64,
        timed: usize,
        running: usize,
    }
    let mut by: BTreeMap<AgentKind, Stats> = BTreeMap::new();
    for j in jobs {
        let s = by.entry(j.spec.agent).or_default();
        let st = j.status.clone().unwrap_or_default();
        match st.phase {
            Some(p) if p.is_terminal() => {
                s.finished += 1;
                if p == Phase::Succeeded {
                    s.succeeded += 1;
                }
                if let (Some(a), Some(b)) = (&st.started_at, &st.completed_at) {
                    s.seconds += a.0.duration_until(b.0).as_secs_f64().max(0.0);
                    s.timed += 1;
                }
            }
            Some(Phase::Running) => s.running += 1,
            _ => {}
        }
    }
    let mut rows = vec![
        [
            "AGENT",
            "DESCRIPTION",
            "IMAGE",
            "LIMIT",
            "RUNNING",
            "FINISHED",
            "SUCCESS",
            "AVG DURATION",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for a in AgentKind::ALL {
        let s = by.remove(&a).unwrap_or_default();
        let (image, limit) = match registry {
            Some(r) if r.implemented.is_empty() || r.implemented.contains(&a.to_string()) => (
                r.image.clone(),
                r.limits
                    .get(a.as_str())
                    .copied()
                    .unwrap_or(r.max_running)
                    .to_string(),
            ),
            Some(_) => ("(not in this build)".to_string(), "-".to_string()),
            None => ("-".to_string(), "-".to_string()),
        };
        rows.push(vec![
            a.to_string(),
            describe_agent(a).to_string(),
            image,
            limit,
            s.running.to_string(),
            s.finished.to_string(),
            if s.finished == 0 {
                "-".into()
            } else {
                format!("{:.0}%", 100.0 * s.succeeded as f64 / s.finished as f64)
            },
            if s.timed == 0 {
                "-".into()
            } else {
                format!("{:.1}s", s.seconds / s.timed as f64)
            },
        ]);
    }
    render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, agent: &str, phase: &str, secs: i64) -> AgentJob {
        serde_json::from_value(json!({
            "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
            "metadata": {"name": name, "namespace": "team", "creationTimestamp": "2026-11-25T10:00:00Z"},
            "spec": {"agent": agent, "probe": {}},
            "status": {"phase": phase, "startedAt": "2026-11-25T10:00:00Z",
                       "completedAt": format!("2026-11-25T10:00:{secs:02}Z")}
        }))
        .unwrap()
    }

    #[test]
    fn tables_line_up_and_count() {
        let list = vec![
            job("a", "probe", "Succeeded", 4),
            job("b", "probe", "Failed", 2),
        ];
        let t = jobs(&list, None, false, &BTreeMap::new()).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NAME   AGENT   PHASE"), "{t}");
        assert!(lines[1].starts_with("a      probe   Succeeded"), "{t}");
        let reg = Registry {
            image: "r/agent:1".into(),
            max_running: 4,
            limits: [("probe".to_string(), 1)].into(),
            implemented: vec!["probe".into()],
            watch_namespace: None,
        };
        let a = agents(&list, Some(&reg));
        let probe = a.lines().find(|l| l.starts_with("probe")).unwrap();
        assert!(probe.contains("50%") && probe.contains("3.0s"), "{a}");
        let cols: Vec<&str> = probe
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cols[2..4], ["r/agent:1", "1"], "{a}");
        let g = a.lines().find(|l| l.starts_with("generator")).unwrap();
        assert!(g.contains("(not in this build)"), "{a}");
        assert_eq!(
            jobs(&[], None, false, &BTreeMap::new()).unwrap(),
            "No agentjobs found.\n"
        );
        let y = jobs(&list, Some(Output::Yaml), false, &BTreeMap::new()).unwrap();
        assert!(y.contains("kind: List"));
        let d = describe(&list[1], None, &BTreeMap::new()).unwrap();
        assert!(d.contains("Phase:       Failed"), "{d}");
    }
}
