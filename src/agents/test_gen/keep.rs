//! Which generated tests are kept, as TestGen-LLM decides, with Go's own tools: a candidate
//! test file is kept only when it builds and passes `go vet`, passes five runs out of five, and
//! raises the package's coverage; a test that still passes when its target's body is replaced
//! by a zero-value return asserts nothing (a mutation check on a copy of the module); a test
//! that fails every run against the current code is a suspected bug, reported with its output
//! and never "fixed" to match the code.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::coverage::{self, Coverage};
use super::gosrc::{self, Func};

/// A generated test file for one target function.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Path of the test file, relative to the module root (`pkg/pricing/clamp_gen_test.go`).
    pub file: String,
    pub code: String,
    /// The function it tests (its body is what the mutation check replaces).
    pub target: Func,
    /// Fixtures it reads, relative to the module root (under the package's `testdata/`).
    pub testdata: Vec<(String, String)>,
}

/// What became of a candidate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Verdict {
    /// Kept: the package's coverage with it.
    Kept { coverage: f64 },
    /// The test file does not compile.
    DoesNotBuild { output: String },
    /// `go vet` refuses it.
    Vet { output: String },
    /// Passed some of five runs and failed others.
    Flaky { passed: u32, runs: u32 },
    /// Fails every run against the current code: a suspected bug in the code (the case is in
    /// the output), left out of the pull request.
    SuspectedBug { output: String },
    /// Raises no coverage.
    NoCoverageGain { coverage: f64 },
    /// Still passes with the target's body replaced by a zero-value return.
    AssertsNothing,
}

impl Verdict {
    pub fn kept(&self) -> bool {
        matches!(self, Verdict::Kept { .. })
    }

    /// The filter that dropped it (`build`, `vet`, `flaky`, `bug`, `coverage`, `mutation`).
    pub fn filter(&self) -> &'static str {
        match self {
            Verdict::Kept { .. } => "kept",
            Verdict::DoesNotBuild { .. } => "build",
            Verdict::Vet { .. } => "vet",
            Verdict::Flaky { .. } => "flaky",
            Verdict::SuspectedBug { .. } => "bug",
            Verdict::NoCoverageGain { .. } => "coverage",
            Verdict::AssertsNothing => "mutation",
        }
    }
}

/// The names of the `Test…` functions of a test file.
pub fn test_names(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| l.strip_prefix("func Test"))
        .filter_map(|rest| rest.split('(').next())
        .map(|n| format!("Test{n}"))
        .collect()
}

fn run_pattern(names: &[String]) -> String {
    format!("^({})$", names.join("|"))
}

/// The last lines of a tool's output (what goes into a result).
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Copy the module at `from` to `to` (the `.git` directory left out).
fn copy_module(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == ".git" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type()?.is_dir() {
            copy_module(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Judge `c` (a test of `package`) in the module at `root` against the coverage so far
/// (`baseline`, of the packages `measured`). A kept test file stays in `root`, and the
/// coverage with it is returned (the caller's next baseline); any other is removed.
/// `scratch` is a directory for the mutation check's copy of the module.
pub async fn judge(
    root: &Path,
    package: &str,
    c: &Candidate,
    baseline: &Coverage,
    measured: &[String],
    scratch: &Path,
) -> Result<(Verdict, Option<Coverage>), String> {
    let path = root.join(&c.file);
    std::fs::write(&path, &c.code).map_err(|e| format!("{}: {e}", c.file))?;
    // Its fixtures, where no file is yet (an existing one is never overwritten).
    let mut written = Vec::new();
    for (rel, content) in &c.testdata {
        let p = root.join(rel);
        if p.exists() {
            continue;
        }
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{rel}: {e}"))?;
        }
        std::fs::write(&p, content).map_err(|e| format!("{rel}: {e}"))?;
        written.push(p);
    }
    let verdict = evaluate(root, package, c, baseline, measured, scratch).await;
    if !matches!(verdict, Ok((Verdict::Kept { .. }, _))) {
        let _ = std::fs::remove_file(&path);
        for p in written {
            let _ = std::fs::remove_file(p);
        }
    }
    verdict
}

async fn evaluate(
    root: &Path,
    package: &str,
    c: &Candidate,
    baseline: &Coverage,
    measured: &[String],
    scratch: &Path,
) -> Result<(Verdict, Option<Coverage>), String> {
    let names = test_names(&c.code);
    if names.is_empty() {
        return Ok((
            Verdict::DoesNotBuild {
                output: format!("{} declares no Test function", c.file),
            },
            None,
        ));
    }
    let pattern = run_pattern(&names);
    // Build the test binary without running anything.
    let (ok, out) = coverage::go(
        root,
        &["test", "-vet=off", "-count=1", "-run", "^$", package],
    )
    .await?;
    if !ok {
        return Ok((Verdict::DoesNotBuild { output: tail(&out) }, None));
    }
    let (ok, out) = coverage::go(root, &["vet", package]).await?;
    if !ok {
        return Ok((Verdict::Vet { output: tail(&out) }, None));
    }
    // Five runs: all fail — a suspected bug; some fail — flaky.
    let (_, out) = coverage::go(
        root,
        &[
            "test", "-vet=off", "-count=5", "-v", "-run", &pattern, package,
        ],
    )
    .await?;
    let runs = 5 * names.len() as u32;
    let passed = names
        .iter()
        .map(|n| out.matches(&format!("--- PASS: {n} ")).count() as u32)
        .sum::<u32>();
    if passed == 0 {
        return Ok((Verdict::SuspectedBug { output: tail(&out) }, None));
    }
    if passed < runs {
        return Ok((Verdict::Flaky { passed, runs }, None));
    }
    // The same packages as the baseline, so the totals compare.
    let with = coverage::measure(root, measured, None).await?;
    if with.total <= baseline.total + 1e-9 {
        return Ok((
            Verdict::NoCoverageGain {
                coverage: with.total,
            },
            None,
        ));
    }
    // The mutation check: the target returning zero values must fail the test.
    let copy: PathBuf = scratch.join("mutant");
    let _ = std::fs::remove_dir_all(&copy);
    copy_module(root, &copy).map_err(|e| format!("copying the module: {e}"))?;
    let src_path = copy.join(&c.target.file);
    let src = std::fs::read_to_string(&src_path).map_err(|e| format!("{}: {e}", c.target.file))?;
    // The body's byte range is from the file as it was parsed; re-parse to be sure.
    let parsed = gosrc::parse(&c.target.file, &src)?;
    let Some(target) = parsed.funcs.iter().find(|f| f.name == c.target.name) else {
        return Err(format!("{} is gone from {}", c.target.name, c.target.file));
    };
    std::fs::write(&src_path, gosrc::zero_body_mutant(&src, target))
        .map_err(|e| format!("writing the mutant: {e}"))?;
    let (survived, _) =
        coverage::go(&copy, &["test", "-count=1", "-run", &pattern, package]).await?;
    let _ = std::fs::remove_dir_all(&copy);
    if survived {
        return Ok((Verdict::AssertsNothing, None));
    }
    Ok((
        Verdict::Kept {
            coverage: with.total,
        },
        Some(with),
    ))
}
