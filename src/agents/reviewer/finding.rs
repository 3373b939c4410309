//! The one finding type every source (linters, i18n, tests, security, LLM) produces, its
//! fingerprint (stable when lines shift), deduplication across sources, and the filter modes
//! reviewdog users know: `added`, `diff_context`, `file`, `nofilter`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::diff::FileDiff;
pub use crate::api::{FilterMode, Severity};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub file: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    pub severity: Severity,
    /// lint, i18n, tests, security, llm …
    pub category: String,
    /// The rule (`SA4006`, `hardcoded-credential`, `missing-i18n-key` …).
    pub rule: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Which source reported it (`staticcheck`, `go vet`, `llm` …).
    pub source: String,
    /// sha256(rule, path, normalised line content), hex, 16 characters.
    #[serde(default)]
    pub fingerprint: String,
}

/// The line's content with whitespace runs collapsed: moving or re-indenting a line keeps
/// its fingerprint.
fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn fingerprint(rule: &str, path: &str, line_content: &str) -> String {
    let mut h = Sha256::new();
    for part in [rule, path, &normalise(line_content)] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Fill in every finding's fingerprint from the new-side text of its line.
pub fn fingerprint_all(findings: &mut [Finding], text_of: impl Fn(&str, u32) -> Option<String>) {
    for f in findings {
        let content = text_of(&f.file, f.line).unwrap_or_default();
        f.fingerprint = fingerprint(&f.rule, &f.file, &content);
    }
}

/// Keep one finding per file, line and category — the most severe, then the first reported
/// (sources are passed in order of trust: linters before the LLM).
pub fn dedup(findings: Vec<Finding>) -> Vec<Finding> {
    let mut best: BTreeMap<String, Finding> = BTreeMap::new();
    let mut order = Vec::new();
    for f in findings {
        // Different sources name the same problem differently; one finding per line and
        // category is what a reader wants.
        let key = format!("{}:{}:{}", f.file, f.line, f.category);
        match best.get(&key) {
            Some(b) if b.severity >= f.severity => {}
            _ => {
                if !best.contains_key(&key) {
                    order.push(key.clone());
                }
                best.insert(key, f);
            }
        }
    }
    order.into_iter().filter_map(|k| best.remove(&k)).collect()
}

/// Split findings into those that may be inline comments (kept by the mode) and the rest
/// (for the summary).
pub fn filter(
    findings: Vec<Finding>,
    files: &[FileDiff],
    mode: FilterMode,
) -> (Vec<Finding>, Vec<Finding>) {
    let by_path: BTreeMap<&str, &FileDiff> = files.iter().map(|f| (f.path(), f)).collect();
    let mut inline = Vec::new();
    let mut rest = Vec::new();
    for f in findings {
        let file = by_path.get(f.file.as_str());
        let keep = match (mode, file) {
            (FilterMode::Nofilter, _) => true,
            (_, None) => false,
            (FilterMode::File, Some(_)) => true,
            (FilterMode::DiffContext, Some(d)) => d.commentable().contains_key(&f.line),
            (FilterMode::Added, Some(d)) => d.added().contains_key(&f.line),
        };
        if keep { inline.push(f) } else { rest.push(f) }
    }
    (inline, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(file: &str, line: u32, sev: Severity, category: &str, source: &str) -> Finding {
        Finding {
            file: file.into(),
            line,
            end_line: None,
            severity: sev,
            category: category.into(),
            rule: "r".into(),
            message: "m".into(),
            suggestion: None,
            source: source.into(),
            fingerprint: String::new(),
        }
    }

    #[test]
    fn fingerprints_survive_shifts_and_reindentation() {
        let a = fingerprint("hardcoded-credential", "rpc/a.go", "\tpassword := \"x\"");
        let b = fingerprint(
            "hardcoded-credential",
            "rpc/a.go",
            "    password  :=  \"x\"",
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        assert_ne!(a, fingerprint("other", "rpc/a.go", "password := \"x\""));
        assert_ne!(
            a,
            fingerprint("hardcoded-credential", "rpc/b.go", "password := \"x\"")
        );
    }

    #[test]
    fn dedup_keeps_the_most_severe_per_line_and_category() {
        let out = dedup(vec![
            finding("a.go", 3, Severity::Warning, "lint", "go vet"),
            finding("a.go", 3, Severity::Error, "lint", "staticcheck"),
            finding("a.go", 3, Severity::Warning, "lint", "llm"),
            finding("a.go", 3, Severity::Warning, "security", "security"),
            finding("a.go", 4, Severity::Info, "lint", "llm"),
        ]);
        let got: Vec<_> = out
            .iter()
            .map(|f| (f.line, f.category.as_str(), f.source.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "lint", "staticcheck"),
                (3, "security", "security"),
                (4, "lint", "llm")
            ]
        );
    }

    #[test]
    fn filter_modes() {
        let diff =
            "diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n@@ -1,3 +1,4 @@\n x\n+y\n z\n w\n";
        let files = super::super::diff::parse(diff).unwrap();
        let all = || {
            vec![
                finding("a.go", 2, Severity::Error, "lint", "s"), // added
                finding("a.go", 3, Severity::Error, "lint", "s"), // context
                finding("a.go", 40, Severity::Error, "lint", "s"), // same file, off the diff
                finding("b.go", 1, Severity::Error, "lint", "s"), // another file
            ]
        };
        let lines = |v: Vec<Finding>| {
            v.iter()
                .map(|f| (f.file.clone(), f.line))
                .collect::<Vec<_>>()
        };
        let (i, r) = filter(all(), &files, FilterMode::Added);
        assert_eq!(lines(i), vec![("a.go".into(), 2)]);
        assert_eq!(r.len(), 3);
        assert_eq!(
            lines(filter(all(), &files, FilterMode::DiffContext).0).len(),
            2
        );
        assert_eq!(lines(filter(all(), &files, FilterMode::File).0).len(), 3);
        assert_eq!(
            lines(filter(all(), &files, FilterMode::Nofilter).0).len(),
            4
        );
    }
}
