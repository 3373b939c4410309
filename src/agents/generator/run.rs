//! The generator's run in a workspace: clone the base branch, turn a description into fields
//! (LLM, structured output) when no fields are given, refuse an existing module unless
//! `overwrite`, render and write the files, edit all.api and the locale files, run the
//! configured commands (a failing one fails the job and nothing is pushed), then commit on a
//! branch of its own, push, and open a pull request.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{i18n, model, render};
use crate::api::{EntityEdge, EntityField, GeneratorParams, Mixin, Repository};
use crate::llm::gateway::CompletionRequest;
use crate::services::git::{AllowedPaths, Credentials, Identity, Workspace, WorkspaceOptions};
use crate::services::github::{GitHub, repo_of};

pub const DEFAULT_COMMANDS: [&str; 4] =
    ["make gen-ent", "make gen-rpc", "make gen-api", "make test"];
/// Lines of a command's output kept in the result.
const TAIL_LINES: usize = 40;

pub use crate::agents::Host;

/// Where the run happens.
#[derive(Clone, Debug)]
pub struct Setup {
    /// An empty directory for the clone.
    pub workdir: PathBuf,
    pub github_api: String,
    pub credentials: Option<Credentials>,
    /// Makes the branch name unique per job (`agents/generator/<snake>-<short id>`).
    pub short_id: String,
    /// Push the branch and open the pull request (off: the commit stays on the local branch).
    pub publish: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CommandRun {
    pub command: String,
    pub exit_code: i32,
    /// The last lines of its output (stdout, then stderr), redacted.
    pub tail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub summary: String,
    pub branch: String,
    pub commit: String,
    pub pull_request: Option<u64>,
    pub pull_request_url: Option<String>,
    pub files: Vec<String>,
    pub commands: Vec<CommandRun>,
}

#[derive(Debug)]
pub struct Failure {
    pub message: String,
    /// Worth another attempt (network, the agent API away).
    pub transient: bool,
    /// What ran before the failure (its output tails go into the result).
    pub commands: Vec<CommandRun>,
}

impl Failure {
    fn final_(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: false,
            commands: Vec::new(),
        }
    }
    fn transient(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: true,
            commands: Vec::new(),
        }
    }
}

/// The structured spec the LLM fills in from a description.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct EntitySpec {
    /// The entity's own fields, snake_case; fields a mixin provides (id, created_at,
    /// updated_at, status, sort) are listed too when the description names them.
    pub fields: Vec<EntityField>,
    #[serde(default)]
    pub edges: Vec<EntityEdge>,
    #[serde(default)]
    pub mixins: Vec<Mixin>,
}

const SYSTEM: &str = "You design Ent schemas for Go services built on Simple Admin Core \
(go-zero + Ent). Field names are snake_case. Mixins from simple-admin-common provide id, \
created_at and updated_at (id or uuid), status (status) and sort (sort): name those fields \
in `fields` when the description mentions them and the generator maps them to the mixins. A \
tree is a field parent_id (uint64, optional, default 0) plus an edge {name: children, type: \
to, target: <the entity>, inverse: parent, field: parent_id, unique: true}. Comments are \
\"English | 中文\".";

fn check_spec(spec: &EntitySpec) -> Result<(), String> {
    let snake = regex::Regex::new(crate::api::patterns::SNAKE).map_err(|e| e.to_string())?;
    for f in &spec.fields {
        if !snake.is_match(&f.name) {
            return Err(format!("field name {:?} is not snake_case", f.name));
        }
    }
    if spec.fields.is_empty() {
        return Err("no fields".into());
    }
    Ok(())
}

/// Fields from the description through the LLM: the schema in the prompt, one repair round.
async fn fields_from_description<H: Host + ?Sized>(
    host: &H,
    entity: &str,
    description: &str,
) -> Result<EntitySpec, Failure> {
    let instruction =
        format!("Entity {entity}: {description}\nDescribe its fields, edges and mixins.");
    let ask = |prompt: String| async move {
        let req = CompletionRequest::user(SYSTEM, prompt, 2048);
        match host.llm(&req).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(skipped)) => Err(format!(
                "the description needs the LLM, and LLM steps are skipped ({skipped}); give explicit fields"
            )),
            Err(e) => Err(e.to_string()),
        }
    };
    let spec: EntitySpec = crate::llm::structured::complete_typed(&instruction, ask)
        .await
        .map_err(|e| Failure::final_(format!("generator: {e}")))?;
    check_spec(&spec).map_err(|e| Failure::final_(format!("generator: the LLM's spec: {e}")))?;
    Ok(spec)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    crate::services::redact::redact(&lines[start..].join("\n")).into_owned()
}

async fn run_command(dir: &Path, command: &str) -> Result<CommandRun, Failure> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Failure::final_(format!("cannot run {command:?}: {e}")))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(CommandRun {
        command: command.into(),
        exit_code: out.status.code().unwrap_or(-1),
        tail: tail(&text),
    })
}

/// Blocking git work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::services::git::GitError> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::final_(format!("generator: {e}"))),
        Err(e) => Err(Failure::final_(format!("generator: git task: {e}"))),
    }
}

fn report<T>(r: Result<T, String>) -> Result<T, Failure> {
    r.map_err(Failure::transient)
}

/// Run the generator.
pub async fn run<H: Host + ?Sized>(
    host: &H,
    repo: &Repository,
    params: &GeneratorParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    let mut p = params.clone();
    let fields = if p.fields.is_empty() {
        let description = p.description.clone().unwrap_or_default();
        report(
            host.progress("asking the LLM for the entity's fields")
                .await,
        )?;
        let spec = fields_from_description(host, &p.entity, &description).await?;
        if p.edges.is_empty() {
            p.edges = spec.edges.clone();
        }
        if p.mixins.is_empty() {
            p.mixins = spec.mixins.clone();
        }
        spec.fields
    } else {
        p.fields.clone()
    };
    let m = model::module(&p, &fields).map_err(|e| Failure::final_(e.to_string()))?;

    report(
        host.progress(&format!("cloning {} ({})", repo.url, repo.base_branch))
            .await,
    )?;
    let opts = WorkspaceOptions {
        base_branch: repo.base_branch.clone(),
        allowed_paths: AllowedPaths::new(&repo.allowed_paths)
            .map_err(|e| Failure::final_(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("generator"),
    };
    let branch = format!("agents/generator/{}-{}", m.snake, setup.short_id);
    let (url, dir, b2, o2) = (
        repo.url.clone(),
        setup.workdir.clone(),
        branch.clone(),
        opts.clone(),
    );
    let ws = blocking(move || {
        let ws = Workspace::clone(&url, &dir, o2)?;
        ws.create_branch(&b2)?;
        Ok(ws)
    })
    .await?;
    let root = ws.path();

    // An existing module is replaced only when asked.
    let schema = format!("rpc/ent/schema/{}.go", m.snake);
    let api = format!("api/desc/core/{}.api", m.snake);
    if !p.overwrite
        && let Some(existing) = [&schema, &api].into_iter().find(|f| root.join(f).exists())
    {
        return Err(Failure::final_(format!(
            "generator: the {} module exists ({existing}); set overwrite: true to replace it",
            m.name
        )));
    }

    let target = render::Target::of_workspace(&root);
    let files = render::render(
        &m,
        &target,
        &p.files,
        Some(&root.join(render::OVERRIDE_DIR)),
    )
    .map_err(|e| Failure::final_(e.to_string()))?;
    let write = |rel: &str, text: &str| -> Result<(), Failure> {
        let path = root.join(rel);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| Failure::final_(format!("{rel}: {e}")))?;
        }
        std::fs::write(&path, text).map_err(|e| Failure::final_(format!("{rel}: {e}")))
    };
    for (rel, text) in &files {
        write(rel, text)?;
    }
    let want = |k| p.files.is_empty() || p.files.contains(&k);
    if want(crate::api::GeneratedFileKind::Api) {
        let all = "api/desc/all.api";
        let text = std::fs::read_to_string(root.join(all)).unwrap_or_default();
        write(all, &render::add_api_import(&text, &m.snake))?;
    }
    if want(crate::api::GeneratedFileKind::I18n) {
        let entries = i18n::entries(&m);
        let dir = root.join("api/internal/i18n/locale");
        let mut locales: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        locales.retain(|p| p.extension().is_some_and(|e| e == "json"));
        locales.sort();
        for path in locales {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let zh = name.starts_with("zh");
            let keys: Vec<(String, String)> = entries
                .iter()
                .map(|(k, en, z)| (k.clone(), if zh { z.clone() } else { en.clone() }))
                .collect();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::final_(format!("{name}: {e}")))?;
            let (new, _) = i18n::add_keys(&name, &text, &keys)
                .map_err(|e| Failure::final_(format!("generator: {e}")))?;
            std::fs::write(&path, new).map_err(|e| Failure::final_(format!("{name}: {e}")))?;
        }
    }
    for rel in files.keys() {
        report(host.progress(&format!("generated {rel}")).await)?;
    }

    // The project's own commands; a failing one stops everything before anything is pushed.
    let commands: Vec<String> = p
        .commands
        .clone()
        .unwrap_or_else(|| DEFAULT_COMMANDS.iter().map(|c| c.to_string()).collect());
    let mut runs = Vec::new();
    for c in &commands {
        let r = run_command(&root, c).await?;
        let ok = r.exit_code == 0;
        report(
            host.progress(&format!("ran {c}: exit code {}", r.exit_code))
                .await,
        )?;
        runs.push(r);
        if !ok {
            let last = runs.last().map(|r| r.tail.clone()).unwrap_or_default();
            return Err(Failure {
                message: format!(
                    "generator: `{c}` failed with exit code {}; nothing was pushed. Output:\n{last}",
                    runs.last().map(|r| r.exit_code).unwrap_or(-1)
                ),
                transient: false,
                commands: runs,
            });
        }
    }

    let (b2, ws_dir, o2, title) = (
        branch.clone(),
        root.clone(),
        opts.clone(),
        format!("feat: {} module (devagents generator)", m.name),
    );
    let publish = setup.publish;
    let (changed, commit) = blocking(move || {
        let ws = Workspace::open(&ws_dir, o2)?;
        let changed = ws.changed_paths()?;
        let sha = ws.commit_all(&title)?;
        if publish {
            ws.push(&b2)?;
        }
        Ok((changed, sha))
    })
    .await
    .map_err(|mut f| {
        f.commands = runs.clone();
        f
    })?;
    if !publish {
        return Ok(Outcome {
            summary: format!(
                "{} module: {} files committed on the local branch {branch} (not pushed)",
                m.name,
                changed.len()
            ),
            branch,
            commit,
            files: changed,
            commands: runs,
            ..Outcome::default()
        });
    }
    report(host.action("git_push", &branch, Some(&commit)).await)?;

    let (owner, name) = repo_of(&repo.url).map_err(|e| Failure::final_(e.to_string()))?;
    let token = setup
        .credentials
        .as_ref()
        .map(|c| c.token.clone())
        .ok_or_else(|| {
            Failure::final_("generator: opening a pull request needs repository.credentialsSecret")
        })?;
    let gh = GitHub::new(&setup.github_api, &token, &owner, &name)
        .map_err(|e| Failure::final_(e.to_string()))?;
    let body = pr_body(&m, &changed, &runs);
    let pr = gh
        .create_pull(
            &format!("feat: {} module", m.name),
            &branch,
            &repo.base_branch,
            &body,
        )
        .await
        .map_err(|e| Failure {
            message: format!("generator: pushed {branch}, but {e}"),
            transient: false,
            commands: runs.clone(),
        })?;
    report(host.action("pr_open", &pr.html_url, Some(&commit)).await)?;
    Ok(Outcome {
        summary: format!(
            "{} module: {} files on {branch}, pull request #{}",
            m.name,
            changed.len(),
            pr.number
        ),
        branch,
        commit,
        pull_request: Some(pr.number),
        pull_request_url: Some(pr.html_url),
        files: changed,
        commands: runs,
    })
}

fn pr_body(m: &model::Module, files: &[String], runs: &[CommandRun]) -> String {
    let mut b = format!(
        "A complete CRUD module for **{}** (table `{}`), generated by the devagents generator.\n\n### Files\n",
        m.name, m.table
    );
    for f in files {
        b.push_str(&format!("- `{f}`\n"));
    }
    b.push_str("\n### Commands\n");
    for r in runs {
        b.push_str(&format!("- `{}`: exit code {}\n", r.command, r.exit_code));
    }
    b.push_str(
        "\n### Next steps\n1. Review the generated files\n2. Add business logic to the RPC handlers\n3. Check the i18n translations in every locale file\n4. Merge when the checks pass\n",
    );
    b
}
