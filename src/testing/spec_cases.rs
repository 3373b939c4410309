//! spec-writer's fixtures: a spec.md, plan.md and tasks.md that pass the spec-kit format
//! checker (tests break them one rule at a time), and the LLM test double's answers built
//! from them.

pub const SPEC: &str = "# Feature Specification: Department tree\n\n## User Scenarios & Testing *(mandatory)*\n\n### User Story 1 - Browse the tree (Priority: P1)\n\nAn admin sees departments as a tree.\n\n**Why this priority**: everything else builds on it.\n\n**Independent Test**: list the tree of a seeded company.\n\n**Acceptance Scenarios**:\n\n1. **Given** nested departments, **When** the admin opens the list, **Then** children show under their parent.\n\n### User Story 2 - Move a department (Priority: P2)\n\n**Why this priority**: reorganisations happen.\n\n**Independent Test**: move one department and list again.\n\n1. **Given** a department, **When** it gets a new parent, **Then** the tree shows it there.\n\n### Edge Cases\n\n- A department cannot be its own ancestor.\n\n## Requirements *(mandatory)*\n\n### Functional Requirements\n\n- **FR-001**: System MUST return departments with their parent id.\n- **FR-002**: System MUST refuse a move that makes a cycle.\n\n### Key Entities\n\n- **Department**: name, parent.\n\n## Success Criteria *(mandatory)*\n\n- **SC-001**: The tree of 1,000 departments loads in under a second.\n\n## Assumptions\n\n- Departments already exist.\n";

pub const PLAN: &str = "# Implementation Plan: Department tree\n\n## Summary\n\nA parent id.\n\n## Technical Context\n\nGo 1.22, go-zero, Ent.\n\n## Project Structure\n\n```\nrpc/ent/schema/department.go\n```\n\n## Phase 0: Research\n\n## Phase 1: Design\n";

pub const TASKS: &str = "# Tasks: Department tree\n\n## Phase 1: Setup\n\n- [ ] T001 Add parent_id to rpc/ent/schema/department.go\n\n## Phase 2: Foundational\n\n- [ ] T002 Run make gen-ent and commit rpc/ent\n\n## Phase 3: User Story 1 - Browse the tree (P1)\n\n- [ ] T003 [P] [US1] Return the parent id in rpc/internal/logic/department/get_department_list_logic.go (FR-001)\n- [ ] T004 [P] [US1] Add parentId to api/desc/core/department.api (FR-001)\n\n## Phase 4: User Story 2 - Move a department (P2)\n\n- [ ] T005 [US2] Refuse cycles in rpc/internal/logic/department/update_department_logic.go (FR-002)\n\n## Phase 5: Polish\n\n- [ ] T006 [P] Document the tree in CLAUDE.md\n\n## Dependencies & Execution Order\n\nSetup, then Foundational, then the stories in priority order.\n";

/// The LLM's answer (spec-writer's structured output) with these documents, the entities and
/// routes proposed, and the agent tasks.
pub fn answer(spec: &str, plan: &str, tasks: &str) -> String {
    serde_json::json!({
        "spec": spec, "plan": plan, "tasks": tasks,
        "new_entities": ["Department", "Position"],
        "new_routes": ["POST /department/create", "POST /department/tree"],
        "agent_tasks": [
            {"task": "T001", "agent": "migrator", "params": {"name": "department_parent"}},
            {"task": "T003", "agent": "generator", "params": {
                "entity": "Position", "description": "positions in a department",
                "fields": [{"name": "name", "type": "string"}]}},
            {"task": "T006", "agent": "test-gen", "params": {"packages": ["rpc/internal/logic/department"]}}
        ]
    })
    .to_string()
}
