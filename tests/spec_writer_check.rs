//! spec-writer's deterministic parts (issue 20): the spec-kit format checker — a well-formed
//! spec, plan and tasks pass, and each rule finds what breaks it, naming file, line and rule —
//! and the repository facts a spec is grounded in, with the conflicts of a proposal.

use devagents::agents::spec_writer::check::{Docs, check, dependencies, report, tasks};
use devagents::agents::spec_writer::ground::{facts, feasibility, outside_layout};
use devagents::testing::spec_cases::{PLAN, SPEC, TASKS};

fn rules(spec: &str, plan: &str, tasks: &str) -> Vec<(&'static str, &'static str, usize)> {
    check(&Docs { spec, plan, tasks })
        .into_iter()
        .map(|f| (f.file, f.rule, f.line))
        .collect()
}

#[test]
fn a_well_formed_spec_plan_and_tasks_pass() {
    assert_eq!(rules(SPEC, PLAN, TASKS), vec![]);
    let t = tasks(TASKS);
    assert_eq!(t.len(), 6);
    assert!(t[2].parallel && t[2].story == Some(1));
    assert_eq!(
        t[2].files,
        ["rpc/internal/logic/department/get_department_list_logic.go"]
    );
}

#[test]
fn each_rule_finds_what_breaks_it() {
    let cases: Vec<(String, String, String, (&str, &str))> = vec![
        (SPEC.replace("**Why this priority**: everything else builds on it.\n", ""), PLAN.into(), TASKS.into(), ("spec.md", "story")),
        (SPEC.replace("(Priority: P1)", ""), PLAN.into(), TASKS.into(), ("tasks.md", "story")),
        (SPEC.replace("### Edge Cases", "### Corner Cases"), PLAN.into(), TASKS.into(), ("spec.md", "section")),
        (SPEC.replace("FR-002", "FR-003"), PLAN.into(), TASKS.replace("FR-002", "FR-003"), ("spec.md", "numbering")),
        (SPEC.replace("- **SC-001**", "- SC-001"), PLAN.into(), TASKS.into(), ("spec.md", "criterion")),
        (SPEC.replace("Departments already exist.", "[NEEDS CLARIFICATION: a] [NEEDS CLARIFICATION: b] [NEEDS CLARIFICATION: c] [NEEDS CLARIFICATION: d]"), PLAN.into(), TASKS.into(), ("spec.md", "clarification")),
        (SPEC.into(), PLAN.replace("## Technical Context", "## Context"), TASKS.into(), ("plan.md", "section")),
        (SPEC.into(), PLAN.into(), TASKS.replace("T002", "T007"), ("tasks.md", "numbering")),
        (SPEC.into(), PLAN.into(), TASKS.replace(" (FR-002)", ""), ("spec.md", "coverage")),
        (SPEC.into(), PLAN.into(), TASKS.replace("api/desc/core/department.api", "rpc/internal/logic/department/get_department_list_logic.go"), ("tasks.md", "parallel")),
        (SPEC.into(), PLAN.into(), TASKS.replace("## Phase 5: Polish", "## Phase 5: Finish"), ("tasks.md", "phase")),
        (SPEC.into(), PLAN.into(), TASKS.replace("## Dependencies & Execution Order", "## Order"), ("tasks.md", "dependencies")),
        (SPEC.into(), PLAN.into(), TASKS.replace("- [ ] T006 [P] Document", "- [ ] Document"), ("tasks.md", "task")),
        (SPEC.into(), PLAN.into(), TASKS.replace("Add parent_id to rpc/ent/schema/department.go", "Add a parent"), ("tasks.md", "task")),
        (SPEC.into(), PLAN.into(), TASKS.replace("T005 [US2]", "T005 [US1]"), ("tasks.md", "phase")),
    ];
    for (spec, plan, tasks, (file, rule)) in cases {
        let got = rules(&spec, &plan, &tasks);
        assert!(
            got.iter().any(|(f, r, _)| *f == file && *r == rule),
            "want {file} [{rule}], got {got:?}"
        );
    }
}

#[test]
fn the_report_names_file_line_and_rule() {
    let f = check(&Docs {
        spec: SPEC,
        plan: PLAN,
        tasks: &TASKS.replace(" (FR-002)", ""),
    });
    assert_eq!(
        report(&f),
        "spec.md:34: [coverage] FR-002 is covered by no task (name it in one)"
    );
}

#[test]
fn the_fixture_repositorys_facts_and_a_conflicting_proposal() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in devagents::testing::docsync_cases::repository() {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let f = facts(dir.path());
    assert_eq!(
        f.entities,
        vec![(
            "Department".to_string(),
            "rpc/ent/schema/department.go".to_string()
        )]
    );
    assert!(
        f.routes.iter().any(|(r, _)| r == "POST /department/create"),
        "{:?}",
        f.routes
    );
    assert!(
        f.rpcs.contains(&"Core.createDepartment".to_string()),
        "{:?}",
        f.rpcs
    );
    assert!(f.make_targets.contains(&"gen-api".to_string()));
    assert!(f.layout.contains(&"rpc/".to_string()) && f.layout.contains(&"Makefile".to_string()));
    assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
    let x = feasibility(
        &f,
        &["Department".into(), "Position".into()],
        &[
            "post /department/create".into(),
            "POST /position/create".into(),
        ],
    );
    assert_eq!(x.conflicts.len(), 2, "{:?}", x.conflicts);
    assert!(
        x.conflicts[0].contains("entity Department already exists (rpc/ent/schema/department.go)")
    );
    assert!(x.conflicts[1].contains("route post /department/create is taken"));
    assert!(
        x.touches
            .contains(&"rpc/ent/schema/position.go".to_string())
    );
    assert!(
        x.commands.contains(&"make gen-api".to_string()),
        "{:?}",
        x.commands
    );
    // The plan's Project Structure stays inside the repository's layout (specs/ is the
    // documents' own).
    assert_eq!(outside_layout(PLAN, &f), vec![]);
    let invented = PLAN.replace(
        "rpc/ent/schema/department.go",
        "services/tree/main.go\nspecs/001-department-tree/plan.md\nrpc/ent/schema/department.go",
    );
    assert_eq!(
        outside_layout(&invented, &f),
        vec![(14, "services/tree/main.go".to_string())]
    );
}

#[test]
fn tasks_depend_on_the_phase_before_and_on_the_task_before_unless_parallel() {
    let d = dependencies(&tasks(TASKS));
    let of = |id: &str| d.iter().find(|(t, _)| t == id).unwrap().1.clone();
    assert_eq!(of("T001"), Vec::<String>::new());
    assert_eq!(of("T002"), ["T001"]);
    // [P] tasks of a phase depend only on the phase before.
    assert_eq!(of("T003"), ["T002"]);
    assert_eq!(of("T004"), ["T002"]);
    assert_eq!(of("T005"), ["T003", "T004"]);
    assert_eq!(of("T006"), ["T005"]);
}
