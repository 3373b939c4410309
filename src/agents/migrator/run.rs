//! The migrator's run in a workspace: clone, read the Ent schemas at `fromRef` and `toRef`,
//! diff them, write the migration files, prove them on PostgreSQL (the round trip of
//! [`validate`]), have a destructive migration approved (pinned to the SQL's digest), then
//! commit on a branch of its own that starts at `toRef`, push, and open a pull request into
//! `toRef`'s branch. Anything that fails before the push fails the job with nothing pushed.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::files::{self, File};
use super::sql::{self, Change};
use super::validate::{self, Report};
use super::{ent, goparse::ParseError};
use crate::api::{ApprovalMode, ApprovalPhase, ApprovalPolicy, MigratorParams, Pin, Repository};
use crate::services::git::{AllowedPaths, Credentials, Identity, Workspace, WorkspaceOptions};
use crate::services::github::{GitHub, repo_of};

pub use crate::agents::Host;

/// Where Simple Admin Core keeps its Ent schemas.
pub const SCHEMA_DIR: &str = "rpc/ent/schema";
/// The migration directory when `directory` is not set.
pub const DEFAULT_DIRECTORY: &str = "rpc/migrations";
/// Limits on what is read: schema files per ref, bytes per file, bytes in all.
pub const MAX_SCHEMA_FILES: usize = 500;
pub const MAX_SCHEMA_FILE_BYTES: usize = 256 * 1024;
pub const MAX_SCHEMA_BYTES: usize = 4 * 1024 * 1024;
/// Existing migration files read (only for Atlas, whose sum covers them): how many, the size
/// of each, and in all.
pub const MAX_EXISTING_FILES: usize = 5000;
pub const MAX_EXISTING_FILE_BYTES: usize = 1024 * 1024;
pub const MAX_EXISTING_BYTES: usize = 64 * 1024 * 1024;
/// The migration written: at most this many changes and bytes of SQL.
pub const MAX_CHANGES: usize = 2000;
pub const MAX_SQL_BYTES: usize = 2 * 1024 * 1024;
/// The approval action of a destructive migration.
pub const DESTRUCTIVE_ACTION: &str = "destructive_migration";
/// The result's data stays below the agent API's limit on a result; past this the statements'
/// SQL is left out of it (the files hold it, and the artifact `migration.sql`).
const DATA_BUDGET: usize = 40 * 1024;

/// The database the round trip runs on.
pub enum Database {
    /// A URL (from `databaseSecret`).
    Url(String),
    /// A throwaway local server (Debian's PostgreSQL), started under the workdir.
    Local,
}

/// Where the run happens.
pub struct Setup {
    /// An empty directory for the clone (and a local database).
    pub workdir: PathBuf,
    pub github_api: String,
    pub credentials: Option<Credentials>,
    /// Makes the branch and the scratch schema unique per job.
    pub short_id: String,
    pub attempt: i32,
    /// Push the branch and open the pull request (off: the commit stays on the local branch
    /// and a destructive change needs no approval, since nothing leaves the machine).
    pub publish: bool,
    pub database: Database,
    /// The job's approval policy (a destructive migration needs `before-actions`).
    pub approval: Option<ApprovalPolicy>,
}

/// A ref as asked for and the commit it named.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefAt {
    #[serde(rename = "ref")]
    pub name: String,
    pub commit: String,
}

#[derive(Clone, Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub summary: String,
    pub from: Option<RefAt>,
    pub to: Option<RefAt>,
    /// `category:code` → how many statements carry it.
    pub labels: std::collections::BTreeMap<String, usize>,
    pub statements: Vec<Change>,
    /// The statements' SQL was left out of this result (too big); the files hold it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sql_omitted: bool,
    pub files: Vec<String>,
    /// `sha256:` over the files' names and text: what an approval is pinned to.
    pub sql_digest: String,
    pub destructive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Report>,
    pub branch: String,
    pub commit: String,
    pub pull_request: Option<u64>,
    pub pull_request_url: Option<String>,
}

#[derive(Debug)]
pub struct Failure {
    pub message: String,
    /// Worth another attempt (network, the agent API away).
    pub transient: bool,
    /// What was found before the failure (its statements and report go into the result).
    pub partial: Option<Box<Outcome>>,
}

impl Failure {
    fn final_(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: false,
            partial: None,
        }
    }
    fn transient(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: true,
            partial: None,
        }
    }
    fn with(mut self, o: &Outcome) -> Failure {
        self.partial = Some(Box::new(o.clone()));
        self
    }
}

fn report<T>(r: Result<T, String>) -> Result<T, Failure> {
    r.map_err(Failure::transient)
}

/// Blocking git work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::services::git::GitError> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::final_(format!("migrator: {e}"))),
        Err(e) => Err(Failure::final_(format!("migrator: git task: {e}"))),
    }
}

/// The refs compared: `fromRef` (default: the base branch) and `toRef` (default: the base
/// branch; when neither is given, the base branch's last commit is the change).
pub fn refs(p: &MigratorParams, base: &str) -> (String, String, bool) {
    let to = p.to_ref.clone().unwrap_or_else(|| base.to_string());
    match &p.from_ref {
        Some(f) => (f.clone(), to, false),
        None => (base.to_string(), to, true),
    }
}

/// The schema of the sources of one ref, errors naming the ref and file:line.
pub fn schema_at(
    which: &str,
    sources: &[(String, String)],
    foreign_keys: bool,
) -> Result<sql::Schema, String> {
    let total: usize = sources.iter().map(|(_, t)| t.len()).sum();
    if total > MAX_SCHEMA_BYTES {
        return Err(format!(
            "{which}: the schemas under {SCHEMA_DIR} are {total} bytes, more than the limit of {MAX_SCHEMA_BYTES}"
        ));
    }
    ent::schema_of_sources_with(sources, foreign_keys)
        .map_err(|e: ParseError| format!("{which}: {e}"))
}

/// The digest an approval of the migration is pinned to.
pub fn digest(files: &[File]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    format!("sha256:{}", crate::contract::hex(&h.finalize()))
}

/// How many statements carry each label.
fn labels(changes: &[Change]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for c in changes {
        for l in &c.lints {
            *out.entry(format!("{}:{}", l.category, l.code)).or_insert(0) += 1;
        }
    }
    out
}

/// The pull request's body: the statements with their labels, rollback notes, the report.
pub fn pr_body(name: &str, o: &Outcome, changes: &[Change]) -> String {
    let (from, to) = (
        o.from.clone().unwrap_or_default(),
        o.to.clone().unwrap_or_default(),
    );
    let mut b = format!(
        "Migration **{name}**: the Ent schema of `{}` ({}) → `{}` ({}), generated by the devagents migrator.\n\n### Statements\n",
        from.name,
        short(&from.commit),
        to.name,
        short(&to.commit)
    );
    for c in changes {
        let labels: Vec<String> = c
            .lints
            .iter()
            .map(|l| format!("`{}:{}`", l.category, l.code))
            .collect();
        b.push_str(&format!(
            "- {}{}\n",
            c.summary,
            if labels.is_empty() {
                String::new()
            } else {
                format!(" — {}", labels.join(" "))
            }
        ));
        b.push_str("  ```sql\n");
        for s in &c.up {
            b.push_str(&format!("  {s}\n"));
        }
        b.push_str("  ```\n");
        for l in &c.lints {
            if let Some(safer) = &l.safer {
                b.push_str(&format!("  - {}: {} Safer: {safer}\n", l.code, l.message));
            } else {
                b.push_str(&format!("  - {}: {}\n", l.code, l.message));
            }
        }
        if let Some(loses) = &c.rollback_loses {
            b.push_str(&format!("  - **Rollback loses data:** {loses}\n"));
        }
        if let Some(when) = &c.rollback_fails_when {
            b.push_str(&format!("  - **Rollback fails if:** {when}\n"));
        }
    }
    b.push_str("\n### Files\n");
    for f in &o.files {
        b.push_str(&format!("- `{f}`\n"));
    }
    b.push_str(&format!("\nSQL digest: `{}`\n", o.sql_digest));
    if let Some(a) = &o.approval {
        b.push_str(&format!(
            "Approved destructive changes: AgentApproval `{a}`\n"
        ));
    }
    b.push_str("\n### Validation\n");
    match &o.validation {
        Some(r) => {
            b.push_str(&format!("PostgreSQL {}:\n", r.server_version));
            for p in &r.phases {
                b.push_str(&format!(
                    "- {} {}\n",
                    if p.ok { "✅" } else { "❌" },
                    p.name
                ));
                for d in &p.differences {
                    b.push_str(&format!("  - {d}\n"));
                }
            }
        }
        None => b.push_str("Not validated (`validate: false`).\n"),
    }
    b
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The result's data, below the agent API's limit: the SQL goes when it does not fit.
pub fn result_data(o: &Outcome) -> serde_json::Value {
    let full = serde_json::to_value(o).unwrap_or_default();
    if full.to_string().len() <= DATA_BUDGET {
        return full;
    }
    let mut slim = o.clone();
    slim.sql_omitted = true;
    for c in &mut slim.statements {
        c.up.clear();
        c.down.clear();
    }
    let mut v = serde_json::to_value(&slim).unwrap_or_default();
    if v.to_string().len() > DATA_BUDGET {
        let n = slim.statements.len();
        slim.statements.truncate(50);
        slim.summary = format!("{} ({n} statements; the first 50 listed)", slim.summary);
        v = serde_json::to_value(&slim).unwrap_or_default();
    }
    v
}

/// Run the migrator.
pub async fn run<H: Host + ?Sized>(
    host: &H,
    repo: &Repository,
    params: &MigratorParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    let (from_ref, to_ref, from_defaulted) = refs(params, &repo.base_branch);
    let directory = params
        .directory
        .clone()
        .unwrap_or_else(|| DEFAULT_DIRECTORY.into());
    let mut out = Outcome::default();

    report(
        host.progress(&format!("cloning {} ({})", repo.url, repo.base_branch))
            .await,
    )?;
    let opts = WorkspaceOptions {
        base_branch: repo.base_branch.clone(),
        allowed_paths: AllowedPaths::new(&repo.allowed_paths)
            .map_err(|e| Failure::final_(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("migrator"),
    };
    let (url, dir, o2) = (repo.url.clone(), setup.workdir.join("repo"), opts.clone());
    let (fr, tr, base) = (from_ref.clone(), to_ref.clone(), repo.base_branch.clone());
    let dir2 = dir.clone();
    let dir_rel = directory.clone();
    let atlas = params.format == crate::api::MigrationFormat::Atlas;
    // Clone, fetch every branch and tag, and resolve both refs.
    type Read = (
        RefAt,
        RefAt,
        bool,
        Vec<(String, String)>,
        Vec<(String, String)>,
        Vec<(String, Vec<u8>)>,
    );
    let read: Result<Read, String> = tokio::task::spawn_blocking(move || {
        let ws = Workspace::clone(&url, &dir2, o2).map_err(|e| format!("migrator: {e}"))?;
        ws.fetch(&[
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
        ])
        .map_err(|e| format!("migrator: {e}"))?;
        let resolve = |field: &str, r: &str| -> Result<String, String> {
            ws.resolve(&format!("origin/{r}"))
                .or_else(|_| ws.resolve(r))
                .map_err(|_| {
                    format!(
                        "migrator.{field} {r:?} is not a branch, tag or commit of the repository"
                    )
                })
        };
        let to_commit = resolve("toRef", &tr)?;
        let to_is_branch = ws.resolve(&format!("origin/{tr}")).is_ok();
        let mut from = RefAt {
            name: fr.clone(),
            commit: resolve("fromRef", &fr)?,
        };
        if from_defaulted && from.commit == to_commit {
            // Neither ref names the change: the base branch's last commit is it.
            from = RefAt {
                name: format!("{base}~1"),
                commit: ws.resolve(&format!("{to_commit}~1")).map_err(|_| {
                    format!(
                        "migrator: toRef {tr:?} is the base branch and has no earlier commit to compare with; set migrator.fromRef"
                    )
                })?,
            };
        }
        let read_schemas = |which: &str, commit: &str| {
            ws.files_at(
                commit,
                SCHEMA_DIR,
                ".go",
                MAX_SCHEMA_FILES,
                MAX_SCHEMA_FILE_BYTES,
            )
            .map(|mut v| {
                v.retain(|(p, _)| !p.ends_with("_test.go"));
                v
            })
            .map_err(|e| format!("migrator: {which}: {e}"))
        };
        let from_src = read_schemas("fromRef", &from.commit)?;
        let to_src = read_schemas("toRef", &to_commit)?;
        // Only Atlas's sum covers the directory's existing migrations.
        let existing: Vec<(String, Vec<u8>)> = if atlas {
            ws.files_at(
                &to_commit,
                &dir_rel,
                ".sql",
                MAX_EXISTING_FILES,
                MAX_EXISTING_FILE_BYTES,
            )
            .map_err(|e| format!("migrator: {dir_rel}: {e}"))?
            .into_iter()
            .map(|(p, t)| {
                let name = p.rsplit('/').next().unwrap_or_default().to_string();
                (name, t.into_bytes())
            })
            .collect()
        } else {
            Vec::new()
        };
        let total: usize = existing.iter().map(|(_, t)| t.len()).sum();
        if total > MAX_EXISTING_BYTES {
            return Err(format!(
                "migrator: the migrations in {dir_rel} are {total} bytes, more than the limit of {MAX_EXISTING_BYTES}"
            ));
        }
        Ok((
            from,
            RefAt {
                name: tr.clone(),
                commit: to_commit,
            },
            to_is_branch,
            from_src,
            to_src,
            existing,
        ))
    })
    .await
    .map_err(|e| format!("migrator: git task: {e}"))
    .and_then(|r| r);
    let (from, to, to_is_branch, from_src, to_src, existing) = read.map_err(Failure::final_)?;
    out.from = Some(from.clone());
    out.to = Some(to.clone());
    if to_src.is_empty() {
        return Err(Failure::final_(format!(
            "migrator: toRef {:?} has no Ent schemas under {SCHEMA_DIR}",
            to.name
        )));
    }
    report(
        host.progress(&format!(
            "reading {} schema files at {} ({}) and {} at {} ({})",
            from_src.len(),
            from.name,
            short(&from.commit),
            to_src.len(),
            to.name,
            short(&to.commit)
        ))
        .await,
    )?;
    let from_schema = schema_at(
        &format!("fromRef {}", from.name),
        &from_src,
        params.foreign_keys,
    )
    .map_err(|e| Failure::final_(format!("migrator: {e}")))?;
    let to_schema = schema_at(&format!("toRef {}", to.name), &to_src, params.foreign_keys)
        .map_err(|e| Failure::final_(format!("migrator: {e}")))?;
    let changes = sql::diff(&from_schema, &to_schema);
    if changes.len() > MAX_CHANGES {
        return Err(Failure::final_(format!(
            "migrator: {} changes, more than the limit of {MAX_CHANGES} in one migration",
            changes.len()
        )));
    }
    out.labels = labels(&changes);
    out.statements = changes.clone();
    out.destructive = changes.iter().any(Change::destructive);
    if changes.is_empty() {
        out.summary = format!(
            "{}: the schemas of {} and {} give the same tables; nothing to migrate",
            params.name, from.name, to.name
        );
        return Ok(out);
    }

    let steps = files::steps(&changes, &params.name, files::version_now());
    let rendered = files::render(params.format, &steps, &existing);
    let bytes: usize = rendered.iter().map(|f| f.text.len()).sum();
    if bytes > MAX_SQL_BYTES {
        return Err(Failure::final_(format!(
            "migrator: the migration is {bytes} bytes of SQL, more than the limit of {MAX_SQL_BYTES}"
        ))
        .with(&out));
    }
    out.files = rendered
        .iter()
        .map(|f| format!("{directory}/{}", f.name))
        .collect();
    out.sql_digest = digest(&rendered);
    for c in &changes {
        let labels: Vec<String> = c
            .lints
            .iter()
            .map(|l| format!("{}:{}", l.category, l.code))
            .collect();
        report(
            host.progress(&format!(
                "{}{}",
                c.summary,
                if labels.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", labels.join(", "))
                }
            ))
            .await,
        )?;
    }

    // The round trip on PostgreSQL.
    if params.validate {
        let _local;
        let url = match &setup.database {
            Database::Url(u) => u.clone(),
            Database::Local => {
                report(
                    host.progress("starting a local PostgreSQL for the round trip")
                        .await,
                )?;
                let wd = setup.workdir.clone();
                let server = tokio::task::spawn_blocking(move || {
                    crate::services::postgres::LocalServer::start(&wd)
                })
                .await
                .map_err(|e| Failure::final_(format!("migrator: {e}")))?
                .map_err(|e| {
                    Failure::final_(format!(
                        "migrator: validate needs a database: {e} (or set migrator.databaseSecret)"
                    ))
                })?;
                let url = server.url.clone();
                _local = server;
                url
            }
        };
        let db = validate::connect(&url).await.map_err(|e| {
            Failure::transient(format!("migrator: the validation database: {e}")).with(&out)
        })?;
        let scratch = format!(
            "devagents_{}_{}",
            setup
                .short_id
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase(),
            setup.attempt
        );
        report(
            host.progress(&format!(
                "validating in the scratch schema {scratch}: fromRef schema, forward, rollback, forward again"
            ))
            .await,
        )?;
        let r = validate::round_trip(&db, &scratch, &from_schema, &to_schema, &steps)
            .await
            .map_err(|e| {
                Failure::final_(format!(
                    "migrator: validation on PostgreSQL failed: {e}; nothing was pushed"
                ))
                .with(&out)
            })?;
        let ok = r.ok;
        let failed: Vec<String> = r
            .phases
            .iter()
            .filter(|p| !p.ok)
            .map(|p| format!("{}: {}", p.name, p.differences.join("; ")))
            .collect();
        report(
            host.progress(&format!(
                "validated on PostgreSQL {}: {}",
                r.server_version,
                if ok {
                    "all four phases agree"
                } else {
                    "differences"
                }
            ))
            .await,
        )?;
        out.validation = Some(r);
        if !ok {
            return Err(Failure::final_(format!(
                "migrator: validation on PostgreSQL found the database differing from the model: {}; nothing was pushed",
                failed.join(" | ")
            ))
            .with(&out));
        }
    }

    // A destructive migration leaves only with people's approval of exactly this SQL.
    if out.destructive && setup.publish {
        let what: Vec<String> = changes
            .iter()
            .filter(|c| c.destructive())
            .map(|c| c.summary.clone())
            .collect();
        let policy = setup
            .approval
            .as_ref()
            .filter(|a| a.policy == ApprovalMode::BeforeActions);
        let Some(policy) = policy else {
            return Err(Failure::final_(format!(
                "migrator: the migration is destructive ({}); it needs spec.approval.policy: before-actions so that people approve its SQL ({}); nothing was pushed",
                what.join("; "),
                out.sql_digest
            ))
            .with(&out));
        };
        report(
            host.progress(&format!(
                "asking for approval of the destructive changes ({})",
                out.sql_digest
            ))
            .await,
        )?;
        let pins = [Pin {
            name: "migrationHash".into(),
            value: out.sql_digest.clone(),
        }];
        let description = format!(
            "migration {} drops data: {}. SQL digest {}",
            params.name,
            what.join("; "),
            out.sql_digest
        );
        let st = host
            .approval(
                DESTRUCTIVE_ACTION,
                &description,
                &pins,
                Duration::from_secs(policy.timeout_seconds.max(60) as u64),
            )
            .await
            .map_err(|e| Failure {
                message: format!("migrator: approval of the destructive changes: {e}"),
                transient: e.transient,
                partial: Some(Box::new(out.clone())),
            })?;
        if st.phase != ApprovalPhase::Approved {
            return Err(Failure::final_(format!(
                "migrator: approval {} of the destructive changes is {:?}{}; nothing was pushed",
                st.name,
                st.phase,
                st.message.map(|m| format!(": {m}")).unwrap_or_default()
            ))
            .with(&out));
        }
        out.approval = Some(st.name);
    }

    // Commit on a branch of its own at toRef, push, open the pull request.
    out.branch = format!(
        "agents/migrator/{}-{}",
        params.name.replace('_', "-"),
        setup.short_id
    );
    let (b2, to_commit, o2, dir2) = (
        out.branch.clone(),
        to.commit.clone(),
        opts.clone(),
        dir.clone(),
    );
    let files_to_write: Vec<(String, String)> = rendered
        .iter()
        .map(|f| (format!("{directory}/{}", f.name), f.text.clone()))
        .collect();
    let title = format!("feat(migrations): {} (devagents migrator)", params.name);
    let publish = setup.publish;
    let commit = blocking(move || {
        let ws = Workspace::open(&dir2, o2)?;
        ws.create_branch_at(&b2, &to_commit)?;
        for (rel, text) in &files_to_write {
            let path = dir2.join(rel);
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)
                    .map_err(|e| crate::services::git::GitError::Git(format!("{rel}: {e}")))?;
            }
            std::fs::write(&path, text)
                .map_err(|e| crate::services::git::GitError::Git(format!("{rel}: {e}")))?;
        }
        let sha = ws.commit_all(&title)?;
        if publish {
            ws.push_since(&b2, &to_commit)?;
        }
        Ok(sha)
    })
    .await
    .map_err(|f| f.with(&out))?;
    out.commit = commit.clone();
    let n = changes.len();
    if !publish {
        out.summary = format!(
            "{}: {n} changes in {} files committed on the local branch {} (not pushed)",
            params.name,
            out.files.len(),
            out.branch
        );
        return Ok(out);
    }
    match &out.approval {
        Some(a) => report(
            host.approved_action("git_push", &out.branch, Some(&out.sql_digest), a)
                .await,
        )?,
        None => report(
            host.action("git_push", &out.branch, Some(&out.sql_digest))
                .await,
        )?,
    }
    let (owner, name) = repo_of(&repo.url).map_err(|e| Failure::final_(e.to_string()))?;
    let token = setup
        .credentials
        .as_ref()
        .map(|c| c.token.clone())
        .ok_or_else(|| {
            Failure::final_("migrator: opening a pull request needs repository.credentialsSecret")
        })?;
    let gh = GitHub::new(&setup.github_api, &token, &owner, &name)
        .map_err(|e| Failure::final_(e.to_string()))?;
    let pr_base = if to_is_branch {
        to.name.clone()
    } else {
        repo.base_branch.clone()
    };
    let body = pr_body(&params.name, &out, &changes);
    let pr = gh
        .create_pull(
            &format!("feat(migrations): {}", params.name),
            &out.branch,
            &pr_base,
            &body,
        )
        .await
        .map_err(|e| {
            Failure::final_(format!("migrator: pushed {}, but {e}", out.branch)).with(&out)
        })?;
    report(host.action("pr_open", &pr.html_url, Some(&commit)).await)?;
    out.summary = format!(
        "{}: {n} changes ({} destructive) in {} files on {}, validated {}, pull request #{}",
        params.name,
        changes.iter().filter(|c| c.destructive()).count(),
        out.files.len(),
        out.branch,
        if out.validation.is_some() {
            "on PostgreSQL"
        } else {
            "not"
        },
        pr.number
    );
    out.pull_request = Some(pr.number);
    out.pull_request_url = Some(pr.html_url);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_default_to_the_base_branch_and_its_last_commit() {
        let mut p = MigratorParams::default();
        assert_eq!(refs(&p, "main"), ("main".into(), "main".into(), true));
        p.to_ref = Some("feature/x".into());
        assert_eq!(refs(&p, "main"), ("main".into(), "feature/x".into(), true));
        p.from_ref = Some("v1.2.0".into());
        assert_eq!(
            refs(&p, "main"),
            ("v1.2.0".into(), "feature/x".into(), false)
        );
    }

    #[test]
    fn the_digest_covers_names_and_text() {
        let f = |n: &str, t: &str| File {
            name: n.into(),
            text: t.into(),
        };
        let a = digest(&[f("1_a.up.sql", "DROP TABLE x;")]);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64, "{a}");
        assert_ne!(a, digest(&[f("1_a.up.sql", "DROP TABLE y;")]));
        assert_ne!(a, digest(&[f("2_a.up.sql", "DROP TABLE x;")]));
        // Moving text between files changes it too.
        assert_ne!(
            digest(&[f("a", "bc"), f("d", "")]),
            digest(&[f("a", "b"), f("cd", "")])
        );
    }

    #[test]
    fn big_results_drop_the_sql_not_the_statements() {
        let c = Change {
            summary: "t.c: new column".into(),
            up: vec!["x".repeat(2000)],
            down: vec!["y".repeat(2000)],
            concurrent: false,
            lints: Vec::new(),
            rollback_loses: None,
            rollback_fails_when: None,
        };
        let o = Outcome {
            statements: vec![c; 40],
            ..Outcome::default()
        };
        let v = result_data(&o);
        assert!(v.to_string().len() <= DATA_BUDGET);
        assert_eq!(v["sqlOmitted"], true);
        assert_eq!(v["statements"].as_array().map(Vec::len), Some(40));
        let small = result_data(&Outcome::default());
        assert!(small.get("sqlOmitted").is_none());
    }

    #[test]
    fn schemas_past_the_limit_are_refused() {
        let big = vec![("a.go".to_string(), "x".repeat(MAX_SCHEMA_BYTES + 1))];
        let e = schema_at("toRef main", &big, false).unwrap_err();
        assert!(e.contains("more than the limit"), "{e}");
    }
}
