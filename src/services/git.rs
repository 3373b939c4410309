//! The agents' git workspace (git2): clone with the job's credentials, branch, commit with the
//! agent's identity, push. Two rules hold whatever the agent does:
//! - nothing is ever pushed to the base branch (agents push to branches of their own and
//!   open pull requests);
//! - nothing outside `repository.allowedPaths` is committed or pushed (checked when
//!   committing, and again over the whole base..branch diff before pushing).
//!
//! git2 is blocking; async callers run these methods in `spawn_blocking`.

use std::path::{Path, PathBuf};

use git2::{
    BranchType, Cred, FetchOptions, IndexAddOption, PushOptions, RemoteCallbacks, Repository,
    Signature, StatusOptions, build::RepoBuilder,
};
use globset::{GlobSet, GlobSetBuilder};

pub use crate::contract::CREDENTIALS_DIR;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "refusing to push to the base branch {0:?}: agents push to a branch of their own and open a pull request"
    )]
    BaseBranch(String),
    #[error("refusing changes outside repository.allowedPaths [{allowed}]: {}", .paths.join(", "))]
    OutsideAllowedPaths { paths: Vec<String>, allowed: String },
    #[error("nothing to commit: the workspace has no changes")]
    NothingToCommit,
    #[error("invalid repository.allowedPaths pattern {0:?}: {1}")]
    Pattern(String, String),
    #[error("the push of {0} was refused: {1}")]
    Rejected(String, String),
    #[error("reading the repository credentials: {0}")]
    Credentials(String),
    #[error("git: {0}")]
    Git(String),
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        GitError::Git(crate::services::redact::redact(e.message()).into_owned())
    }
}

/// HTTPS credentials: a token (GitHub: a PAT or an installation token) and the user name
/// to send it with (GitHub accepts any; `x-access-token` is the convention).
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

impl Credentials {
    /// Read a mounted Secret: `token` (required when the directory exists) and `username`.
    /// No directory: no credentials (public or local repositories).
    pub fn from_dir(dir: &Path) -> Result<Option<Credentials>, GitError> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let token = std::fs::read_to_string(dir.join("token")).map_err(|e| {
            GitError::Credentials(format!(
                "the credentials Secret has no readable key \"token\": {e}"
            ))
        })?;
        let username = std::fs::read_to_string(dir.join("username"))
            .map(|u| u.trim().to_string())
            .unwrap_or_else(|_| "x-access-token".into());
        Ok(Some(Credentials {
            username,
            token: token.trim().to_string(),
        }))
    }
}

/// The author and committer of the agents' commits.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    pub fn agent(agent: &str) -> Identity {
        Identity {
            name: format!("devagents {agent}"),
            email: format!("{agent}@agents.devagents.io"),
        }
    }
}

/// The `repository.allowedPaths` globs. Empty: the whole repository. `*` stays inside one
/// directory, `**` crosses them, and a plain directory name (`rpc`) means everything below it.
#[derive(Clone, Debug)]
pub struct AllowedPaths {
    patterns: Vec<String>,
    set: Option<GlobSet>,
}

impl AllowedPaths {
    pub fn new(patterns: &[String]) -> Result<AllowedPaths, GitError> {
        if patterns.is_empty() {
            return Ok(AllowedPaths {
                patterns: Vec::new(),
                set: None,
            });
        }
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            let p = p.trim_start_matches("./").trim_end_matches('/');
            let glob = |s: &str| {
                globset::GlobBuilder::new(s)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| GitError::Pattern(p.to_string(), e.to_string()))
            };
            b.add(glob(p)?);
            if !p.ends_with("**") {
                // A directory pattern covers what is below it.
                b.add(glob(&format!("{p}/**"))?);
            }
        }
        let set = b
            .build()
            .map_err(|e| GitError::Pattern(patterns.join(","), e.to_string()))?;
        Ok(AllowedPaths {
            patterns: patterns.to_vec(),
            set: Some(set),
        })
    }

    pub fn allows(&self, path: &str) -> bool {
        if path.split('/').any(|c| c == ".." || c.is_empty()) {
            return false;
        }
        match &self.set {
            None => true,
            Some(s) => s.is_match(path),
        }
    }

    /// The paths among `paths` that are not allowed.
    pub fn outside<'a>(&self, paths: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        paths
            .into_iter()
            .filter(|p| !self.allows(p))
            .cloned()
            .collect()
    }

    fn describe(&self) -> String {
        self.patterns.join(", ")
    }

    fn check(&self, paths: &[String]) -> Result<(), GitError> {
        let bad = self.outside(paths);
        if bad.is_empty() {
            Ok(())
        } else {
            Err(GitError::OutsideAllowedPaths {
                paths: bad,
                allowed: self.describe(),
            })
        }
    }
}

#[derive(Clone, Debug)]
pub struct WorkspaceOptions {
    pub base_branch: String,
    pub allowed_paths: AllowedPaths,
    pub credentials: Option<Credentials>,
    pub identity: Identity,
}

pub struct Workspace {
    repo: Repository,
    opts: WorkspaceOptions,
}

fn callbacks(creds: Option<&Credentials>) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    let mut tries = 0;
    cb.credentials(move |_url, _user, _allowed| {
        tries += 1;
        match creds {
            // libgit2 asks again after a rejected credential; asking forever would loop.
            Some(c) if tries <= 1 => Cred::userpass_plaintext(&c.username, &c.token),
            Some(_) => Err(git2::Error::from_str(
                "the remote rejected the repository credentials",
            )),
            None => Err(git2::Error::from_str(
                "the remote asks for credentials and the job has no repository.credentialsSecret",
            )),
        }
    });
    cb
}

/// The commit a remote ref points at (`git ls-remote URL REF`), tags peeled; `git_ref` may be
/// a full ref (`refs/tags/v1`) or a short branch or tag name.
pub fn remote_sha(
    url: &str,
    credentials: Option<&Credentials>,
    git_ref: &str,
) -> Result<String, GitError> {
    let mut remote = git2::Remote::create_detached(url)?;
    let conn = remote.connect_auth(git2::Direction::Fetch, Some(callbacks(credentials)), None)?;
    let wanted = [
        git_ref.to_string(),
        format!("refs/tags/{git_ref}"),
        format!("refs/heads/{git_ref}"),
    ];
    let heads = conn.list()?;
    for w in &wanted {
        // An annotated tag's peeled entry (`^{}`) names the commit.
        let peeled = format!("{w}^{{}}");
        if let Some(h) = heads.iter().find(|h| h.name() == peeled) {
            return Ok(h.oid().to_string());
        }
        if let Some(h) = heads.iter().find(|h| h.name() == w) {
            return Ok(h.oid().to_string());
        }
    }
    Err(GitError::Git(format!(
        "{git_ref:?} is neither a branch nor a tag of the repository"
    )))
}

impl Workspace {
    /// Clone `url` (its base branch) into `dir`.
    pub fn clone(url: &str, dir: &Path, opts: WorkspaceOptions) -> Result<Workspace, GitError> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(opts.credentials.as_ref()));
        let repo = RepoBuilder::new()
            .branch(&opts.base_branch)
            .fetch_options(fo)
            .clone(url, dir)?;
        Ok(Workspace { repo, opts })
    }

    /// A workspace over an existing checkout (whose `origin` is the remote).
    pub fn open(dir: &Path, opts: WorkspaceOptions) -> Result<Workspace, GitError> {
        Ok(Workspace {
            repo: Repository::open(dir)?,
            opts,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.repo
            .workdir()
            .unwrap_or_else(|| self.repo.path())
            .to_path_buf()
    }

    pub fn head_sha(&self) -> Result<String, GitError> {
        Ok(self.repo.head()?.peel_to_commit()?.id().to_string())
    }

    /// Create `name` at the base branch's head and check it out.
    pub fn create_branch(&self, name: &str) -> Result<(), GitError> {
        if name == self.opts.base_branch {
            return Err(GitError::BaseBranch(name.into()));
        }
        let base = self
            .repo
            .find_branch(&self.opts.base_branch, BranchType::Local)?
            .get()
            .peel_to_commit()?;
        let branch = self.repo.branch(name, &base, false)?;
        let refname = branch.get().name()?.to_string();
        self.repo.set_head(&refname)?;
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().safe()))?;
        Ok(())
    }

    /// Fetch `refspecs` from origin (e.g. `refs/pull/7/head:refs/remotes/origin/pr/7`) and
    /// check out `rev` detached; returns its commit SHA.
    pub fn fetch_and_checkout(&self, refspecs: &[&str], rev: &str) -> Result<String, GitError> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(self.opts.credentials.as_ref()));
        self.repo
            .find_remote("origin")?
            .fetch(refspecs, Some(&mut fo), None)?;
        let commit = self.repo.revparse_single(rev)?.peel_to_commit()?;
        self.repo.set_head_detached(commit.id())?;
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))?;
        Ok(commit.id().to_string())
    }

    /// Paths changed in the work tree against HEAD (new, modified, deleted, renamed).
    pub fn changed_paths(&self) -> Result<Vec<String>, GitError> {
        let mut so = StatusOptions::new();
        so.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .renames_head_to_index(true);
        let mut out: Vec<String> = Vec::new();
        for e in self.repo.statuses(Some(&mut so))?.iter() {
            for d in [e.head_to_index(), e.index_to_workdir()]
                .into_iter()
                .flatten()
            {
                for f in [d.old_file().path(), d.new_file().path()]
                    .into_iter()
                    .flatten()
                {
                    out.push(f.to_string_lossy().into_owned());
                }
            }
            if let Ok(p) = e.path() {
                out.push(p.to_string());
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Stage everything and commit it as the agent; refuses paths outside allowedPaths
    /// (nothing is committed then) and an empty change. Returns the commit SHA.
    pub fn commit_all(&self, message: &str) -> Result<String, GitError> {
        let changed = self.changed_paths()?;
        if changed.is_empty() {
            return Err(GitError::NothingToCommit);
        }
        self.opts.allowed_paths.check(&changed)?;
        let mut index = self.repo.index()?;
        index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
        index.update_all(["*"], None)?;
        index.write()?;
        let tree = self.repo.find_tree(index.write_tree()?)?;
        let parent = self.repo.head()?.peel_to_commit()?;
        let sig = Signature::now(&self.opts.identity.name, &self.opts.identity.email)?;
        let id = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])?;
        Ok(id.to_string())
    }

    /// The unified diff of `head` against its merge base with `base` (what a pull request of
    /// `head` into `base` shows), as `git diff base...head` prints it.
    pub fn unified_diff(&self, base: &str, head: &str) -> Result<String, GitError> {
        let head = self.repo.revparse_single(head)?.peel_to_commit()?;
        let base = self.repo.revparse_single(base)?.peel_to_commit()?;
        let merge_base = self.repo.merge_base(base.id(), head.id())?;
        let from = self.repo.find_commit(merge_base)?.tree()?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&from), Some(&head.tree()?), None)?;
        let mut out = String::new();
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                out.push(line.origin());
            }
            out.push_str(&String::from_utf8_lossy(line.content()));
            true
        })?;
        Ok(out)
    }

    /// Paths that differ between the base branch and `branch`.
    pub fn paths_changed_since_base(&self, branch: &str) -> Result<Vec<String>, GitError> {
        let base = self
            .repo
            .find_branch(&self.opts.base_branch, BranchType::Local)?
            .get()
            .peel_to_tree()?;
        let head = self
            .repo
            .find_branch(branch, BranchType::Local)?
            .get()
            .peel_to_tree()?;
        self.paths_between(&base, &head)
    }

    /// Paths that differ between two trees (old and new names of renames), sorted.
    fn paths_between(&self, a: &git2::Tree, b: &git2::Tree) -> Result<Vec<String>, GitError> {
        let diff = self.repo.diff_tree_to_tree(Some(a), Some(b), None)?;
        let mut out = Vec::new();
        for d in diff.deltas() {
            for f in [d.old_file().path(), d.new_file().path()]
                .into_iter()
                .flatten()
            {
                out.push(f.to_string_lossy().into_owned());
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Fetch `refspecs` from origin (nothing is checked out).
    pub fn fetch(&self, refspecs: &[&str]) -> Result<(), GitError> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(self.opts.credentials.as_ref()));
        self.repo
            .find_remote("origin")?
            .fetch(refspecs, Some(&mut fo), None)?;
        Ok(())
    }

    /// The commit `rev` names (a SHA, `origin/<branch>`, a tag, `main~1` …).
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        Ok(self
            .repo
            .revparse_single(rev)?
            .peel_to_commit()?
            .id()
            .to_string())
    }

    /// The files below `dir` in commit `rev` whose names end in `suffix`, as text, sorted by
    /// path: at most `max_files`, each at most `max_bytes` (more is an error naming the file).
    pub fn files_at(
        &self,
        rev: &str,
        dir: &str,
        suffix: &str,
        max_files: usize,
        max_bytes: usize,
    ) -> Result<Vec<(String, String)>, GitError> {
        let tree = self.repo.revparse_single(rev)?.peel_to_commit()?.tree()?;
        let sub = match tree.get_path(Path::new(dir)) {
            Ok(e) => e.to_object(&self.repo)?.peel_to_tree()?,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        let mut problem = None;
        sub.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            let name = entry.name().unwrap_or_default();
            if entry.kind() != Some(git2::ObjectType::Blob) || !name.ends_with(suffix) {
                return git2::TreeWalkResult::Ok;
            }
            let path = format!("{dir}/{root}{name}");
            let text = entry
                .to_object(&self.repo)
                .ok()
                .and_then(|o| o.peel_to_blob().ok())
                .map(|b| (b.size(), String::from_utf8(b.content().to_vec()).ok()));
            problem = match text {
                _ if out.len() >= max_files => {
                    Some(format!("{dir} has more than {max_files} {suffix} files"))
                }
                Some((size, _)) if size > max_bytes => Some(format!(
                    "{path} is {size} bytes, more than the limit of {max_bytes}"
                )),
                Some((_, Some(t))) => {
                    out.push((path, t));
                    None
                }
                _ => Some(format!("{path} is not UTF-8 text")),
            };
            if problem.is_some() {
                git2::TreeWalkResult::Abort
            } else {
                git2::TreeWalkResult::Ok
            }
        })
        .or_else(|e| if problem.is_some() { Ok(()) } else { Err(e) })?;
        if let Some(p) = problem {
            return Err(GitError::Git(p));
        }
        out.sort();
        Ok(out)
    }

    /// The commits reachable from `head` and not from `base`, oldest first, as (SHA, subject,
    /// body); at most `max` (more is an error).
    pub fn commits_between(
        &self,
        base: &str,
        head: &str,
        max: usize,
    ) -> Result<Vec<(String, String, String)>, GitError> {
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        walk.push(self.repo.revparse_single(head)?.peel_to_commit()?.id())?;
        walk.hide(self.repo.revparse_single(base)?.peel_to_commit()?.id())?;
        let mut out = Vec::new();
        for oid in walk {
            if out.len() >= max {
                return Err(GitError::Git(format!(
                    "more than {max} commits between {base} and {head}"
                )));
            }
            let c = self.repo.find_commit(oid?)?;
            let msg = c.message().unwrap_or_default();
            let (subject, body) = msg.split_once('\n').unwrap_or((msg, ""));
            out.push((
                c.id().to_string(),
                subject.trim().to_string(),
                body.trim().to_string(),
            ));
        }
        Ok(out)
    }

    /// The best common ancestor of two commits.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<String, GitError> {
        let (a, b) = (self.resolve(a)?, self.resolve(b)?);
        let id = self
            .repo
            .merge_base(git2::Oid::from_str(&a)?, git2::Oid::from_str(&b)?)?;
        Ok(id.to_string())
    }

    /// Is commit `a` `b` or an ancestor of it?
    pub fn contains(&self, b: &str, a: &str) -> Result<bool, GitError> {
        let (a, b) = (self.resolve(a)?, self.resolve(b)?);
        if a == b {
            return Ok(true);
        }
        Ok(self
            .repo
            .graph_descendant_of(git2::Oid::from_str(&b)?, git2::Oid::from_str(&a)?)?)
    }

    /// The text of `path` in commit `rev` (None: no such file), at most `max_bytes`.
    pub fn file_at(
        &self,
        rev: &str,
        path: &str,
        max_bytes: usize,
    ) -> Result<Option<String>, GitError> {
        let tree = self.repo.revparse_single(rev)?.peel_to_commit()?.tree()?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let blob = entry.to_object(&self.repo)?.peel_to_blob()?;
        if blob.size() > max_bytes {
            return Err(GitError::Git(format!(
                "{path} is {} bytes, more than the limit of {max_bytes}",
                blob.size()
            )));
        }
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| GitError::Git(format!("{path} is not UTF-8 text")))
    }

    /// Create branch `name` at commit `rev` and check it out (a branch that does not start
    /// at the base branch, e.g. a change on top of a feature branch).
    pub fn create_branch_at(&self, name: &str, rev: &str) -> Result<(), GitError> {
        if name == self.opts.base_branch {
            return Err(GitError::BaseBranch(name.into()));
        }
        let commit = self.repo.revparse_single(rev)?.peel_to_commit()?;
        let branch = self.repo.branch(name, &commit, false)?;
        let refname = branch.get().name()?.to_string();
        self.repo.set_head(&refname)?;
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))?;
        Ok(())
    }

    /// Push `branch`, which started at commit `start`: refused when the changes since
    /// `start` reach outside allowedPaths (the base branch is refused as always).
    pub fn push_since(&self, branch: &str, start: &str) -> Result<(), GitError> {
        let short = branch.trim_start_matches("refs/heads/");
        if short == self.opts.base_branch {
            return Err(GitError::BaseBranch(short.into()));
        }
        let from = self.repo.revparse_single(start)?.peel_to_tree()?;
        let head = self
            .repo
            .find_branch(short, BranchType::Local)?
            .get()
            .peel_to_tree()?;
        self.opts
            .allowed_paths
            .check(&self.paths_between(&from, &head)?)?;
        self.push_ref(short)
    }

    /// Push `branch` to origin under the same name. Refuses the base branch and a branch
    /// whose changes since the base reach outside allowedPaths.
    pub fn push(&self, branch: &str) -> Result<(), GitError> {
        let short = branch.trim_start_matches("refs/heads/");
        if short == self.opts.base_branch {
            return Err(GitError::BaseBranch(short.into()));
        }
        self.opts
            .allowed_paths
            .check(&self.paths_changed_since_base(short)?)?;
        self.push_ref(short)
    }

    /// Push the base branch itself — only for GitOps environments configured for direct
    /// commits (`gitops.push: direct`); still only changes inside allowedPaths, compared
    /// with the remote's base branch.
    pub fn push_base_direct(&self) -> Result<(), GitError> {
        let base = self.opts.base_branch.clone();
        let remote = self
            .repo
            .find_reference(&format!("refs/remotes/origin/{base}"))?
            .peel_to_tree()?;
        let local = self
            .repo
            .find_branch(&base, BranchType::Local)?
            .get()
            .peel_to_tree()?;
        self.opts
            .allowed_paths
            .check(&self.paths_between(&remote, &local)?)?;
        self.push_ref(&base)
    }

    fn push_ref(&self, short: &str) -> Result<(), GitError> {
        let mut rejected: Option<(String, String)> = None;
        {
            let mut cb = callbacks(self.opts.credentials.as_ref());
            cb.push_update_reference(|refname, status| {
                if let Some(s) = status {
                    rejected = Some((refname.to_string(), s.to_string()));
                }
                Ok(())
            });
            let mut po = PushOptions::new();
            po.remote_callbacks(cb);
            let spec = format!("refs/heads/{short}:refs/heads/{short}");
            self.repo
                .find_remote("origin")?
                .push(&[spec.as_str()], Some(&mut po))
                .map_err(|e| {
                    GitError::Rejected(
                        format!("refs/heads/{short}"),
                        crate::services::redact::redact(e.message()).into_owned(),
                    )
                })?;
        }
        match rejected {
            Some((r, why)) => Err(GitError::Rejected(r, why)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &[&str]) -> AllowedPaths {
        AllowedPaths::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn allowed_path_globs() {
        let a = allowed(&["rpc/**", "api/desc/*.api", "docs"]);
        assert!(a.allows("rpc/ent/schema/department.go"));
        assert!(a.allows("api/desc/core.api"));
        assert!(
            !a.allows("api/desc/core/department.api"),
            "* stays in one directory"
        );
        assert!(a.allows("docs/index.md"));
        assert!(a.allows("docs"));
        assert!(!a.allows("Makefile"));
        assert!(!a.allows("rpc/../Makefile"));
        assert_eq!(
            a.outside(&["rpc/x.go".to_string(), "go.mod".to_string()]),
            vec!["go.mod".to_string()]
        );
        let all = allowed(&[]);
        assert!(all.allows("anything/at/all.go"));
    }

    #[test]
    fn bad_pattern_is_a_clear_error() {
        let e = AllowedPaths::new(&["rpc/[".to_string()]).unwrap_err();
        assert!(e.to_string().contains("rpc/["), "{e}");
    }

    #[test]
    fn credentials_from_a_mounted_secret() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            Credentials::from_dir(&d.path().join("missing"))
                .unwrap()
                .is_none()
        );
        std::fs::write(d.path().join("token"), "ghp_abc\n").unwrap();
        let c = Credentials::from_dir(d.path()).unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.token.as_str()),
            ("x-access-token", "ghp_abc")
        );
        assert!(!format!("{c:?}").contains("ghp_abc"));
    }
}
