//! A real git server on loopback for tests and the demo: Git's own `git http-backend` (smart
//! HTTP, fetch and push) behind a small HTTP front that asks for Basic credentials, like a
//! git host does. Repositories are bare repositories under one root directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use tokio::io::AsyncWriteExt;

pub struct GitServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    _served: super::Served,
}

struct Front {
    root: PathBuf,
    /// (user, password) required for every request; None: anonymous.
    auth: Option<(String, String)>,
}

impl GitServer {
    /// Serve the bare repositories under `root`; with `auth`, every request needs it.
    pub async fn start(root: &Path, auth: Option<(&str, &str)>) -> std::io::Result<GitServer> {
        let front = Arc::new(Front {
            root: root.to_path_buf(),
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(front)
            .layer(axum::extract::DefaultBodyLimit::disable());
        let served = super::serve(app).await?;
        Ok(GitServer {
            addr: served.addr,
            root: root.to_path_buf(),
            _served: served,
        })
    }

    /// The clone URL of `<root>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}.git", self.addr)
    }
}

fn status(code: StatusCode, msg: &str) -> Response {
    let mut r = Response::new(Body::from(msg.to_string()));
    *r.status_mut() = code;
    r
}

async fn handle(
    State(f): State<Arc<Front>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some((user, pass)) = &f.auth {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
            let mut r = status(StatusCode::UNAUTHORIZED, "authentication required");
            r.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Basic realm=\"git\""),
            );
            return r;
        }
    }
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &f.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        // receive-pack (push) is enabled for authenticated users.
        .env(
            "REMOTE_USER",
            f.auth.as_ref().map(|a| a.0.as_str()).unwrap_or("anonymous"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body).await;
    }
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    cgi_response(&out.stdout)
}

/// Turn a CGI response (headers, blank line, body) into an HTTP response.
fn cgi_response(raw: &[u8]) -> Response {
    let (head, body) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match raw.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => return status(StatusCode::BAD_GATEWAY, "git http-backend said nothing"),
        },
    };
    let mut r = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            let code = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
            *r.status_mut() = code;
        } else if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

/// `git` in `dir`, failing with its output.
pub fn git(dir: &Path, args: &[&str]) -> std::io::Result<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One commit on `branch` of the bare repository `bare` (made from `from`, another branch,
/// when `branch` does not exist yet), writing `files`.
pub fn commit_files(
    bare: &Path,
    branch: &str,
    from: &str,
    files: &[(String, String)],
    message: &str,
) -> std::io::Result<()> {
    commit_in_clone(bare, branch, from, None, files, message)
}

/// In a clone of `bare`: `branch` (made from `from` when it does not exist yet), `replace`
/// removed, `files` written, committed as `message` and pushed.
fn commit_in_clone(
    bare: &Path,
    branch: &str,
    from: &str,
    replace: Option<&str>,
    files: &[(String, String)],
    message: &str,
) -> std::io::Result<()> {
    let parent = bare.parent().unwrap_or(bare);
    let seed = parent.join(format!(
        ".commit-{}",
        branch.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    ));
    let _ = std::fs::remove_dir_all(&seed);
    let (bare_s, seed_s) = (
        bare.to_str().unwrap_or_default(),
        seed.to_str().unwrap_or_default(),
    );
    git(parent, &["clone", "-q", bare_s, seed_s])?;
    if git(&seed, &["checkout", "-q", branch]).is_err() {
        git(
            &seed,
            &["checkout", "-q", "-b", branch, &format!("origin/{from}")],
        )?;
    }
    if let Some(dir) = replace {
        let _ = std::fs::remove_dir_all(seed.join(dir));
    }
    for (path, content) in files {
        let p = seed.join(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, content)?;
    }
    git(&seed, &["add", "-A"])?;
    git(&seed, &["commit", "-q", "-m", message])?;
    git(&seed, &["push", "-q", "origin", branch])?;
    std::fs::remove_dir_all(&seed)
}

/// The branches of the bare repository `bare`.
pub fn branches(bare: &Path) -> Vec<String> {
    git(
        bare,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
    )
    .unwrap_or_default()
    .lines()
    .map(str::to_string)
    .collect()
}

/// Create the bare repository `<root>/<name>.git` holding `files` in one commit on `branch`.
pub fn bare_repo_with(
    root: &Path,
    name: &str,
    branch: &str,
    files: &[(&str, &str)],
) -> std::io::Result<PathBuf> {
    let bare = root.join(format!("{name}.git"));
    let seed = root.join(format!(".seed-{name}"));
    std::fs::create_dir_all(&seed)?;
    git(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            branch,
            bare.to_str().unwrap_or_default(),
        ],
    )?;
    git(&seed, &["init", "-q", "-b", branch])?;
    for (path, content) in files {
        let p = seed.join(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, content)?;
    }
    git(&seed, &["add", "-A"])?;
    git(&seed, &["commit", "-q", "-m", "initial"])?;
    git(
        &seed,
        &["push", "-q", bare.to_str().unwrap_or_default(), branch],
    )?;
    std::fs::remove_dir_all(&seed)?;
    Ok(bare)
}

/// Add `branch` to the bare repository `bare`, one commit on top of `base`: `dir` replaced by
/// `files` (paths relative to the repository).
pub fn push_branch(
    bare: &Path,
    base: &str,
    branch: &str,
    dir: &str,
    files: &[(String, String)],
    message: &str,
) -> std::io::Result<()> {
    commit_in_clone(bare, branch, base, Some(dir), files, message)
}
