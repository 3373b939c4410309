//! The test generator's run in a workspace: clone, measure the target packages' coverage with
//! Go's own tools, then in rounds ask for a table-driven test of each function still below
//! full coverage (through the gateway; without a provider, characterization tests), keep a
//! test only when [`keep`] says so, and stop at the coverage target or after `maxRounds`.
//! The kept tests are committed on a branch of their own and pushed, with a pull request that
//! lists the coverage before and after, what was dropped and why, and the suspected bugs.
//! Anything that fails before the push fails the job with nothing pushed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::characterize;
use super::coverage::{self, Coverage};
use super::gosrc::{self, Func};
use super::keep::{self, Candidate, Verdict};
use crate::api::{Repository, TestGenParams};
use crate::llm::gateway::CompletionRequest;
use crate::services::git::{AllowedPaths, Credentials, Identity, Workspace, WorkspaceOptions};

pub use crate::agents::Host;

/// The coverage target when `coverageTarget` is not set (the plan's 70 %).
pub const DEFAULT_TARGET: f64 = 70.0;
pub const DEFAULT_ROUNDS: i32 = 3;
/// Limits: functions asked about per round, bytes of a generated test file, bytes of the
/// existing tests and conventions given to the LLM.
pub const MAX_TARGETS: usize = 40;
pub const MAX_TEST_BYTES: usize = 64 * 1024;
pub const MAX_CONTEXT_BYTES: usize = 24 * 1024;
/// The repository's own test conventions, given to the LLM when present.
pub const CONVENTIONS_FILE: &str = ".devagents/test-conventions.md";

pub struct Setup {
    pub workdir: PathBuf,
    pub github_api: String,
    pub credentials: Option<Credentials>,
    pub short_id: String,
    pub publish: bool,
}

/// A function's coverage before and after.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FuncCoverage {
    pub package: String,
    pub function: String,
    pub before: f64,
    pub after: f64,
}

/// A generated test and what became of it.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Judged {
    pub round: i32,
    pub function: String,
    pub file: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub summary: String,
    pub coverage_before: f64,
    pub coverage_after: f64,
    pub target: f64,
    pub packages: BTreeMap<String, (f64, f64)>,
    pub functions: Vec<FuncCoverage>,
    pub tests: Vec<Judged>,
    /// Kept per filter: `kept`, `build`, `vet`, `flaky`, `bug`, `coverage`, `mutation`.
    pub by_filter: BTreeMap<String, usize>,
    pub rounds: i32,
    /// No LLM: the kept tests are characterization tests (labelled so).
    pub characterization: bool,
    pub branch: String,
    pub commit: String,
    pub pull_request: Option<u64>,
    pub pull_request_url: Option<String>,
}

pub use crate::agents::step::RunFailure as Failure;
use crate::agents::step::{fail, reported as report};

/// What the LLM answers for one function: a complete `_test.go` file.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GeneratedTest {
    /// The function the tests are for (`Discount`, `GetItemLogic.GetItem`).
    pub function: String,
    /// The whole `_test.go` file, package clause included.
    pub code: String,
    /// Fixture files the test reads from the package's `testdata/` directory.
    #[serde(default)]
    pub testdata: Vec<TestdataFile>,
}

/// A fixture under `testdata/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TestdataFile {
    /// A plain file name (`order.json`): no directories.
    pub name: String,
    pub content: String,
}

/// Limits on fixtures: files per test, bytes each.
pub const MAX_TESTDATA_FILES: usize = 8;
pub const MAX_TESTDATA_BYTES: usize = 256 * 1024;

/// The fixtures of an answer as (path relative to the module root, content), or why not.
fn testdata_of(pkg: &str, files: &[TestdataFile]) -> Result<Vec<(String, String)>, String> {
    if files.len() > MAX_TESTDATA_FILES {
        return Err(format!("more than {MAX_TESTDATA_FILES} testdata files"));
    }
    let dir = pkg.trim_start_matches("./").trim_end_matches('/');
    files
        .iter()
        .map(|f| {
            let ok = !f.name.is_empty()
                && f.name.len() <= 100
                && !f.name.starts_with('.')
                && f.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                return Err(format!(
                    "testdata file name {:?} is not a plain file name",
                    f.name
                ));
            }
            if f.content.len() > MAX_TESTDATA_BYTES {
                return Err(format!(
                    "testdata file {} is over {MAX_TESTDATA_BYTES} bytes",
                    f.name
                ));
            }
            Ok((format!("{dir}/testdata/{}", f.name), f.content.clone()))
        })
        .collect()
}

const SYSTEM: &str = "You write Go unit tests that find bugs. Table-driven tests with t.Run, covering the happy path, every error path and the edge cases. Every case asserts the exact result. Never assert what the code does if it contradicts what the function's name and comment promise: such a test is how a bug is found. Interface dependencies get a small hand-written fake in the test file (or go.uber.org/mock when the module already uses it); go-zero logic gets a ServiceContext built from fakes. Only the standard library and the module's own packages. Name the test functions Test<Function>...";

/// The `./pkg` spelling of a package directory.
fn dotted(p: &str) -> String {
    format!("./{}", p.trim_start_matches("./").trim_end_matches('/'))
}

/// The package's functions (non-test `.go` files), or why there are none to test.
/// A target package, read once: its directory (`./pkg/a`), name, functions and interface types.
struct Package {
    dir: String,
    name: String,
    funcs: Vec<Func>,
    interfaces: Vec<(String, Vec<String>)>,
}

/// The package at `pkg` (`./pkg/a`), or why there is nothing to test there.
fn package(root: &Path, pkg: &str) -> Result<Package, Failure> {
    let dir = root.join(pkg.trim_start_matches("./"));
    let entries = std::fs::read_dir(&dir).map_err(|_| {
        fail(format!(
            "test-gen: {pkg} is not a directory of the repository (testGen.packages)"
        ))
    })?;
    let mut package = String::new();
    let mut funcs = Vec::new();
    let mut interfaces = Vec::new();
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "go") && !p.to_string_lossy().ends_with("_test.go")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fail(format!("test-gen: {pkg} has no Go files")));
    }
    for path in files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let src = std::fs::read_to_string(&path).map_err(|e| fail(format!("{rel}: {e}")))?;
        let g = gosrc::parse(&rel, &src).map_err(|e| fail(format!("test-gen: {e}")))?;
        package = g.package;
        funcs.extend(g.funcs);
        interfaces.extend(g.interfaces);
    }
    if funcs.is_empty() {
        return Err(fail(format!(
            "test-gen: {pkg} declares no functions to test"
        )));
    }
    Ok(Package {
        dir: pkg.to_string(),
        name: package,
        funcs,
        interfaces,
    })
}

/// Every directory under `under` (relative to `root`; empty: the root) with non-test Go
/// files, as `go test ./under/...` sees them (hidden directories, `testdata` and `vendor` left
/// out).
fn package_dirs(root: &Path, under: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(under)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut has_go = false;
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.')
                    && !name.starts_with('_')
                    && name != "testdata"
                    && name != "vendor"
                {
                    stack.push(p);
                }
            } else if name.ends_with(".go") && !name.ends_with("_test.go") {
                has_go = true;
            }
        }
        if has_go && let Ok(rel) = dir.strip_prefix(root) {
            let rel = rel.to_string_lossy().into_owned();
            out.push(if rel.is_empty() { ".".into() } else { rel });
        }
    }
    out.sort();
    out
}

/// The existing tests and conventions the LLM is given (the package's test style).
fn style(root: &Path, pkg: &str) -> String {
    let mut out = String::new();
    if let Ok(c) = std::fs::read_to_string(root.join(CONVENTIONS_FILE)) {
        out.push_str(&format!("The repository's test conventions:\n{c}\n\n"));
    }
    let dir = root.join(pkg.trim_start_matches("./"));
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.to_string_lossy().ends_with("_test.go")
            && !p.to_string_lossy().ends_with("_gen_test.go")
            && let Ok(t) = std::fs::read_to_string(&p)
        {
            out.push_str(&format!(
                "An existing test file ({}):\n{t}\n\n",
                p.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        if out.len() > MAX_CONTEXT_BYTES {
            break;
        }
    }
    out.chars().take(MAX_CONTEXT_BYTES).collect()
}

/// `snake` of a function name for a file name (`GetItemLogic.GetItem` → `get_item_logic_get_item`).
fn file_stem(name: &str) -> String {
    crate::agents::generator::model::snake(&name.replace('.', ""))
}

/// A free test file name in the package for `f`.
fn test_file(root: &Path, pkg: &str, f: &str, suffix: &str) -> String {
    let dir = pkg.trim_start_matches("./").trim_end_matches('/');
    let stem = file_stem(f);
    for i in 1.. {
        let name = if i == 1 {
            format!("{dir}/{stem}_{suffix}_test.go")
        } else {
            format!("{dir}/{stem}_{suffix}{i}_test.go")
        };
        if !root.join(&name).exists() {
            return name;
        }
    }
    unreachable!()
}

/// A package's total coverage: `all`'s, when it is the only package measured; else measured.
async fn package_total(
    root: &Path,
    packages: &[Package],
    dir: &str,
    all: &Coverage,
) -> Result<f64, Failure> {
    if packages.len() == 1 {
        return Ok(all.total);
    }
    coverage::measure(root, &[dir.to_string()], None)
        .await
        .map(|c| c.total)
        .map_err(|e| fail(format!("test-gen: {dir}: {e}")))
}

/// The whole run.
pub async fn run<H: Host + ?Sized>(
    host: &H,
    repo: &Repository,
    p: &TestGenParams,
    setup: &Setup,
) -> Result<Outcome, Failure> {
    let target = p.coverage_target.map_or(DEFAULT_TARGET, f64::from);
    let rounds = p.max_rounds.unwrap_or(DEFAULT_ROUNDS).clamp(1, 10);
    let opts = WorkspaceOptions {
        base_branch: repo.base_branch.clone(),
        allowed_paths: AllowedPaths::new(&repo.allowed_paths).map_err(|e| fail(e.to_string()))?,
        credentials: setup.credentials.clone(),
        identity: Identity::agent("test-gen"),
    };
    let branch = format!("agents/test-gen/{}", setup.short_id);
    let (url, dir, o2, b2) = (
        repo.url.clone(),
        setup.workdir.join("repo"),
        opts.clone(),
        branch.clone(),
    );
    let dir2 = dir.clone();
    tokio::task::spawn_blocking(move || {
        let ws = Workspace::clone(&url, &dir2, o2)?;
        ws.create_branch(&b2)
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(|e| fail(format!("test-gen: {e}")))?;
    let root = dir;
    if !root.join("go.mod").exists() {
        return Err(fail("test-gen: the repository has no go.mod at its root"));
    }
    // The packages and their functions (`dir/...`: every package under dir that has some).
    let mut packages: Vec<Package> = Vec::new();
    for pkg in &p.packages {
        let pattern = pkg.trim_start_matches("./");
        match pattern.strip_suffix("...") {
            Some(under) => {
                for d in package_dirs(&root, under.trim_end_matches('/')) {
                    if !packages.iter().any(|x| x.dir == dotted(&d))
                        && let Ok(found) = package(&root, &dotted(&d))
                    {
                        packages.push(found);
                    }
                }
                if packages.is_empty() {
                    return Err(fail(format!(
                        "test-gen: no Go package with functions under {pkg}"
                    )));
                }
            }
            None => packages.push(package(&root, &dotted(pattern))?),
        }
    }
    let pkg_list: Vec<String> = packages.iter().map(|x| x.dir.clone()).collect();
    report(
        host.progress(&format!(
            "measuring the coverage of {}",
            pkg_list.join(", ")
        ))
        .await,
    )?;
    let before = coverage::measure(&root, &pkg_list, None)
        .await
        .map_err(|e| {
            fail(format!(
                "test-gen: {} does not build or its tests fail:\n{}",
                pkg_list.join(", "),
                e.lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            ))
        })?;
    let mut out = Outcome {
        coverage_before: before.total,
        target,
        branch: branch.clone(),
        ..Outcome::default()
    };
    for Package { dir: d, .. } in &packages {
        let t = package_total(&root, &packages, d, &before).await?;
        out.packages.insert(d.clone(), (t, t));
    }
    let wanted = |f: &Func| {
        if p.functions.is_empty() {
            // Exported functions, and the exported methods of any type.
            f.name
                .rsplit('.')
                .next()
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
        } else {
            p.functions.contains(&f.name)
        }
    };
    let scratch = setup.workdir.join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| fail(format!("scratch: {e}")))?;
    let mut cov = before.clone();
    let mut tried: BTreeMap<String, i32> = BTreeMap::new();
    // Does the LLM answer at all? Without it, characterization tests, once.
    let mut llm = true;
    for round in 1..=rounds {
        if cov.total >= target {
            break;
        }
        out.rounds = round;
        let mut progressed = false;
        for Package {
            dir: d,
            name,
            funcs,
            interfaces,
        } in &packages
        {
            let mut todo: Vec<&Func> = funcs
                .iter()
                .filter(|f| wanted(f))
                .filter(|f| cov.of(&f.file, f.line).unwrap_or(0.0) < 100.0)
                .collect();
            todo.sort_by(|a, b| {
                cov.of(&a.file, a.line)
                    .unwrap_or(0.0)
                    .total_cmp(&cov.of(&b.file, b.line).unwrap_or(0.0))
                    .then(a.name.cmp(&b.name))
            });
            todo.truncate(MAX_TARGETS);
            if !llm {
                break;
            }
            let style = style(&root, d);
            let gomock = std::fs::read_to_string(root.join("go.mod"))
                .is_ok_and(|m| m.contains("go.uber.org/mock"));
            for f in todo {
                if cov.total >= target {
                    break;
                }
                let src = std::fs::read_to_string(root.join(&f.file)).unwrap_or_default();
                let deps = gosrc::interface_params(f, interfaces);
                let deps = if deps.is_empty() {
                    String::new()
                } else {
                    let how = if gomock {
                        "the module uses go.uber.org/mock: use mocks generated the way mockgen does, from it"
                    } else {
                        "write a small hand-written fake of each in the test file"
                    };
                    let decl: Vec<String> = interfaces
                        .iter()
                        .filter(|(n, _)| deps.contains(&n.as_str()))
                        .map(|(n, m)| format!("type {n} interface {{ {} }}", m.join("; ")))
                        .collect();
                    format!(
                        "Its interface dependencies ({how}):\n{}\n\n",
                        decl.join("\n")
                    )
                };
                let ask = format!(
                    "Write the Go test file for the function {} of package {name} ({}), currently {:.0}% covered.\n\nIts signature: {}\n\n{deps}Its file:\n{}\n\n{style}Fixtures the test reads go in `testdata` (plain file names; the test opens testdata/<name>). Earlier attempts at it this run: {}.",
                    f.name,
                    f.file,
                    cov.of(&f.file, f.line).unwrap_or(0.0),
                    f.signature,
                    src.chars().take(MAX_CONTEXT_BYTES).collect::<String>(),
                    tried.get(&f.name).copied().unwrap_or(0)
                );
                let answer = crate::llm::structured::complete_typed::<GeneratedTest, _, _>(
                    &ask,
                    |prompt: String| async move {
                        let req = CompletionRequest::user(SYSTEM, prompt, 4096);
                        match host.llm(&req).await {
                            Ok(Ok(t)) => Ok(t),
                            Ok(Err(skipped)) => Err(format!("skipped: {skipped}")),
                            Err(e) => Err(e.to_string()),
                        }
                    },
                )
                .await;
                let g = match answer {
                    Ok(g) => g,
                    Err(crate::llm::structured::StructuredError::Call(e))
                        if e.starts_with("skipped:") =>
                    {
                        llm = false;
                        break;
                    }
                    Err(e) => {
                        out.tests.push(Judged {
                            round,
                            function: f.name.clone(),
                            file: String::new(),
                            verdict: Verdict::DoesNotBuild {
                                output: format!("no usable answer: {e}"),
                            },
                        });
                        continue;
                    }
                };
                *tried.entry(f.name.clone()).or_default() += 1;
                // The test is for the function it names, if the package has it.
                let tf = funcs
                    .iter()
                    .find(|x| x.name == g.function)
                    .unwrap_or(f)
                    .clone();
                let file = test_file(&root, d, &tf.name, "gen");
                if g.code.len() > MAX_TEST_BYTES {
                    out.tests.push(Judged {
                        round,
                        function: tf.name.clone(),
                        file,
                        verdict: Verdict::DoesNotBuild {
                            output: format!("the test file is over {MAX_TEST_BYTES} bytes"),
                        },
                    });
                    continue;
                }
                let testdata = match testdata_of(d, &g.testdata) {
                    Ok(t) => t,
                    Err(e) => {
                        out.tests.push(Judged {
                            round,
                            function: tf.name.clone(),
                            file,
                            verdict: Verdict::DoesNotBuild { output: e },
                        });
                        continue;
                    }
                };
                let c = Candidate {
                    file: file.clone(),
                    code: g.code,
                    target: tf.clone(),
                    testdata,
                };
                let (v, with) = keep::judge(&root, d, &c, &cov, &pkg_list, &scratch)
                    .await
                    .map_err(|e| fail(format!("test-gen: judging {file}: {e}")))?;
                report(host.progress(&format!("{}: {}", tf.name, v.filter())).await)?;
                if let Some(with) = with {
                    progressed = true;
                    cov = with;
                }
                out.tests.push(Judged {
                    round,
                    function: tf.name,
                    file,
                    verdict: v,
                });
            }
        }
        if !llm {
            out.characterization = true;
            characterize_all(
                &root, &packages, &wanted, &mut cov, &pkg_list, &scratch, &mut out,
            )
            .await?;
            break;
        }
        if !progressed && round > 1 {
            break;
        }
    }
    // Coverage after, per package and function.
    for Package { dir: d, funcs, .. } in &packages {
        let t = package_total(&root, &packages, d, &cov).await?;
        if let Some(e) = out.packages.get_mut(d) {
            e.1 = t;
        }
        // The coverage of all packages names every function of each.
        for f in funcs.iter().filter(|f| wanted(f)) {
            out.functions.push(FuncCoverage {
                package: d.clone(),
                function: f.name.clone(),
                before: before.of(&f.file, f.line).unwrap_or(0.0),
                after: cov.of(&f.file, f.line).unwrap_or(0.0),
            });
        }
    }
    out.coverage_after = cov.total;
    for t in &out.tests {
        *out.by_filter
            .entry(t.verdict.filter().to_string())
            .or_default() += 1;
    }
    let kept: Vec<String> = out
        .tests
        .iter()
        .filter(|t| t.verdict.kept())
        .map(|t| t.file.clone())
        .collect();
    let bugs = out.by_filter.get("bug").copied().unwrap_or(0);
    if kept.is_empty() {
        out.summary = format!(
            "no test kept: coverage stays {:.1}% ({} tried; {bugs} suspected bugs)",
            out.coverage_before,
            out.tests.len()
        );
        return Ok(out);
    }
    // Commit, push, pull request.
    let title = format!(
        "test: {} tests for {} (devagents test-gen)",
        kept.len(),
        pkg_list.join(", ")
    );
    let commit = crate::agents::step::commit_and_push(
        "test-gen",
        &root,
        &opts,
        &title,
        &branch,
        setup.publish,
    )
    .await?;
    out.commit = commit.clone();
    out.summary = format!(
        "coverage {:.1}% -> {:.1}% (target {target:.0}%): {} tests kept of {}, {bugs} suspected bugs{}",
        out.coverage_before,
        out.coverage_after,
        kept.len(),
        out.tests.len(),
        if out.characterization {
            "; characterization tests (no LLM provider)"
        } else {
            ""
        }
    );
    let body = pr_body(&out);
    let b = crate::agents::step::Branch {
        agent: "test-gen",
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

/// Characterization tests for every eligible function below full coverage.
async fn characterize_all(
    root: &Path,
    packages: &[Package],
    wanted: &(dyn Fn(&Func) -> bool + Sync),
    cov: &mut Coverage,
    pkg_list: &[String],
    scratch: &Path,
    out: &mut Outcome,
) -> Result<(), Failure> {
    for Package {
        dir: d,
        name,
        funcs,
        ..
    } in packages
    {
        let chosen: Vec<(&Func, Vec<Vec<&'static str>>)> = funcs
            .iter()
            .filter(|f| wanted(f) && characterize::eligible(f))
            .filter(|f| cov.of(&f.file, f.line).unwrap_or(0.0) < 100.0)
            .map(|f| (f, characterize::argument_lists(f, 6)))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let rec_file = test_file(root, d, "devagents_record", "gen");
        std::fs::write(root.join(&rec_file), characterize::recorder(name, &chosen))
            .map_err(|e| fail(format!("{rec_file}: {e}")))?;
        let printed = coverage::go(
            root,
            &[
                "test",
                "-vet=off",
                "-count=1",
                "-v",
                "-run",
                &characterize::recorder_pattern(),
                d,
            ],
        )
        .await
        .map_err(|e| fail(format!("test-gen: {e}")))?
        .1;
        let _ = std::fs::remove_file(root.join(&rec_file));
        let recorded = characterize::parse_record(&printed);
        for (f, lists) in &chosen {
            let Some(code) = characterize::test_file(name, f, lists, &recorded) else {
                continue;
            };
            let file = test_file(root, d, &f.name, "characterization");
            let c = Candidate {
                file: file.clone(),
                code,
                target: (*f).clone(),
                testdata: Vec::new(),
            };
            let (v, with) = keep::judge(root, d, &c, cov, pkg_list, scratch)
                .await
                .map_err(|e| fail(format!("test-gen: judging {file}: {e}")))?;
            if let Some(with) = with {
                *cov = with;
            }
            out.tests.push(Judged {
                round: 1,
                function: f.name.clone(),
                file,
                verdict: v,
            });
        }
    }
    Ok(())
}

/// The pull request's body: coverage, kept and dropped tests, suspected bugs.
pub fn pr_body(o: &Outcome) -> String {
    let mut b = format!(
        "Tests written by devagents test-gen. Coverage **{:.1}% → {:.1}%** (target {:.0}%).\n\n",
        o.coverage_before, o.coverage_after, o.target
    );
    if o.characterization {
        b.push_str(&format!("> {}\n\n", characterize::LABEL));
    }
    b.push_str("| package | before | after |\n|---|---|---|\n");
    for (p, (x, y)) in &o.packages {
        b.push_str(&format!("| `{p}` | {x:.1}% | {y:.1}% |\n"));
    }
    b.push_str("\n| function | before | after |\n|---|---|---|\n");
    for f in &o.functions {
        b.push_str(&format!(
            "| `{}` | {:.1}% | {:.1}% |\n",
            f.function, f.before, f.after
        ));
    }
    b.push_str("\n### Kept\n");
    for t in o.tests.iter().filter(|t| t.verdict.kept()) {
        b.push_str(&format!("- `{}` ({})\n", t.file, t.function));
    }
    b.push_str("\n### Dropped\n");
    for t in o.tests.iter().filter(|t| !t.verdict.kept()) {
        if !matches!(t.verdict, Verdict::SuspectedBug { .. }) {
            b.push_str(&format!(
                "- {} ({}): {}\n",
                t.function,
                t.file,
                t.verdict.filter()
            ));
        }
    }
    let bugs: Vec<&Judged> = o
        .tests
        .iter()
        .filter(|t| matches!(t.verdict, Verdict::SuspectedBug { .. }))
        .collect();
    if !bugs.is_empty() {
        b.push_str(
            "\n### Suspected bugs (these tests fail against the current code; not in this PR)\n",
        );
        for t in bugs {
            if let Verdict::SuspectedBug { output } = &t.verdict {
                let failing: Vec<&str> = output
                    .lines()
                    .filter(|l| l.contains("_test.go:"))
                    .take(5)
                    .collect();
                b.push_str(&format!(
                    "- `{}`: {}\n",
                    t.function,
                    failing.join(" / ").trim()
                ));
            }
        }
    }
    crate::services::redact::redact(&b).into_owned()
}
