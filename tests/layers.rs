//! The crate's layers, read from the source: a module may use the modules of its own layer
//! and of the layers below it, never one above. From the bottom:
//!
//! contract, api → services, llm → controller → agentapi → agents → runner, cli, node → testing
//!
//! (binaries, at the top, use everything). Test modules (`#[cfg(test)]` and below) are not
//! read: a test may reach up.

use std::collections::BTreeMap;
use std::path::Path;

fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "contract" | "api" => 0,
        "services" | "llm" => 1,
        "controller" => 2,
        "agentapi" => 3,
        "agents" => 4,
        "runner" | "cli" | "node" => 5,
        "testing" => 6,
        _ => return None,
    })
}

/// Uses that go up today, each with the work that removes it. The list may only shrink (it is
/// empty: the agents' operator-side code sits behind the agent descriptor): a use that goes up
/// and is not here fails, and so does an entry here that no longer goes up.
const KNOWN: &[(&str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::<module>` paths outside the file's test module, with their line numbers.
fn crate_uses(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a::x::{Y, Z}, b}`: the first segment of each item at depth 0.
                let (mut depth, mut item) = (0, String::new());
                let mut items = Vec::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                        c if depth == 0 => item.push(c),
                        _ => {}
                    }
                }
                items.push(item);
                for it in items {
                    let first = it.trim().split("::").next().unwrap_or("").to_string();
                    if !first.is_empty() {
                        out.push((i + 1, first));
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push((i + 1, name));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut up: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let module = rel
            .trim_start_matches("src/")
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&module) else {
            continue;
        };
        // A file that is itself a test module (`#[cfg(test)] mod tests;` beside it).
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let src = std::fs::read_to_string(f).unwrap();
        for (line, used) in crate_uses(&src) {
            if layer(&used).is_some_and(|l| l > own) {
                up.entry((rel.clone(), used)).or_default().push(line);
            }
        }
    }
    let unexpected: Vec<String> = up
        .iter()
        .filter(|((f, m), _)| !KNOWN.contains(&(f.as_str(), m.as_str())))
        .map(|((f, m), lines)| format!("{f} uses crate::{m} (lines {lines:?})"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "uses that go up a layer:\n{}",
        unexpected.join("\n")
    );
    let stale: Vec<_> = KNOWN
        .iter()
        .filter(|(f, m)| !up.contains_key(&(f.to_string(), m.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "no longer going up, remove from KNOWN: {stale:?}"
    );
}

#[test]
fn the_reader_sees_uses_and_skips_comments_and_tests() {
    let src = "use crate::api::X;\n// crate::runner::Y\nfn f() { crate::llm::z(crate::contract::W) }\nuse crate::{agents::a::{B, C}, cli};\n#[cfg(test)]\nmod tests { use crate::bin; }\n";
    let names: Vec<String> = crate_uses(src).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["api", "llm", "contract", "agents", "cli"]);
}

/// A test target that needs the `testing` or `e2e` feature (it uses the crate's testing module or the
/// e2e helpers in `tests/common`) is declared with `required-features` in Cargo.toml; else
/// `just unit` (no features) cannot build the tests at all.
#[test]
fn every_test_that_needs_a_feature_declares_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("tests")).unwrap() {
        let p = e.unwrap().path();
        let (name, main) = match p.extension() {
            Some(x) if x == "rs" => (p.file_stem().unwrap().to_owned(), p.clone()),
            None if p.join("main.rs").is_file() => {
                (p.file_name().unwrap().to_owned(), p.join("main.rs"))
            }
            _ => continue,
        };
        let name = name.to_string_lossy().to_string();
        let src = std::fs::read_to_string(&main).unwrap();
        // (Written in two pieces so this file does not name them itself.)
        let needs = [
            concat!("devagents::", "testing"),
            concat!("mod ", "common;"),
        ];
        if !needs.iter().any(|n| src.contains(n)) {
            continue;
        }
        let declared = format!("[[test]]\nname = \"{name}\"\nrequired-features = [");
        if !manifest.contains(&declared) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "tests that need the testing/e2e feature but are not declared with required-features: {missing:?}"
    );
}
