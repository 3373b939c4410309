//! What the repository already has, so that a spec is grounded in it: the Ent schemas'
//! entities, the `.api` routes (doc-sync's parser of go-zero's grammar), the RPC methods of
//! the `.proto` files, the Makefile's targets and the top-level layout. [`feasibility`] names
//! the conflicts of a proposal with it (an entity that exists, a route that is taken) and the
//! real files and commands the work touches.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::agents::doc_sync::{api_file, proto_file};

/// Limits on what is read.
pub const MAX_FILES: usize = 500;
pub const MAX_FILE_BYTES: u64 = 512 * 1024;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    /// Entity → its schema file.
    pub entities: Vec<(String, String)>,
    /// `POST /department/create` → the .api file.
    pub routes: Vec<(String, String)>,
    /// `Core.createDepartment`.
    pub rpcs: Vec<String>,
    pub make_targets: Vec<String>,
    /// Top-level directories and files.
    pub layout: Vec<String>,
    /// Files that did not parse (the spec says so instead of guessing).
    pub unreadable: Vec<String>,
}

fn files(root: &Path, dir: &str, suffix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix)
                && out.len() < MAX_FILES
                && e.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES)
                && let (Ok(t), Ok(rel)) = (std::fs::read_to_string(&p), p.strip_prefix(root))
            {
                out.push((rel.to_string_lossy().into_owned(), t));
            }
        }
    }
    out.sort();
    out
}

/// The facts of the checkout at `root`.
pub fn facts(root: &Path) -> Facts {
    let mut f = Facts::default();
    for (path, text) in files(root, "rpc/ent/schema", ".go") {
        for l in text.lines() {
            let t = l.trim();
            if t.starts_with("type ") && t.contains("struct") && t.contains('{') {
                let body_has_schema = text.contains("ent.Schema");
                if let Some(name) = t.split_whitespace().nth(1)
                    && body_has_schema
                {
                    f.entities.push((name.to_string(), path.clone()));
                }
            }
        }
    }
    for (path, text) in files(root, "api/desc", ".api") {
        match api_file::parse(&path, &text) {
            Ok(a) => f.routes.extend(a.routes.iter().map(|r| {
                (
                    format!("{} {}", r.method.to_ascii_uppercase(), r.path),
                    path.clone(),
                )
            })),
            Err(e) => f.unreadable.push(e.to_string()),
        }
    }
    for dir in ["rpc/desc", "rpc"] {
        let protos = files(root, dir, ".proto");
        if protos.is_empty() {
            continue;
        }
        for (path, text) in protos {
            match proto_file::parse(&path, &text) {
                Ok(p) => f.rpcs.extend(p.rpcs.keys().cloned()),
                Err(e) => f.unreadable.push(e),
            }
        }
        break;
    }
    f.rpcs.sort();
    f.rpcs.dedup();
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap_or_default();
    for l in makefile.lines() {
        if let Some((t, rest)) = l.split_once(':')
            && !t.is_empty()
            && !t.starts_with(['\t', ' ', '.', '#'])
            && !rest.starts_with('=')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_/".contains(c))
        {
            f.make_targets.push(t.to_string());
        }
    }
    let mut layout: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                format!("{n}/")
            } else {
                n
            }
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    layout.sort();
    f.layout = layout;
    f
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Feasibility {
    /// Conflicts: what the proposal would create that exists already.
    pub conflicts: Vec<String>,
    /// Files the work touches that exist (to change), by the repository's conventions.
    pub touches: Vec<String>,
    /// The repository's commands the work runs.
    pub commands: Vec<String>,
}

/// Where plan.md's Project Structure leaves the repository's real layout: every path it names
/// (in its code block, or in backticks) must start at a top-level directory or file the
/// repository has (or `specs/`, the documents' own) — new files go into existing directories.
/// (line, path) of each that does not.
pub fn outside_layout(plan: &str, f: &Facts) -> Vec<(usize, String)> {
    let lines: Vec<&str> = plan.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("## Project Structure"))
    else {
        return Vec::new();
    };
    // The spec's own directory is made by this run.
    let tops: BTreeSet<&str> = f
        .layout
        .iter()
        .map(|l| l.trim_end_matches('/'))
        .chain(["specs"])
        .collect();
    let path = regex::Regex::new(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]*)+$").expect("a valid pattern");
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if l.starts_with("## ") {
            break;
        }
        for token in l.split(|c: char| c.is_whitespace() || c == '`') {
            // Tree drawings (├── ) and comments after the path are not paths.
            let token = token.trim_matches(|c: char| "├└│─,;:()".contains(c));
            if !path.is_match(token) || token.starts_with("http") {
                continue;
            }
            let top = token.split('/').next().unwrap_or_default();
            if !tops.contains(top) {
                out.push((i + 1, token.to_string()));
            }
        }
    }
    out
}

/// `DictionaryDetail` → `dictionary_detail`.
fn snake(s: &str) -> String {
    crate::agents::generator::model::snake(s)
}

/// The conflicts of new `entities` and `routes` with the repository, and what the work touches.
pub fn feasibility(f: &Facts, entities: &[String], routes: &[String]) -> Feasibility {
    let mut out = Feasibility::default();
    for e in entities {
        if let Some((_, file)) = f.entities.iter().find(|(n, _)| n.eq_ignore_ascii_case(e)) {
            out.conflicts.push(format!(
                "entity {e} already exists ({file}): extend it instead of creating it"
            ));
        }
        let s = snake(e);
        out.touches.extend([
            format!("rpc/ent/schema/{s}.go"),
            format!("rpc/desc/{s}.proto"),
            format!("api/desc/core/{s}.api"),
            "api/desc/all.api".to_string(),
            "api/internal/i18n/locale/en.json".to_string(),
            "api/internal/i18n/locale/zh.json".to_string(),
        ]);
    }
    for r in routes {
        let key = r.trim().to_string();
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase()
        };
        if let Some((_, file)) = f.routes.iter().find(|(k, _)| norm(k) == norm(&key)) {
            out.conflicts.push(format!("route {key} is taken ({file})"));
        }
    }
    let wanted: BTreeSet<&str> = [
        "gen-ent",
        "gen-rpc",
        "gen-api",
        "gen-rpc-ent-logic",
        "test",
        "lint",
    ]
    .into_iter()
    .collect();
    out.commands = f
        .make_targets
        .iter()
        .filter(|t| wanted.contains(t.as_str()))
        .map(|t| format!("make {t}"))
        .collect();
    out.touches.sort();
    out.touches.dedup();
    out
}
