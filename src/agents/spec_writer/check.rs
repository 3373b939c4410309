//! The deterministic spec-kit format checker: what `spec.md`, `plan.md` and `tasks.md` must
//! look like for spec-kit's commands (and people) to use them. spec.md: User Scenarios &
//! Testing with prioritised stories (`(Priority: P1)`, **Why this priority**, **Independent
//! Test**, Given/When/Then scenarios), Edge Cases, Functional Requirements `FR-001…`, Key
//! Entities, Success Criteria `SC-001…`, Assumptions, at most 3 `[NEEDS CLARIFICATION: …]`.
//! plan.md: Summary, Technical Context, Project Structure, phases. tasks.md: `- [ ] T001 [P]
//! [US1] description with a file path` lines, numbered in order, in the phases Setup,
//! Foundational, one per story, Polish, with the dependency order; `[P]` only on tasks of a
//! phase that touch different files; every FR covered by a task that names it.
//!
//! The agent repairs output that fails once through the LLM, then fails the job with
//! [`report`].

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde::Serialize;

/// At most this many `[NEEDS CLARIFICATION: …]` markers in spec.md.
pub const MAX_CLARIFICATIONS: usize = 3;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: &'static str,
    /// 1-based; 0: the file as a whole.
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
}

/// The three documents.
pub struct Docs<'a> {
    pub spec: &'a str,
    pub plan: &'a str,
    pub tasks: &'a str,
}

fn heading(text: &str, level: usize, title: &str) -> Option<usize> {
    let prefix = format!("{} ", "#".repeat(level));
    text.lines().position(|l| {
        l.strip_prefix(&prefix)
            .is_some_and(|h| h.trim().to_lowercase().starts_with(&title.to_lowercase()))
    })
}

/// The lines of the section under the heading at `start` (until a heading of the same or a
/// higher level).
fn section(text: &str, start: usize) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let level = lines[start].chars().take_while(|c| *c == '#').count();
    lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .take_while(|(_, l)| {
            let n = l.chars().take_while(|c| *c == '#').count();
            n == 0 || n > level || !l[n..].starts_with(' ')
        })
        .map(|(i, l)| (i + 1, *l))
        .collect()
}

/// The user stories of spec.md: number → (line, priority).
pub fn stories(spec: &str) -> BTreeMap<u32, (usize, String)> {
    let re = Regex::new(r"^### User Story (\d+)\b.*\(Priority: (P\d+)\)").expect("a valid pattern");
    spec.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let c = re.captures(l)?;
            Some((c[1].parse().ok()?, (i + 1, c[2].to_string())))
        })
        .collect()
}

/// The numbered items `- **PREFIX-001**: …` of a text: id → line.
fn numbered(text: &str, prefix: &str) -> (BTreeMap<String, usize>, Vec<Finding>) {
    let re =
        Regex::new(&format!(r"^\s*- \*\*({prefix}-(\d{{3}}))\*\*:\s*\S")).expect("a valid pattern");
    let mut ids = BTreeMap::new();
    let mut findings = Vec::new();
    let mut expect = 1;
    for (i, l) in text.lines().enumerate() {
        let Some(c) = re.captures(l) else { continue };
        let n: usize = c[2].parse().unwrap_or(0);
        if n != expect {
            findings.push(Finding {
                file: "spec.md",
                line: i + 1,
                rule: "numbering",
                message: format!("{} where {prefix}-{expect:03} comes next", &c[1]),
            });
        }
        expect = n + 1;
        ids.insert(c[1].to_string(), i + 1);
    }
    (ids, findings)
}

fn check_spec(spec: &str, out: &mut Vec<Finding>) -> BTreeMap<String, usize> {
    let mut f = |line: usize, rule: &'static str, message: String| {
        out.push(Finding {
            file: "spec.md",
            line,
            rule,
            message,
        })
    };
    for (level, title) in [
        (2, "User Scenarios & Testing"),
        (3, "Edge Cases"),
        (2, "Requirements"),
        (3, "Functional Requirements"),
        (3, "Key Entities"),
        (2, "Success Criteria"),
        (2, "Assumptions"),
    ] {
        if heading(spec, level, title).is_none() {
            f(
                0,
                "section",
                format!("no \"{} {title}\" section", "#".repeat(level)),
            );
        }
    }
    let stories = stories(spec);
    if stories.is_empty() {
        f(
            0,
            "story",
            "no user story (`### User Story 1 - Title (Priority: P1)`)".into(),
        );
    }
    for (n, (line, _)) in &stories {
        let body: Vec<&str> = section(spec, line - 1)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let has = |s: &str| body.iter().any(|l| l.contains(s));
        if !has("**Why this priority**") {
            f(
                *line,
                "story",
                format!("User Story {n} has no **Why this priority**"),
            );
        }
        if !has("**Independent Test**") {
            f(
                *line,
                "story",
                format!("User Story {n} has no **Independent Test**"),
            );
        }
        if !body
            .iter()
            .any(|l| l.contains("**Given**") && l.contains("**When**") && l.contains("**Then**"))
        {
            f(
                *line,
                "story",
                format!(
                    "User Story {n} has no **Given** … **When** … **Then** acceptance scenario"
                ),
            );
        }
    }
    if let Some(i) = heading(spec, 3, "Edge Cases")
        && !section(spec, i)
            .iter()
            .any(|(_, l)| l.trim_start().starts_with("- "))
    {
        f(i + 1, "section", "Edge Cases lists no case".into());
    }
    let (frs, mut problems) = numbered(spec, "FR");
    if frs.is_empty() {
        f(
            0,
            "requirement",
            "no functional requirement (`- **FR-001**: System MUST …`)".into(),
        );
    }
    let (scs, p2) = numbered(spec, "SC");
    problems.extend(p2);
    if scs.is_empty() {
        f(
            0,
            "criterion",
            "no success criterion (`- **SC-001**: …`)".into(),
        );
    }
    let marks: Vec<usize> = spec
        .lines()
        .enumerate()
        .flat_map(|(i, l)| std::iter::repeat_n(i + 1, l.matches("[NEEDS CLARIFICATION:").count()))
        .collect();
    if marks.len() > MAX_CLARIFICATIONS {
        f(
            marks[MAX_CLARIFICATIONS],
            "clarification",
            format!(
                "{} [NEEDS CLARIFICATION] markers, at most {MAX_CLARIFICATIONS}",
                marks.len()
            ),
        );
    }
    out.extend(problems);
    frs
}

fn check_plan(plan: &str, out: &mut Vec<Finding>) {
    for title in ["Summary", "Technical Context", "Project Structure"] {
        if heading(plan, 2, title).is_none() {
            out.push(Finding {
                file: "plan.md",
                line: 0,
                rule: "section",
                message: format!("no \"## {title}\" section"),
            });
        }
    }
    if !plan
        .lines()
        .any(|l| l.starts_with("## Phase") || l.starts_with("### Phase"))
    {
        out.push(Finding {
            file: "plan.md",
            line: 0,
            rule: "phase",
            message: "no phase (`## Phase 0: …`)".into(),
        });
    }
}

/// A task line of tasks.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: String,
    pub line: usize,
    pub parallel: bool,
    pub story: Option<u32>,
    pub description: String,
    /// The phase heading it is under.
    pub phase: String,
    /// Repository paths it names.
    pub files: Vec<String>,
}

/// The tasks of tasks.md.
pub fn tasks(text: &str) -> Vec<Task> {
    let re = Regex::new(r"^- \[[ xX]\] (T\d{3})( \[P\])?( \[US(\d+)\])? (.+)$")
        .expect("a valid pattern");
    let path =
        Regex::new(r"`?([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+|[A-Za-z0-9_-]+\.[A-Za-z]{1,5})`?")
            .expect("a valid pattern");
    let mut phase = String::new();
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if let Some(h) = l.strip_prefix("## ") {
            phase = h.trim().to_string();
            continue;
        }
        let Some(c) = re.captures(l.trim_end()) else {
            continue;
        };
        let description = c[5].to_string();
        let files = path
            .captures_iter(&description)
            .map(|m| m[1].trim_end_matches('.').to_string())
            .filter(|p| !p.starts_with("FR-") && !p.starts_with("SC-"))
            .collect();
        out.push(Task {
            id: c[1].to_string(),
            line: i + 1,
            parallel: c.get(2).is_some(),
            story: c.get(4).and_then(|s| s.as_str().parse().ok()),
            description,
            phase: phase.clone(),
            files,
        });
    }
    out
}

fn check_tasks(
    text: &str,
    frs: &BTreeMap<String, usize>,
    stories: &BTreeSet<u32>,
    out: &mut Vec<Finding>,
) {
    let mut f = |line: usize, rule: &'static str, message: String| {
        out.push(Finding {
            file: "tasks.md",
            line,
            rule,
            message,
        })
    };
    let all = tasks(text);
    if all.is_empty() {
        f(
            0,
            "task",
            "no task (`- [ ] T001 [P] [US1] Create …  in path/to/file`)".into(),
        );
    }
    // Lines that look like tasks but are not in the format.
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if (t.starts_with("- [ ]") || t.starts_with("- [x]"))
            && !all.iter().any(|x| x.line == i + 1)
        {
            f(i + 1, "task", format!("not a task line: {t:?}"));
        }
    }
    for (n, t) in all.iter().enumerate() {
        let want = format!("T{:03}", n + 1);
        if t.id != want {
            f(
                t.line,
                "numbering",
                format!("{} where {want} comes next", t.id),
            );
        }
        if t.files.is_empty() {
            f(t.line, "task", format!("{} names no file path", t.id));
        }
        if let Some(s) = t.story
            && !stories.contains(&s)
        {
            f(
                t.line,
                "story",
                format!("{} is for US{s}, which spec.md does not have", t.id),
            );
        }
        if let Some(s) = t.story
            && !t.phase.to_lowercase().contains(&format!("user story {s}"))
        {
            f(
                t.line,
                "phase",
                format!("{} [US{s}] is not in the phase of User Story {s}", t.id),
            );
        }
    }
    let phases: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("## Phase"))
        .map(|h| h.to_lowercase())
        .collect();
    for want in ["setup", "foundational", "polish"] {
        if !phases.iter().any(|p| p.contains(want)) {
            f(
                0,
                "phase",
                format!("no {want} phase (`## Phase N: {want}`)"),
            );
        }
    }
    for s in stories {
        if !phases
            .iter()
            .any(|p| p.contains(&format!("user story {s}")))
        {
            f(0, "phase", format!("no phase for User Story {s}"));
        }
    }
    if !text
        .lines()
        .any(|l| l.starts_with("## ") && l.to_lowercase().contains("dependenc"))
    {
        f(
            0,
            "dependencies",
            "no dependency order (`## Dependencies & Execution Order`)".into(),
        );
    }
    // [P]: tasks of a phase that may run together touch different files.
    let mut by_phase: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
    for t in all.iter().filter(|t| t.parallel) {
        by_phase.entry(t.phase.as_str()).or_default().push(t);
    }
    for ts in by_phase.values() {
        for (i, a) in ts.iter().enumerate() {
            for b in &ts[i + 1..] {
                if let Some(shared) = a.files.iter().find(|p| b.files.contains(p)) {
                    f(
                        b.line,
                        "parallel",
                        format!("{} and {} are [P] but both touch {shared}", a.id, b.id),
                    );
                }
            }
        }
    }
    for (fr, line) in frs {
        if !all.iter().any(|t| t.description.contains(fr.as_str())) {
            out.push(Finding {
                file: "spec.md",
                line: *line,
                rule: "coverage",
                message: format!("{fr} is covered by no task (name it in one)"),
            });
        }
    }
}

/// The dependency order of the tasks, as spec-kit's phases give it: a task depends on every
/// task of the phase before its own, and a task without `[P]` also on the task before it in
/// its phase. (task id, the ids it depends on), in order.
pub fn dependencies(tasks: &[Task]) -> Vec<(String, Vec<String>)> {
    let mut phases: Vec<(&str, Vec<&Task>)> = Vec::new();
    for t in tasks {
        match phases.last_mut() {
            Some((p, ts)) if *p == t.phase => ts.push(t),
            _ => phases.push((t.phase.as_str(), vec![t])),
        }
    }
    let mut out = Vec::new();
    for (i, (_, ts)) in phases.iter().enumerate() {
        let before: Vec<String> = if i == 0 {
            Vec::new()
        } else {
            phases[i - 1].1.iter().map(|t| t.id.clone()).collect()
        };
        for (j, t) in ts.iter().enumerate() {
            let mut deps = before.clone();
            if !t.parallel && j > 0 {
                deps.push(ts[j - 1].id.clone());
            }
            out.push((t.id.clone(), deps));
        }
    }
    out
}

/// Everything wrong with the three documents (empty: they pass).
pub fn check(d: &Docs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let frs = check_spec(d.spec, &mut out);
    check_plan(d.plan, &mut out);
    let stories: BTreeSet<u32> = stories(d.spec).keys().copied().collect();
    check_tasks(d.tasks, &frs, &stories, &mut out);
    out
}

/// The checker's report, one finding per line (`spec.md:12: [story] …`).
pub fn report(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{}:{}: [{}] {}", f.file, f.line, f.rule, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}
