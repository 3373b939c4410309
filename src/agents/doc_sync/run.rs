//! doc-sync's run in a workspace: resolve the two refs (a pull request's merge base and head,
//! or `baseRef`/`headRef`), read the `.api` and `.proto` files at both and classify the change,
//! then on a docs branch: regenerate the Swagger file with the repository's own Makefile
//! target (at both refs, in two checkouts) and check that its diff agrees with the `.api`
//! diff, rewrite the marked sections of the doc files, add the changelog entry. Every check
//! comes before the first write, so a job that fails pushes nothing. What changed is committed
//! and pushed, with a pull request (or onto the open docs pull request of an earlier run);
//! then the service's Notion page is created or updated in place. A run with nothing to
//! change commits, pushes and opens nothing, and leaves the Notion page as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::api_diff::{self, Change, Level};
use super::api_file::{self, ApiFile};
use super::proto_file::{self, ProtoFile};
use super::{changelog, notion_page, sections, swagger};
use crate::api::{DocSyncParams, DocTarget, Repository};
use crate::services::git::{
    AllowedPaths, Credentials, GitError, Identity, Workspace, WorkspaceOptions,
};
use crate::services::github::{GitHub, PullRequest, repo_of};
use crate::services::notion::Notion;

pub use crate::agents::Host;

/// Where the service's API is described, and its limits.
pub const API_DIR: &str = "api/desc";
pub const PROTO_DIRS: &[&str] = &["rpc/desc", "rpc"];
pub const SCHEMA_DIR: &str = "rpc/ent/schema";
pub const MAX_FILES: usize = 500;
pub const MAX_FILE_BYTES: usize = 512 * 1024;
/// The most commits between the refs read for the changelog.
pub const MAX_COMMITS: usize = 2_000;
/// The Swagger file: its size, and the time its Makefile target may take (each checkout).
pub const MAX_SWAGGER_BYTES: usize = 16 * 1024 * 1024;
pub const SWAGGER_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_DOC_FILE: &str = "CLAUDE.md";
pub const DEFAULT_CHANGELOG: &str = "CHANGELOG.md";

pub struct Setup {
    pub workdir: PathBuf,
    pub github_api: String,
    pub credentials: Option<Credentials>,
    pub short_id: String,
    pub publish: bool,
    /// The Notion client (the job's Notion Secret's token), when `docSync.notion` is set.
    pub notion: Option<Notion>,
}

#[derive(Clone, Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SwaggerReport {
    /// `make <target>`.
    pub command: String,
    pub file: String,
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub summary: String,
    pub base: String,
    pub base_commit: String,
    pub head: String,
    pub head_commit: String,
    pub service: String,
    /// The API change (`.api` and `.proto`), classified.
    pub changes: Vec<Change>,
    pub breaking: usize,
    pub swagger: Option<SwaggerReport>,
    /// `file#section` of every marked section rewritten.
    pub sections: Vec<String>,
    /// Lines added under `## [Unreleased]`.
    pub changelog_lines: usize,
    /// Files changed on the docs branch.
    pub files: Vec<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub pull_request: Option<u64>,
    pub pull_request_url: Option<String>,
    pub notion_page: Option<String>,
    pub notion_created: bool,
    /// Blocks of the Notion page deleted and appended (0, 0: it already read so).
    pub notion_blocks: (usize, usize),
    pub notes: Vec<String>,
}

pub use crate::agents::step::RunFailure as Failure;
use crate::agents::step::{fail, reported as report};

fn git_fail(e: GitError) -> Failure {
    fail(format!("doc-sync: {e}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| fail(e.to_string()))?
}

/// The two ends of the change, and the branch the docs go into.
struct Refs {
    base: String,
    base_commit: String,
    head: String,
    head_commit: String,
    /// The branch the docs pull request goes into.
    target: String,
}

/// The service's sources at one commit.
struct Sources {
    api: Vec<ApiFile>,
    proto: BTreeMap<String, ProtoFile>,
}

fn read_sources(ws: &Workspace, commit: &str, which: &str) -> Result<Sources, Failure> {
    let mut api = Vec::new();
    for (path, text) in ws
        .files_at(commit, API_DIR, ".api", MAX_FILES, MAX_FILE_BYTES)
        .map_err(git_fail)?
    {
        api.push(api_file::parse(&path, &text).map_err(|e| {
            fail(format!(
                "doc-sync: {e} (the .api file does not parse at {which})"
            ))
        })?);
    }
    let mut proto = BTreeMap::new();
    for dir in PROTO_DIRS {
        let files = ws
            .files_at(commit, dir, ".proto", MAX_FILES, MAX_FILE_BYTES)
            .map_err(git_fail)?;
        if files.is_empty() {
            continue;
        }
        for (path, text) in files {
            let p = proto_file::parse(&path, &text).map_err(|e| {
                fail(format!(
                    "doc-sync: {e} (the .proto file does not parse at {which})"
                ))
            })?;
            proto.insert(path, p);
        }
        break;
    }
    Ok(Sources { api, proto })
}

/// The classified change from `old` to `new`: the HTTP API's, then the RPC side's.
pub fn classify(
    old_api: &[ApiFile],
    new_api: &[ApiFile],
    old_proto: &BTreeMap<String, ProtoFile>,
    new_proto: &BTreeMap<String, ProtoFile>,
) -> Vec<Change> {
    let mut out = api_diff::diff(old_api, new_api);
    let empty = ProtoFile::default();
    let paths: std::collections::BTreeSet<&String> =
        old_proto.keys().chain(new_proto.keys()).collect();
    for p in paths {
        out.extend(proto_file::diff(
            old_proto.get(p).unwrap_or(&empty),
            new_proto.get(p).unwrap_or(&empty),
        ));
    }
    out
}

/// The `architecture` section: the services and modules of the repository.
pub fn architecture(
    api: &[ApiFile],
    proto: &BTreeMap<String, ProtoFile>,
    schemas: &[String],
) -> String {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for r in api.iter().flat_map(|f| &f.routes) {
        *groups
            .entry(r.group.clone().unwrap_or_else(|| "(no group)".into()))
            .or_default() += 1;
    }
    let mut services: Vec<&String> = api.iter().flat_map(|f| &f.services).collect();
    services.sort();
    services.dedup();
    let rpcs: usize = proto.values().map(|p| p.rpcs.len()).sum();
    let messages: usize = proto.values().map(|p| p.messages.len()).sum();
    let mut out = String::new();
    out.push_str(&format!(
        "- **API service** {} (`{API_DIR}`): {} endpoints in {} groups\n",
        services
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", "),
        groups.values().sum::<usize>(),
        groups.len()
    ));
    if !proto.is_empty() {
        out.push_str(&format!(
            "- **RPC service** ({}): {rpcs} methods, {messages} messages\n",
            proto
                .keys()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !schemas.is_empty() {
        out.push_str(&format!(
            "- **Ent schemas** (`{SCHEMA_DIR}`): {}\n",
            schemas.join(", ")
        ));
    }
    out.push_str("\n| module | endpoints |\n|---|---|\n");
    for (g, n) in groups {
        out.push_str(&format!("| {g} | {n} |\n"));
    }
    out
}

/// The Makefile's targets (names only).
fn has_target(makefile: &str, target: &str) -> bool {
    makefile.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(t, rest)| t.trim() == target && !rest.starts_with('='))
    })
}

/// Run `make <target>` in `dir`; the output's tail on failure.
async fn make(dir: &Path, target: &str) -> Result<(), String> {
    let child = tokio::process::Command::new("make")
        .arg(target)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(SWAGGER_TIMEOUT, child).await {
        Err(_) => {
            return Err(format!(
                "`make {target}` took longer than {} s",
                SWAGGER_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(format!("`make {target}`: {e}")),
        Ok(Ok(o)) => o,
    };
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    Err(format!(
        "`make {target}` failed ({}):\n{}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

/// The Swagger 2.0 files of a checkout (JSON files, outside `.git`, `vendor`, `node_modules`).
fn swagger_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if depth < 5 && !name.starts_with('.') && name != "vendor" && name != "node_modules"
                {
                    stack.push((p, depth + 1));
                }
            } else if name.ends_with(".json")
                && e.metadata()
                    .is_ok_and(|m| m.len() as usize <= MAX_SWAGGER_BYTES)
                && std::fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|v| v["swagger"] == "2.0")
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn read_swagger(root: &Path, file: &str) -> Result<serde_json::Value, String> {
    let p = root.join(file);
    let len = std::fs::metadata(&p)
        .map_err(|e| format!("{file}: {e}"))?
        .len() as usize;
    if len > MAX_SWAGGER_BYTES {
        return Err(format!(
            "{file} is {len} bytes, more than the limit of {MAX_SWAGGER_BYTES}"
        ));
    }
    let v: serde_json::Value = std::fs::read(&p)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("{file}: {e}"))?;
    if v["swagger"] != "2.0" {
        return Err(format!("{file} is not a Swagger 2.0 document"));
    }
    Ok(v)
}

fn github(repo: &Repository, setup: &Setup) -> Result<GitHub, Failure> {
    let (owner, name) = repo_of(&repo.url).map_err(|e| fail(e.to_string()))?;
    let token = setup
        .credentials
        .as_ref()
        .map(|c| c.token.clone())
        .ok_or_else(|| fail("doc-sync: pull requests need repository.credentialsSecret"))?;
    GitHub::new(&setup.github_api, &token, &owner, &name).map_err(|e| fail(e.to_string()))
}

/// The whole run.
pub async fn run<H: Host + ?Sized>(
    host: &H,
    repo: &Repository,
    p: &DocSyncParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    let wants = |t: DocTarget| p.targets.is_empty() || p.targets.contains(&t);
    if wants(DocTarget::Notion) && p.notion.is_some() && setup.notion.is_none() {
        return Err(fail(
            "doc-sync: docSync.notion is set but there is no Notion token (the Secret's key `token`)",
        ));
    }
    // The pull request, when the change is one.
    let pr: Option<PullRequest> = match p.pull_request {
        Some(n) => Some(
            github(repo, setup)?
                .pull(n as u64)
                .await
                .map_err(|e| fail(format!("doc-sync: pull request #{n}: {e}")))?,
        ),
        None => None,
    };
    let opts = WorkspaceOptions {
        base_branch: repo.base_branch.clone(),
        allowed_paths: AllowedPaths::new(&repo.allowed_paths).map_err(|e| fail(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("doc-sync"),
    };
    let root = setup.workdir.join("repo");
    // Clone, fetch every branch (and the pull request's head), resolve the refs, read both
    // sides.
    let (url, dir, o2, pr2) = (repo.url.clone(), root.clone(), opts.clone(), pr.clone());
    let (br, hr, base_branch) = (
        p.base_ref
            .clone()
            .unwrap_or_else(|| repo.base_branch.clone()),
        p.head_ref
            .clone()
            .unwrap_or_else(|| repo.base_branch.clone()),
        repo.base_branch.clone(),
    );
    let defaulted = p.base_ref.is_none() && p.head_ref.is_none();
    let (refs, old, new, commits, schemas) = blocking(move || {
        let ws = Workspace::clone(&url, &dir, o2).map_err(git_fail)?;
        let mut specs = vec!["+refs/heads/*:refs/remotes/origin/*".to_string()];
        if let Some(pr) = &pr2 {
            specs.push(format!(
                "+refs/pull/{}/head:refs/remotes/origin/pr-{}",
                pr.number, pr.number
            ));
        }
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        ws.fetch(&specs)
            .or_else(|_| ws.fetch(&specs[..1]))
            .map_err(git_fail)?;
        let resolve = |field: &str, r: &str| -> Result<String, Failure> {
            ws.resolve(&format!("origin/{r}"))
                .or_else(|_| ws.resolve(r))
                .map_err(|_| {
                    fail(format!(
                        "docSync.{field} {r:?} is not a branch or commit of the repository"
                    ))
                })
        };
        let refs = match &pr2 {
            Some(pr) => {
                let head_commit = ws.resolve(&pr.head_sha).map_err(|_| {
                    fail(format!(
                        "doc-sync: the head {} of #{} is not in the repository",
                        pr.head_sha, pr.number
                    ))
                })?;
                let base_tip = resolve("pullRequest base", &pr.base_ref)?;
                let base_commit = ws.merge_base(&base_tip, &head_commit).map_err(git_fail)?;
                let merged = ws.contains(&base_tip, &head_commit).map_err(git_fail)?;
                let target = if merged {
                    pr.base_ref.clone()
                } else if pr.from_fork() {
                    return Err(fail(format!(
                        "doc-sync: #{} comes from a fork and is not merged: its docs can be written once it is",
                        pr.number
                    )));
                } else {
                    pr.head_ref.clone()
                };
                Refs {
                    base: pr.base_ref.clone(),
                    base_commit,
                    head: format!("#{}", pr.number),
                    head_commit,
                    target,
                }
            }
            None => {
                let head_commit = resolve("headRef", &hr)?;
                let mut base = br.clone();
                let mut base_commit = resolve("baseRef", &br)?;
                // Neither ref names the change: the base branch's last commit is it (the
                // repository's first commit has none: no API change, the docs as they are).
                if defaulted
                    && base_commit == head_commit
                    && let Ok(parent) = ws.resolve(&format!("{head_commit}~1"))
                {
                    base = format!("{br}~1");
                    base_commit = parent;
                }
                let base_tip = resolve("baseRef", &base_branch)?;
                let target = if ws.contains(&base_tip, &head_commit).map_err(git_fail)? {
                    base_branch.clone()
                } else if ws.resolve(&format!("origin/{hr}")).is_ok() {
                    hr.clone()
                } else {
                    return Err(fail(format!(
                        "docSync.headRef {hr:?} is neither in {base_branch} nor a branch: there is no branch to put the docs on"
                    )));
                };
                Refs {
                    base,
                    base_commit,
                    head: hr.clone(),
                    head_commit,
                    target,
                }
            }
        };
        let old = read_sources(&ws, &refs.base_commit, &refs.base)?;
        let new = read_sources(&ws, &refs.head_commit, &refs.head)?;
        let commits = ws
            .commits_between(&refs.base_commit, &refs.head_commit, MAX_COMMITS)
            .map_err(git_fail)?;
        let schemas: Vec<String> = ws
            .files_at(&refs.head_commit, SCHEMA_DIR, ".go", MAX_FILES, MAX_FILE_BYTES)
            .map_err(git_fail)?
            .into_iter()
            .filter(|(p, _)| !p.ends_with("_test.go"))
            .filter_map(|(p, t)| {
                // `type Department struct { ent.Schema }` names the entity.
                t.lines()
                    .find(|l| l.contains("ent.Schema") && l.trim_start().starts_with("type "))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
                    .or_else(|| p.rsplit('/').next().map(|f| f.trim_end_matches(".go").to_string()))
            })
            .collect();
        Ok((refs, old, new, commits, schemas))
    })
    .await?;
    let changes = classify(&old.api, &new.api, &old.proto, &new.proto);
    let service = new
        .api
        .iter()
        .flat_map(|f| &f.services)
        .next()
        .cloned()
        .unwrap_or_else(|| {
            repo_of(&repo.url)
                .map(|(_, n)| n)
                .unwrap_or_else(|_| "service".into())
        });
    let mut out = Outcome {
        base: refs.base.clone(),
        base_commit: refs.base_commit.clone(),
        head: refs.head.clone(),
        head_commit: refs.head_commit.clone(),
        service: service.clone(),
        breaking: changes
            .iter()
            .filter(|c| c.level == Level::Breaking)
            .count(),
        changes,
        ..Outcome::default()
    };
    report(
        host.progress(&format!(
            "{} .. {}: {} API changes ({} breaking)",
            short(&refs.base_commit),
            short(&refs.head_commit),
            out.changes.len(),
            out.breaking
        ))
        .await,
    )?;

    // The docs branch: on top of the open docs pull request of an earlier run, else new at
    // the target branch's tip.
    let docs = format!("docs/devagents-sync-{}", refs.target.replace('/', "-"));
    let gh = if setup.publish {
        Some(github(repo, setup)?)
    } else {
        None
    };
    let open = match &gh {
        Some(gh) => gh
            .open_pull(&docs, &refs.target)
            .await
            .map_err(|e| fail(format!("doc-sync: {e}")))?,
        None => None,
    };
    let (o3, dir3, target, docs2, short_id) = (
        opts.clone(),
        root.clone(),
        refs.target.clone(),
        docs.clone(),
        setup.short_id.clone(),
    );
    let continuing = open.is_some();
    let (branch, start) = blocking(move || {
        let ws = Workspace::open(&dir3, o3).map_err(git_fail)?;
        let remote_docs = ws.resolve(&format!("origin/{docs2}")).ok();
        let (branch, start) = match remote_docs {
            Some(tip) if continuing => (docs2, tip),
            // An earlier docs branch whose pull request is merged or closed: a new one.
            Some(_) => (
                format!("{docs2}-{short_id}"),
                ws.resolve(&format!("origin/{target}")).map_err(git_fail)?,
            ),
            None => (
                docs2,
                ws.resolve(&format!("origin/{target}")).map_err(git_fail)?,
            ),
        };
        ws.create_branch_at(&branch, &start).map_err(git_fail)?;
        Ok((branch, start))
    })
    .await?;

    // Swagger, at both ends, in two checkouts; its diff must agree with the .api diff.
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap_or_default();
    if wants(DocTarget::Swagger) {
        let target = p.swagger_target.clone().or_else(|| {
            ["gen-swagger", "gen-api"]
                .into_iter()
                .find(|t| has_target(&makefile, t))
                .map(str::to_string)
        });
        match target {
            None => out.notes.push(
                "swagger not regenerated: the Makefile has neither gen-swagger nor gen-api (docSync.swaggerTarget)".into(),
            ),
            Some(t) => {
                report(host.progress(&format!("make {t} (swagger)")).await)?;
                let http = api_diff::diff(&old.api, &new.api);
                out.swagger = Some(swagger_step(&root, setup, &opts, &refs, &t, p, &http).await?);
            }
        }
    }

    // Marked sections.
    if wants(DocTarget::Docs) {
        let mut bodies: BTreeMap<String, String> = BTreeMap::new();
        if !makefile.is_empty() {
            bodies.insert("commands".into(), sections::commands(&makefile));
        }
        bodies.insert("api".into(), sections::api_table(&new.api));
        bodies.insert(
            "architecture".into(),
            architecture(&new.api, &new.proto, &schemas),
        );
        let files: Vec<String> = if p.doc_files.is_empty() {
            vec![DEFAULT_DOC_FILE.to_string()]
        } else {
            p.doc_files.clone()
        };
        for f in files {
            let path = root.join(&f);
            let Ok(text) = std::fs::read_to_string(&path) else {
                if p.doc_files.is_empty() {
                    out.notes
                        .push(format!("no {f}: no marked sections to update"));
                    continue;
                }
                return Err(fail(format!(
                    "docSync.docFiles: {f} is not in the repository"
                )));
            };
            let (new_text, changed) = sections::rewrite(&f, &text, &bodies)
                .map_err(|e| fail(format!("doc-sync: {e}")))?;
            if !changed.is_empty() {
                std::fs::write(&path, new_text).map_err(|e| fail(format!("{f}: {e}")))?;
                out.sections
                    .extend(changed.into_iter().map(|s| format!("{f}#{s}")));
            }
        }
    }

    // The changelog entry.
    if wants(DocTarget::Changelog) {
        let commits: Vec<changelog::Commit> = commits
            .into_iter()
            .map(|(sha, subject, body)| changelog::Commit { sha, subject, body })
            .collect();
        let entry = changelog::entry(&out.changes, &commits);
        if entry.values().any(|v| !v.is_empty()) {
            let file = p
                .changelog_file
                .clone()
                .unwrap_or_else(|| DEFAULT_CHANGELOG.into());
            let path = root.join(&file);
            let existing = std::fs::read_to_string(&path).unwrap_or_default();
            let (text, added) = changelog::write(&existing, &entry);
            if added > 0 {
                std::fs::write(&path, text).map_err(|e| fail(format!("{file}: {e}")))?;
                out.changelog_lines = added;
            }
        }
    }

    // Commit and push what changed, and open (or add to) the docs pull request.
    let (o4, dir4) = (opts.clone(), root.clone());
    let changed = blocking(move || {
        Workspace::open(&dir4, o4)
            .and_then(|ws| ws.changed_paths())
            .map_err(git_fail)
    })
    .await?;
    out.files = changed.clone();
    if !changed.is_empty() {
        let title = format!(
            "docs: API docs for {} ({}) (devagents doc-sync)",
            refs.head,
            short(&refs.head_commit)
        );
        let (o5, dir5, t2, b2, s2, publish) = (
            opts.clone(),
            root.clone(),
            title.clone(),
            branch.clone(),
            start.clone(),
            setup.publish,
        );
        let commit = blocking(move || {
            let ws = Workspace::open(&dir5, o5).map_err(git_fail)?;
            let sha = ws.commit_all(&t2).map_err(git_fail)?;
            if publish {
                ws.push_since(&b2, &s2).map_err(git_fail)?;
            }
            Ok(sha)
        })
        .await?;
        out.branch = Some(branch.clone());
        out.commit = Some(commit.clone());
        if let Some(gh) = &gh {
            report(host.action("git_push", &branch, Some(&commit)).await)?;
            let pr = match open {
                Some(pr) => pr,
                None => {
                    let pr = gh
                        .create_pull(&title, &branch, &refs.target, &pr_body(&out))
                        .await
                        .map_err(|e| fail(format!("doc-sync: pushed {branch}, but {e}")))?;
                    report(host.action("pr_open", &pr.html_url, Some(&commit)).await)?;
                    pr
                }
            };
            out.pull_request = Some(pr.number);
            out.pull_request_url = Some(pr.html_url);
        }
    }

    // The service's Notion page, created or updated in place.
    if let (true, Some(cfg), Some(notion)) = (
        wants(DocTarget::Notion),
        p.notion.as_ref(),
        setup.notion.as_ref(),
    ) {
        if setup.publish {
            let title = notion_page::title(&service);
            let blocks = notion_page::blocks(&service, &new.api);
            let page = notion
                .child_page(&cfg.parent_page_id, &title)
                .await
                .map_err(|e| Failure {
                    message: format!("doc-sync: {e}"),
                    transient: true,
                })?;
            let id = match page {
                Some(page) => {
                    out.notion_blocks = notion
                        .replace_blocks(&page.id, &blocks)
                        .await
                        .map_err(|e| fail(format!("doc-sync: Notion page {}: {e}", page.id)))?;
                    page.id
                }
                None => {
                    let page = notion
                        .create_page(&cfg.parent_page_id, &title, &blocks)
                        .await
                        .map_err(|e| fail(format!("doc-sync: {e}")))?;
                    out.notion_created = true;
                    out.notion_blocks = (0, blocks.len());
                    page.id
                }
            };
            if out.notion_blocks != (0, 0) {
                report(
                    host.action("api_call", &format!("notion page {id}"), None)
                        .await,
                )?;
            }
            out.notion_page = Some(id);
        } else {
            out.notes
                .push("Notion page not written (--no-push: nothing leaves the machine)".into());
        }
    }
    out.summary = summary(&out);
    Ok(out)
}

/// Regenerate the Swagger file with `make <target>` at the docs branch (head) and at the
/// base (a second checkout), and diff them.
async fn swagger_step(
    root: &Path,
    setup: &Setup,
    opts: &WorkspaceOptions,
    refs: &Refs,
    target: &str,
    p: &DocSyncParams,
    api_changes: &[Change],
) -> Result<SwaggerReport, Failure> {
    make(root, target)
        .await
        .map_err(|e| fail(format!("doc-sync: {e}")))?;
    let file = match &p.swagger_file {
        Some(f) => f.clone(),
        None => match &swagger_files(root)[..] {
            [one] => one.clone(),
            [] => {
                return Err(fail(format!(
                    "doc-sync: `make {target}` left no Swagger 2.0 file in the repository (docSync.swaggerFile)"
                )));
            }
            many => {
                return Err(fail(format!(
                    "doc-sync: several Swagger 2.0 files ({}); set docSync.swaggerFile",
                    many.join(", ")
                )));
            }
        },
    };
    let after = read_swagger(root, &file).map_err(|e| fail(format!("doc-sync: {e}")))?;
    // The base, in a checkout of its own (the docs branch's work tree stays as it is).
    let base_dir = setup.workdir.join("base");
    let (src, bd, o, commit) = (
        root.to_string_lossy().into_owned(),
        base_dir.clone(),
        opts.clone(),
        refs.base_commit.clone(),
    );
    blocking(move || {
        let ws = Workspace::clone(&src, &bd, o).map_err(git_fail)?;
        ws.fetch_and_checkout(&["+refs/remotes/origin/*:refs/remotes/origin/*"], &commit)
            .map_err(git_fail)?;
        Ok(())
    })
    .await?;
    make(&base_dir, target)
        .await
        .map_err(|e| fail(format!("doc-sync: at {}: {e}", refs.base)))?;
    let before = match read_swagger(&base_dir, &file) {
        Ok(v) => v,
        // A base before the Swagger file existed: everything is new.
        Err(_) if !base_dir.join(&file).exists() => serde_json::json!({"swagger": "2.0"}),
        Err(e) => return Err(fail(format!("doc-sync: at {}: {e}", refs.base))),
    };
    let _ = std::fs::remove_dir_all(&base_dir);
    let swagger_changes = swagger::diff(&before, &after);
    let disagree = swagger::disagreements(api_changes, &swagger_changes);
    if !disagree.is_empty() {
        return Err(fail(format!(
            "doc-sync: the regenerated {file} and the .api files disagree:\n- {}",
            disagree.join("\n- ")
        )));
    }
    Ok(SwaggerReport {
        command: format!("make {target}"),
        file,
        changes: swagger_changes,
    })
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(8)]
}

fn summary(o: &Outcome) -> String {
    let mut s = format!(
        "{} API changes ({} breaking) {}..{}",
        o.changes.len(),
        o.breaking,
        short(&o.base_commit),
        short(&o.head_commit)
    );
    if o.files.is_empty() {
        s.push_str("; docs already up to date, nothing committed");
    } else {
        s.push_str(&format!(
            "; {} sections, {} changelog lines, {} files",
            o.sections.len(),
            o.changelog_lines,
            o.files.len()
        ));
        match (o.pull_request, &o.branch) {
            (Some(n), _) => s.push_str(&format!("; pull request #{n}")),
            (None, Some(b)) => {
                s.push_str(&format!("; committed on the local branch {b} (not pushed)"))
            }
            _ => {}
        }
    }
    if let Some(id) = &o.notion_page {
        s.push_str(&match (o.notion_created, o.notion_blocks) {
            (true, _) => format!("; Notion page {id} created"),
            (false, (0, 0)) => "; Notion page unchanged".to_string(),
            (false, (d, a)) => format!("; Notion page updated ({d} blocks removed, {a} added)"),
        });
    }
    s
}

/// The pull request's body: the classified change, what was updated.
pub fn pr_body(o: &Outcome) -> String {
    let mut b = format!(
        "Docs synced by devagents doc-sync with the API change {} → {} ({} → {}).\n\n",
        o.base,
        o.head,
        short(&o.base_commit),
        short(&o.head_commit)
    );
    if o.changes.is_empty() {
        b.push_str("No API change.\n");
    } else {
        b.push_str("| level | change | subject | detail |\n|---|---|---|---|\n");
        for c in &o.changes {
            let level = match c.level {
                Level::Breaking => "**breaking**",
                Level::PotentiallyBreaking => "potentially breaking",
                Level::Info => "info",
            };
            b.push_str(&format!(
                "| {level} | {} | `{}` | {} |\n",
                c.kind,
                c.subject,
                c.detail.replace('|', "\\|")
            ));
        }
    }
    if let Some(s) = &o.swagger {
        b.push_str(&format!(
            "\nSwagger: `{}` regenerated {} ({} changes, in agreement with the .api diff).\n",
            s.file,
            s.command,
            s.changes.len()
        ));
    }
    if !o.sections.is_empty() {
        b.push_str(&format!("\nSections: {}\n", o.sections.join(", ")));
    }
    if o.changelog_lines > 0 {
        b.push_str(&format!(
            "\nChangelog: {} lines under [Unreleased]\n",
            o.changelog_lines
        ));
    }
    crate::services::redact::redact(&b).into_owned()
}
