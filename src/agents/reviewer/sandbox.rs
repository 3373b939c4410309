//! Running a pull request's tests where they can reach nothing (issue 14, point 4).
//!
//! A pull request's `go test` runs the pull request's code. In the reviewer's own Pod that
//! code could read the repository token and the agent token, and reach the network. So in a
//! Pod the reviewer does not run it: it packs the checkout (without `.git`) into an artifact
//! and asks the operator (`POST /v1/jobs/{ns}/{name}/sandbox`) for a sandbox Pod: the agent
//! image running `agent-runner sandbox-test`, with no ServiceAccount token, no Secret, no
//! environment from the job, non-root with a read-only root filesystem, the source mounted
//! read-only from the artifact's ConfigMaps, and a NetworkPolicy that denies it all ingress
//! and egress. The result comes back as the Pod's exit code and termination message (the
//! `go test` summary lines), which the operator reads for the reviewer.
//!
//! Run locally (`agent-runner local`, the tests' hosts), the tests run in place: there the
//! code is the user's own checkout on their own machine.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agents::Host;
use crate::api::ArtifactRef;

/// The artifact that carries the checkout.
pub const SOURCE_ARTIFACT: &str = "source";
/// The label that selects sandbox Pods (the deny-all NetworkPolicy's selector).
pub const LABEL_SANDBOX: &str = "devagents.io/sandbox";
/// The NetworkPolicy that isolates sandbox Pods (one per namespace).
pub const NETWORK_POLICY: &str = "devagents-sandbox-deny-all";
/// Where the sandbox Pod mounts the source chunks.
pub const SOURCE_DIR: &str = "/source";
/// Where it unpacks them (an emptyDir).
pub const WORK_DIR: &str = "/work";
/// At most this many packages per run, each path at most this long.
pub const MAX_PACKAGES: usize = 200;
pub const MAX_PACKAGE_LEN: usize = 512;
/// A packed checkout is at most this large (before compression).
pub const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// `POST /sandbox`: run `go test -vet=off -cover` of `packages` on the uploaded source.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxRequest {
    pub source: ArtifactRef,
    pub packages: Vec<String>,
}

/// `GET /sandbox`: how the sandbox Pod is doing.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxState {
    pub pod: String,
    /// Pending, Running, Succeeded or Failed.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The `go test` summary (the Pod's termination message).
    #[serde(default)]
    pub output: String,
}

/// A package path as `go test` gets it: `.` or `./dir/...` with plain characters, no `..`.
pub fn valid_package(p: &str) -> bool {
    (p == "." || p.starts_with("./"))
        && p.len() <= MAX_PACKAGE_LEN
        && !p.split('/').any(|s| s == "..")
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
}

pub fn check_packages(packages: &[String]) -> Result<(), String> {
    if packages.is_empty() || packages.len() > MAX_PACKAGES {
        return Err(format!("packages: 1..{MAX_PACKAGES} entries"));
    }
    match packages.iter().find(|p| !valid_package(p)) {
        Some(p) => Err(format!(
            "packages: {p:?} is not a package path (\".\" or \"./dir\", at most {MAX_PACKAGE_LEN} plain characters, no \"..\")"
        )),
        None => Ok(()),
    }
}

/// The sandbox Pod's name for the job's attempt.
pub fn pod_name(job: &str, attempt: usize) -> String {
    crate::contract::bounded_name(job, &format!("-tests-{attempt}"), 63)
}

/// `program` (a Go tool) in `dir`, offline: no module downloads, no toolchain switch, no VCS
/// stamping, no stdin.
pub fn offline(program: &str, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.current_dir(dir)
        .env("GOFLAGS", "-buildvcs=false")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .stdin(std::process::Stdio::null());
    cmd
}

/// `go test -vet=off -cover PACKAGES` in `root`, offline: `(exit code, stdout)`; None when Go
/// is not installed. With `home`, Go's home, cache and path live there (a sandbox's writable
/// directory: its root filesystem is read-only).
/// The reviewer's `go test -vet=off -cover PACKAGES` of the checkout at `root`: with the
/// agent API (in a Pod, the code a pull request's) in an isolated sandbox Pod the operator
/// starts — pack the checkout, upload it as the `source` artifact, start, wait, remove; without
/// one (a local run, on the user's own checkout) in place. `(exit code, stdout)`, or `None`
/// when Go is not installed.
pub async fn run_tests<H: Host + ?Sized>(
    host: &H,
    root: &Path,
    packages: &[String],
) -> Result<Option<(i32, String)>, String> {
    if !host.agent_api() {
        return Ok(go_test(root, packages, None).await);
    }
    let dir = root.to_path_buf();
    let tar = tokio::task::spawn_blocking(move || pack(&dir))
        .await
        .map_err(|e| e.to_string())??;
    let source = host
        .artifact(SOURCE_ARTIFACT, &tar)
        .await
        .map_err(|e| e.message)?;
    drop(tar);
    let req = SandboxRequest {
        source,
        packages: packages.to_vec(),
    };
    let state = |v: Option<serde_json::Value>| -> Result<SandboxState, String> {
        serde_json::from_value(v.ok_or("an empty sandbox reply")?).map_err(|e| e.to_string())
    };
    let started = state(
        host.call("POST", ROUTE, serde_json::to_value(&req).ok())
            .await
            .map_err(|e| e.message)?,
    )?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(900);
    let mut wait = std::time::Duration::from_millis(200);
    let outcome = loop {
        let st = state(host.call("GET", ROUTE, None).await.map_err(|e| e.message)?)?;
        if st.phase == "Succeeded" || st.phase == "Failed" {
            break Ok(Some((st.exit_code.unwrap_or(-1), st.output)));
        }
        if tokio::time::Instant::now() > deadline {
            break Err(format!(
                "sandbox pod {} did not finish within 900s",
                started.pod
            ));
        }
        // The Pod is the operator's to watch; here a bounded poll.
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(3));
    };
    let _ = host.call("DELETE", ROUTE, None).await;
    outcome
}

/// The reviewer's endpoint of the agent API, below the job's path.
pub const ROUTE: &str = "/sandbox";

pub async fn go_test(
    root: &Path,
    packages: &[String],
    home: Option<&Path>,
) -> Option<(i32, String)> {
    let mut args = vec![
        "test".to_string(),
        "-vet=off".to_string(),
        "-cover".to_string(),
    ];
    args.extend(packages.iter().cloned());
    let mut cmd = offline("go", root);
    cmd.args(&args);
    if let Some(h) = home {
        cmd.env("HOME", h)
            .env("GOCACHE", h.join("go-cache"))
            .env("GOPATH", h.join("go"))
            .env("GOMODCACHE", h.join("go/pkg/mod"));
    }
    let out = cmd.output().await.ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The lines of `go test` output the reviewer uses (`ok`, `FAIL`, `?` per package), at most
/// `max` bytes.
pub fn summary(stdout: &str, max: usize) -> String {
    let mut out = String::new();
    for l in stdout.lines().filter(|l| {
        l.starts_with("ok ") || l.starts_with("ok\t") || l.starts_with("FAIL") || l.starts_with("?")
    }) {
        if out.len() + l.len() + 1 > max {
            break;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Pack the checkout at `root` (every file but `.git`) as a tar archive.
pub fn pack(root: &Path) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut stack = vec![root.to_path_buf()];
    let mut total: u64 = 0;
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).map_err(|e| e.to_string())?;
            let rel = p.strip_prefix(root).map_err(|e| e.to_string())?;
            if meta.is_dir() {
                stack.push(p.clone());
            } else if meta.is_file() {
                total += meta.len();
                if total > MAX_SOURCE_BYTES {
                    return Err(format!(
                        "the checkout is over {MAX_SOURCE_BYTES} bytes: its tests are not run"
                    ));
                }
                b.append_path_with_name(&p, rel)
                    .map_err(|e| format!("{}: {e}", rel.display()))?;
            }
            // Symbolic links are left out: they could point anywhere on the unpacking side.
        }
    }
    b.into_inner().map_err(|e| e.to_string())
}

/// Reassemble the artifact chunks in `source` (files `0000`, `0001`, … as the Pod mounts
/// them), check the digest, and unpack the archive into `dest`.
pub fn unpack(source: &Path, digest: &str, dest: &Path) -> Result<(), String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(source)
        .map_err(|e| format!("{}: {e}", source.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut gz = Vec::new();
    for n in &names {
        gz.extend(std::fs::read(n).map_err(|e| format!("{}: {e}", n.display()))?);
    }
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("the source is not gzip: {e}"))?;
    if raw.len() as u64 > MAX_SOURCE_BYTES {
        return Err(format!("the source is over {MAX_SOURCE_BYTES} bytes"));
    }
    let got = crate::contract::digest(&raw);
    if got != digest {
        return Err(format!("the source's digest is {got}, not {digest}"));
    }
    std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
    // `unpack` refuses entries that would land outside `dest`.
    tar::Archive::new(&raw[..])
        .unpack(dest)
        .map_err(|e| format!("unpacking the source: {e}"))
}

/// `agent-runner sandbox-test`: unpack, test, and report the summary as the termination
/// message. Exit code: go test's (0 passed, 1 failed), 2 when the source is unusable.
pub async fn sandbox_test(source: &Path, digest: &str, work: &Path, packages: &[String]) -> i32 {
    if let Err(e) = check_packages(packages) {
        crate::services::termination::write_termination_message(&e);
        return crate::contract::EXIT_USAGE;
    }
    let dest = work.join("src");
    if let Err(e) = unpack(source, digest, &dest) {
        eprintln!("sandbox-test: {e}");
        crate::services::termination::write_termination_message(&e);
        return crate::contract::EXIT_USAGE;
    }
    match go_test(&dest, packages, Some(work)).await {
        Some((code, stdout)) => {
            print!("{stdout}");
            crate::services::termination::write_termination_message(&summary(
                &stdout,
                crate::contract::TERMINATION_MESSAGE_MAX,
            ));
            code
        }
        None => {
            crate::services::termination::write_termination_message(
                "go is not installed in the agent image",
            );
            crate::contract::EXIT_AGENT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_paths_are_plain_and_stay_inside() {
        assert!(valid_package("."));
        assert!(valid_package("./rpc/internal/logic"));
        for bad in ["../x", "./a/../../b", "-exec=sh", "./a b", "./a;rm", "rpc"] {
            assert!(!valid_package(bad), "{bad}");
        }
        assert!(check_packages(&[]).is_err());
        assert!(check_packages(&vec![".".to_string(); MAX_PACKAGES + 1]).is_err());
    }

    #[test]
    fn a_packed_checkout_unpacks_byte_exact_without_git() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("pkg/a")).unwrap();
        std::fs::create_dir_all(src.path().join(".git")).unwrap();
        std::fs::write(src.path().join("go.mod"), "module x\n").unwrap();
        std::fs::write(src.path().join("pkg/a/a.go"), "package a\n").unwrap();
        std::fs::write(src.path().join(".git/config"), "token=secret\n").unwrap();
        let tar = pack(src.path()).unwrap();
        // As the operator stores it: gzip, cut into chunks, mounted as 0000, 0001, …
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let chunks = tempfile::tempdir().unwrap();
        for (i, c) in gz.chunks(7).enumerate() {
            std::fs::write(chunks.path().join(format!("{i:04}")), c).unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        let digest = crate::contract::digest(&tar);
        unpack(chunks.path(), &digest, out.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.path().join("pkg/a/a.go")).unwrap(),
            "package a\n"
        );
        assert!(!out.path().join(".git").exists());
        // A changed source is refused.
        let e = unpack(chunks.path(), "sha256:00", out.path()).unwrap_err();
        assert!(e.contains("digest"), "{e}");
    }

    #[test]
    fn the_summary_keeps_the_package_lines() {
        let s = summary(
            "=== RUN TestX\nok  \tx/a\t0.01s\tcoverage: 80.0% of statements\n--- FAIL: TestY\nFAIL\tx/b\t0.02s\n?   \tx/c\t[no test files]\n",
            4096,
        );
        assert_eq!(s.lines().count(), 3, "{s}");
        assert!(s.starts_with("ok  \tx/a"));
    }
}
