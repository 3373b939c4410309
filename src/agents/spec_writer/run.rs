//! spec-writer's run: clone, read what the repository has ([`ground`]), ask the LLM (through
//! the gateway) for spec.md, plan.md and tasks.md in spec-kit's structure, grounded in those
//! facts and the answers given, add the plan's Feasibility section from the repository itself
//! (conflicts of the proposal, the real files and commands the work touches), check the three
//! with [`check`] — output that fails gets one repair round with the checker's report, then
//! fails the job with it — turn the tasks an agent can do into ready-to-apply AgentJobs (an
//! artifact, each checked by the admission rules), and push a branch with a pull request.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::check::{self, Docs, Finding};
use super::ground::{self, Facts, Feasibility};
use crate::api::{AgentJob, AgentJobSpec, Repository, SpecWriterParams};
use crate::llm::gateway::CompletionRequest;
use crate::services::git::{AllowedPaths, Credentials, Identity, Workspace, WorkspaceOptions};

pub use crate::agents::Host;
pub use crate::agents::step::RunFailure as Failure;
use crate::agents::step::{fail, reported as report};

/// Limits: bytes of each document, agent tasks turned into jobs.
pub const MAX_DOC_BYTES: usize = 128 * 1024;
pub const MAX_AGENT_TASKS: usize = 20;
/// The artifact with the AgentJobs of the tasks.
pub const AGENTJOBS_ARTIFACT: &str = "agentjobs";

pub struct Setup {
    /// The Notion client (the job's Notion Secret's token), when `specWriter.notion` is set.
    pub notion: Option<crate::services::notion::Notion>,
    pub workdir: PathBuf,
    pub github_api: String,
    pub credentials: Option<Credentials>,
    pub short_id: String,
    pub publish: bool,
    /// Namespace of the job (the AgentJobs of the tasks go there).
    pub namespace: String,
}

/// A task an agent can do, as the LLM proposes it.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
pub struct AgentTask {
    /// The task's id in tasks.md (`T004`).
    pub task: String,
    /// `generator` (a new entity), `migrator` (a schema change) or `test-gen` (tests).
    pub agent: String,
    /// The agent's parameter block as the AgentJob API has it (`generator`: `{entity,
    /// description, fields}`; `migrator`: `{name}`; `testGen`: `{packages}`).
    pub params: serde_json::Value,
}

/// The LLM's clarifying questions (spec-kit's clarify step).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Clarify {
    /// At most 5; none when the requirements are clear enough.
    pub questions: Vec<crate::api::SpecQuestion>,
}

/// How often the agent asks the operator for the answers while people answer.
pub const ANSWER_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// What the LLM answers.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpecAnswer {
    /// spec.md, complete.
    pub spec: String,
    /// plan.md, complete.
    pub plan: String,
    /// tasks.md, complete.
    pub tasks: String,
    /// Entities the feature creates (PascalCase), for the feasibility check.
    #[serde(default)]
    pub new_entities: Vec<String>,
    /// Routes the feature adds (`POST /department/tree`).
    #[serde(default)]
    pub new_routes: Vec<String>,
    /// Tasks an agent can do.
    #[serde(default)]
    pub agent_tasks: Vec<AgentTask>,
}

#[derive(Clone, Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub summary: String,
    pub directory: String,
    pub files: Vec<String>,
    pub feasibility: Feasibility,
    /// Rounds the LLM needed (2: the first output was repaired).
    pub rounds: u32,
    /// The checker's findings of the first round (empty: it passed at once).
    pub repaired: Vec<Finding>,
    pub stories: usize,
    pub requirements: usize,
    pub tasks: usize,
    /// `T004 → generator` …
    pub agent_jobs: Vec<String>,
    pub branch: String,
    pub commit: String,
    pub pull_request: Option<u64>,
    pub pull_request_url: Option<String>,
    /// The spec's Notion page and the task rows (task id → row id).
    pub notion_page: Option<String>,
    pub notion_page_url: Option<String>,
    pub notion_rows: Vec<(String, String)>,
    /// The result's artifacts (the AgentJobs of the tasks).
    #[serde(skip)]
    pub artifacts: Vec<crate::api::ArtifactRef>,
}

const SYSTEM: &str = "You write feature specifications in GitHub spec-kit's format for Go services built on Simple Admin Core (go-zero + Ent). Ground everything in the repository facts you are given: reuse existing entities and routes, name the real files and make targets. Never invent files outside the repository's layout.";

/// The format rules, as the checker enforces them.
pub const FORMAT: &str = "spec.md: '## User Scenarios & Testing' with stories '### User Story N - Title (Priority: PN)', each with '**Why this priority**:', '**Independent Test**:' and acceptance scenarios '1. **Given** …, **When** …, **Then** …'; '### Edge Cases' with bullets; '## Requirements' with '### Functional Requirements' as '- **FR-001**: System MUST …' (numbered from 001) and '### Key Entities'; '## Success Criteria' as '- **SC-001**: …'; '## Assumptions'; at most 3 '[NEEDS CLARIFICATION: …]'. plan.md: '## Summary', '## Technical Context', '## Project Structure' (the repository's real layout), phases '## Phase 0: …'. tasks.md: phases '## Phase 1: Setup', '## Phase 2: Foundational', '## Phase N: User Story K - …' per story, '## Phase N: Polish', then '## Dependencies & Execution Order'; tasks '- [ ] T001 [P] [US1] description with a file path (FR-001)', numbered from T001 in order, [P] only on tasks of a phase that touch different files, [USk] only in story k's phase, every FR named by at least one task.";

/// The next spec number of `specs/` (`001` when there is none).
fn next_number(root: &std::path::Path) -> u32 {
    std::fs::read_dir(root.join("specs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .split('-')
                .next()
                .and_then(|n| n.parse::<u32>().ok())
        })
        .max()
        .map_or(1, |n| n + 1)
}

fn facts_text(f: &Facts) -> String {
    format!(
        "Repository facts:\n- Ent entities: {}\n- HTTP routes: {}\n- RPC methods: {}\n- Makefile targets: {}\n- Top-level layout: {}\n",
        f.entities
            .iter()
            .map(|(e, p)| format!("{e} ({p})"))
            .collect::<Vec<_>>()
            .join(", "),
        f.routes
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        f.rpcs.join(", "),
        f.make_targets.join(", "),
        f.layout.join(", ")
    )
}

/// plan.md with its Feasibility section (replacing one the LLM wrote).
pub fn with_feasibility(plan: &str, x: &Feasibility) -> String {
    let mut out: String = match plan.find("\n## Feasibility") {
        Some(i) => {
            let rest = &plan[i + 1..];
            let end = rest[3..].find("\n## ").map(|j| i + 1 + 3 + j + 1);
            match end {
                Some(e) => format!("{}{}", &plan[..i + 1], &plan[e..]),
                None => plan[..i + 1].to_string(),
            }
        }
        None => plan.to_string(),
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("\n## Feasibility\n\n");
    if x.conflicts.is_empty() {
        out.push_str("No conflict with what the repository has.\n");
    } else {
        out.push_str("Conflicts with what the repository has:\n\n");
        for c in &x.conflicts {
            out.push_str(&format!("- **Conflict**: {c}\n"));
        }
    }
    if !x.touches.is_empty() {
        out.push_str("\nFiles the work touches:\n\n");
        for t in &x.touches {
            out.push_str(&format!("- `{t}`\n"));
        }
    }
    if !x.commands.is_empty() {
        out.push_str("\nCommands it runs:\n\n");
        for c in &x.commands {
            out.push_str(&format!("- `{c}`\n"));
        }
    }
    out
}

/// The AgentJobs of the agent tasks, as one YAML stream; each checked by the admission rules.
pub fn agent_jobs(
    tasks: &[AgentTask],
    repo: &Repository,
    namespace: &str,
    feature: &str,
) -> Result<(String, Vec<String>), String> {
    let hooks = crate::agents::operator_side(Default::default());
    let mut docs = Vec::new();
    let mut names = Vec::new();
    for t in tasks.iter().take(MAX_AGENT_TASKS) {
        let block = match t.agent.as_str() {
            "generator" => "generator",
            "migrator" => "migrator",
            "test-gen" => "testGen",
            other => return Err(format!("{}: no agent {other:?} for tasks", t.task)),
        };
        let spec: AgentJobSpec = serde_json::from_value(serde_json::json!({
            "agent": t.agent,
            "repository": repo,
            block: t.params,
        }))
        .map_err(|e| format!("{} ({}): {e}", t.task, t.agent))?;
        crate::agentapi::webhook::check_job_spec(&spec, &hooks)
            .map_err(|e| format!("{} ({}): {e}", t.task, t.agent))?;
        let name = crate::contract::bounded_name(
            &format!("{feature}-{}", t.task.to_ascii_lowercase()),
            "",
            63,
        );
        let mut job = AgentJob::new(&name, spec);
        job.metadata.namespace = Some(namespace.to_string());
        docs.push(serde_yaml::to_string(&job).map_err(|e| e.to_string())?);
        names.push(format!("{} → {}", t.task, t.agent));
    }
    Ok((docs.join("---\n"), names))
}

async fn ask<H: Host + ?Sized>(host: &H, prompt: &str) -> Result<SpecAnswer, Failure> {
    crate::llm::structured::complete_typed::<SpecAnswer, _, _>(prompt, |p: String| async move {
        let req = CompletionRequest::user(SYSTEM, p, 16_000);
        match host.llm(&req).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(skipped)) => Err(format!("skipped: {skipped}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| match e {
        crate::llm::structured::StructuredError::Call(m) if m.starts_with("skipped:") => fail(
            "spec-writer: writes its documents with the LLM, and no provider is configured (the operator's --llm-provider)",
        ),
        other => fail(format!("spec-writer: no usable answer from the LLM: {other}")),
    })
}

/// The whole run.
pub async fn run<H: Host + ?Sized>(
    host: &H,
    repo: &Repository,
    p: &SpecWriterParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    if p.notion.is_some() && setup.notion.is_none() {
        return Err(fail(
            "spec-writer: specWriter.notion is set but there is no Notion token (the Secret's key `token`)",
        ));
    }
    let opts = WorkspaceOptions {
        base_branch: repo.base_branch.clone(),
        allowed_paths: AllowedPaths::new(&repo.allowed_paths).map_err(|e| fail(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("spec-writer"),
    };
    let branch = format!("agents/spec-writer/{}-{}", p.feature, setup.short_id);
    let root = setup.workdir.join("repo");
    let (url, dir, o2, b2) = (repo.url.clone(), root.clone(), opts.clone(), branch.clone());
    tokio::task::spawn_blocking(move || {
        let ws = Workspace::clone(&url, &dir, o2)?;
        ws.create_branch(&b2)
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(|e| fail(format!("spec-writer: {e}")))?;
    let facts = ground::facts(&root);
    let directory = p
        .output_dir
        .clone()
        .unwrap_or_else(|| format!("specs/{:03}-{}", next_number(&root), p.feature));
    report(
        host.progress(&format!(
            "{} entities, {} routes, {} RPCs in the repository; writing {directory}",
            facts.entities.len(),
            facts.routes.len(),
            facts.rpcs.len()
        ))
        .await,
    )?;
    // Clarifying questions, when no answers came with the job and people can be asked (the
    // agent API is there): asked through the operator, answered with `kubectl agent answer`.
    let mut given = p.answers.clone();
    if given.is_empty() && host.agent_api() {
        given = clarify(host, p, &facts).await?;
    }
    let answers: String = given
        .iter()
        .map(|a| format!("Q: {}\nA: {}\n", a.question, a.answer))
        .collect();
    let base_prompt = format!(
        "Feature: {}\n\nRequirements as the user wrote them:\n{}\n\n{}{}\n{}\n\nFormat rules (checked by a program):\n{FORMAT}\n\nAlso list the entities and routes the feature adds, and the tasks an agent can do: a new entity → generator with its fields, a schema change → migrator, tests → test-gen.",
        p.feature,
        p.requirements,
        if answers.is_empty() {
            String::new()
        } else {
            format!("Clarifications:\n{answers}\n")
        },
        facts_text(&facts),
        if facts.unreadable.is_empty() {
            String::new()
        } else {
            format!("Files that did not parse: {}", facts.unreadable.join("; "))
        }
    );
    let mut out = Outcome {
        directory: directory.clone(),
        branch: branch.clone(),
        rounds: 1,
        ..Outcome::default()
    };
    let mut a = ask(host, &base_prompt).await?;
    let mut findings = findings_of(&a, &facts);
    if !findings.is_empty() {
        out.repaired = findings.clone();
        out.rounds = 2;
        report(
            host.progress(&format!(
                "{} format findings; one repair round",
                findings.len()
            ))
            .await,
        )?;
        let repair = format!(
            "{base_prompt}\n\nYour previous spec.md, plan.md and tasks.md fail the format checker:\n{}\n\nPrevious spec.md:\n{}\n\nPrevious plan.md:\n{}\n\nPrevious tasks.md:\n{}\n\nAnswer again with all three corrected.",
            check::report(&findings),
            a.spec,
            a.plan,
            a.tasks
        );
        a = ask(host, &repair).await?;
        findings = findings_of(&a, &facts);
        if !findings.is_empty() {
            return Err(fail(format!(
                "spec-writer: the documents fail the spec-kit format check after a repair round:\n{}",
                check::report(&findings)
            )));
        }
    }
    out.feasibility = ground::feasibility(&facts, &a.new_entities, &a.new_routes);
    let plan = with_feasibility(&a.plan, &out.feasibility);
    out.stories = check::stories(&a.spec).len();
    out.requirements = a.spec.matches("- **FR-").count();
    out.tasks = check::tasks(&a.tasks).len();
    // The AgentJobs of the tasks an agent can do.
    let (yaml, names) =
        agent_jobs(&a.agent_tasks, repo, &setup.namespace, &p.feature).map_err(|e| {
            fail(format!(
                "spec-writer: an agent task is not a valid AgentJob: {e}"
            ))
        })?;
    out.agent_jobs = names;
    // Files.
    for (name, text) in [
        ("spec.md", &a.spec),
        ("plan.md", &plan),
        ("tasks.md", &a.tasks),
    ] {
        let rel = format!("{directory}/{name}");
        let path = root.join(&rel);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| fail(format!("{rel}: {e}")))?;
        }
        std::fs::write(&path, text.as_bytes()).map_err(|e| fail(format!("{rel}: {e}")))?;
        out.files.push(rel);
    }
    if !yaml.is_empty() {
        out.artifacts.push(
            host.artifact(AGENTJOBS_ARTIFACT, yaml.as_bytes())
                .await
                .map_err(|e| Failure {
                    message: format!("spec-writer: {e}"),
                    transient: true,
                })?,
        );
    }
    let title = format!("docs(spec): {} (devagents spec-writer)", p.feature);
    let commit = crate::agents::step::commit_and_push(
        "spec-writer",
        &root,
        &opts,
        &title,
        &branch,
        setup.publish,
    )
    .await?;
    out.commit = commit.clone();
    out.summary = format!(
        "{directory}: {} stories, {} requirements, {} tasks ({} for agents), {} conflicts{}",
        out.stories,
        out.requirements,
        out.tasks,
        out.agent_jobs.len(),
        out.feasibility.conflicts.len(),
        if out.rounds > 1 {
            "; repaired once"
        } else {
            ""
        }
    );
    // Notion first, so that the pull request links its pages.
    if setup.publish
        && let (Some(cfg), Some(notion)) = (&p.notion, &setup.notion)
    {
        notion_tasks(host, notion, cfg, &p.feature, &a, &mut out).await?;
    }
    let body = pr_body(&out);
    let b = crate::agents::step::Branch {
        agent: "spec-writer",
        repo,
        github_api: &setup.github_api,
        credentials: setup.credentials.as_ref(),
        publish: setup.publish,
        title: &title,
        branch: &branch,
        commit: &commit,
    };
    if let Some(pr) = crate::agents::step::propose(host, &b, &body, &mut out.summary).await? {
        out.pull_request = Some(pr.number);
        out.pull_request_url = Some(pr.html_url);
    }
    Ok(out)
}

/// The spec's page under the configured parent, then the tasks as rows of the database in
/// order, each with its dependencies as relations to the rows before and the spec page's URL.
async fn notion_tasks<H: Host + ?Sized>(
    host: &H,
    notion: &crate::services::notion::Notion,
    cfg: &crate::api::SpecNotion,
    feature: &str,
    a: &SpecAnswer,
    out: &mut Outcome,
) -> Result<(), Failure> {
    use crate::services::notion::{bullet, heading, paragraph, property_text, title_property};
    let nf = |e: crate::services::notion::NotionError| Failure {
        message: format!("spec-writer: pushed and opened the pull request, but Notion: {e}"),
        transient: true,
    };
    let mut blocks = vec![paragraph(&format!(
        "Specification of {feature}: {} on the branch {}.",
        out.directory, out.branch
    ))];
    blocks.push(heading(2, "User stories"));
    for l in a.spec.lines().filter(|l| l.starts_with("### User Story")) {
        blocks.push(bullet(l.trim_start_matches("### ")));
    }
    blocks.push(heading(2, "Functional requirements"));
    for l in a
        .spec
        .lines()
        .filter(|l| l.trim_start().starts_with("- **FR-"))
    {
        blocks.push(bullet(&l.trim_start()[2..].replace("**", "")));
    }
    let page = notion
        .create_page(&cfg.parent_page_id, &format!("Spec: {feature}"), &blocks)
        .await
        .map_err(nf)?;
    let spec_url = page.url.clone();
    out.notion_page = Some(page.id.clone());
    out.notion_page_url = Some(spec_url.clone());
    let tasks = check::tasks(&a.tasks);
    let mut ids: std::collections::BTreeMap<String, String> = Default::default();
    for (id, deps) in check::dependencies(&tasks) {
        let Some(t) = tasks.iter().find(|t| t.id == id) else {
            continue;
        };
        let relations: Vec<serde_json::Value> = deps
            .iter()
            .filter_map(|d| ids.get(d))
            .map(|r| serde_json::json!({ "id": r }))
            .collect();
        let props = serde_json::json!({
            "Name": title_property(&format!("{} {}", t.id, t.description)),
            "Phase": { "rich_text": property_text(&t.phase) },
            "Depends on": { "relation": relations },
            "Spec": { "url": spec_url },
        });
        let row = notion
            .create_row(&cfg.database_id, props, &[])
            .await
            .map_err(nf)?;
        ids.insert(id.clone(), row.id.clone());
        out.notion_rows.push((id, row.id));
    }
    report(
        host.action(
            "api_call",
            &format!("notion page {} and {} task rows", page.id, ids.len()),
            None,
        )
        .await,
    )?;
    out.summary
        .push_str(&format!("; Notion: spec page and {} task rows", ids.len()));
    Ok(())
}

/// Ask the LLM for clarifying questions, then people (through the operator), and wait for
/// every answer.
async fn clarify<H: Host + ?Sized>(
    host: &H,
    p: &SpecWriterParams,
    facts: &Facts,
) -> Result<Vec<crate::api::SpecAnswer>, Failure> {
    let prompt = format!(
        "Feature: {}\n\nRequirements:\n{}\n\n{}\nAs spec-kit's clarify step: ask at most 5 questions whose answers change the specification (scope, behaviour, data, edge cases), each with 2–5 options or none for a short free answer. No questions when the requirements are clear.",
        p.feature,
        p.requirements,
        facts_text(facts)
    );
    let c: Clarify = crate::llm::structured::complete_typed(&prompt, |q: String| async move {
        let req = CompletionRequest::user(SYSTEM, q, 2000);
        match host.llm(&req).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(skipped)) => Err(format!("skipped: {skipped}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| fail(format!("spec-writer: no usable clarifying questions: {e}")))?;
    let mut questions = c.questions;
    questions.truncate(super::api::MAX_QUESTIONS);
    for q in &mut questions {
        if q.options.len() == 1 || q.options.len() > super::api::MAX_OPTIONS {
            q.options.clear();
        }
    }
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    report(
        host.progress(&format!(
            "{} clarifying questions; answer them with `kubectl agent answer`",
            questions.len()
        ))
        .await,
    )?;
    let body = serde_json::json!({ "questions": questions });
    loop {
        let reply = host
            .call("POST", super::api::ROUTE, Some(body.clone()))
            .await
            .map_err(|e| Failure {
                message: format!("spec-writer: asking the questions: {}", e.message),
                transient: e.transient,
            })?
            .unwrap_or_default();
        let a: super::api::Answers = serde_json::from_value(reply).unwrap_or_default();
        if a.complete {
            return Ok(a.answers);
        }
        // Waiting on people (the job's timeout bounds it).
        tokio::time::sleep(ANSWER_POLL).await;
    }
}

fn findings_of(a: &SpecAnswer, facts: &Facts) -> Vec<Finding> {
    let mut f = check::check(&Docs {
        spec: &a.spec,
        plan: &a.plan,
        tasks: &a.tasks,
    });
    for (line, path) in ground::outside_layout(&a.plan, facts) {
        f.push(Finding {
            file: "plan.md",
            line,
            rule: "layout",
            message: format!(
                "Project Structure names {path}, outside the repository's layout ({})",
                facts.layout.join(", ")
            ),
        });
    }
    for (name, text) in [
        ("spec.md", &a.spec),
        ("plan.md", &a.plan),
        ("tasks.md", &a.tasks),
    ] {
        if text.len() > MAX_DOC_BYTES {
            f.push(Finding {
                file: name,
                line: 0,
                rule: "size",
                message: format!("over {MAX_DOC_BYTES} bytes"),
            });
        }
    }
    f
}

/// The pull request's body: links to the three documents, feasibility, agent tasks.
pub fn pr_body(o: &Outcome) -> String {
    let mut b = format!(
        "Specification written by devagents spec-writer.\n\n- [spec.md]({0}/spec.md)\n- [plan.md]({0}/plan.md)\n- [tasks.md]({0}/tasks.md)\n\n{1} stories, {2} functional requirements, {3} tasks.\n",
        o.directory, o.stories, o.requirements, o.tasks
    );
    if let Some(u) = &o.notion_page_url {
        b.push_str(&format!(
            "\nNotion: [the spec's page]({u}) and {} task rows with their dependencies.\n",
            o.notion_rows.len()
        ));
    }
    if !o.feasibility.conflicts.is_empty() {
        b.push_str("\n### Conflicts with the repository\n");
        for c in &o.feasibility.conflicts {
            b.push_str(&format!("- {c}\n"));
        }
    }
    if !o.agent_jobs.is_empty() {
        b.push_str(&format!(
            "\n### Tasks for agents\n{}\n\n`kubectl agent result JOB --artifact {AGENTJOBS_ARTIFACT} | kubectl apply -f -` creates them.\n",
            o.agent_jobs
                .iter()
                .map(|n| format!("- {n}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    crate::services::redact::redact(&b).into_owned()
}
