//! i18n keys (Simple Admin Core): every key the pull request's Go code uses — string keys
//! passed to errorx constructors and to `Trans.Trans` — exists in every locale file, and the
//! locale files the pull request touches keep identical key sets. A missing key shows the raw
//! key to users, silently.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;

use super::diff::FileDiff;
use super::finding::{Finding, Severity};
use crate::agents::generator::i18n::key_set;

static KEY_USES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r#"errorx\.New\w*\(\s*(?:[\w.]+\s*,\s*)?"([A-Za-z]\w*(?:\.\w+)+)""#,
        r#"\.Trans\([^,()]+,\s*"([A-Za-z]\w*(?:\.\w+)+)""#,
    ]
    .iter()
    .map(|p| Regex::new(p).expect("i18n pattern"))
    .collect()
});

fn finding(file: &str, line: u32, rule: &str, severity: Severity, message: String) -> Finding {
    Finding {
        file: file.into(),
        line,
        end_line: None,
        severity,
        category: "i18n".into(),
        rule: rule.into(),
        message,
        suggestion: None,
        source: "i18n".into(),
        fingerprint: String::new(),
    }
}

/// Is `path` a locale file (`…/i18n/locale/<lang>.json`)?
pub fn is_locale(path: &str) -> bool {
    path.contains("/i18n/locale/") && path.ends_with(".json")
}

/// The line of a key's last segment in a locale file's text (1 when not found).
fn line_of_key(text: &str, key: &str) -> u32 {
    let last = key.rsplit('.').next().unwrap_or(key);
    let needle = format!("\"{last}\"");
    text.lines()
        .position(|l| l.trim_start().starts_with(&needle))
        .map(|i| i as u32 + 1)
        .unwrap_or(1)
}

/// `locales`: path → content of every locale file at the pull request's head.
pub fn check(files: &[FileDiff], locales: &BTreeMap<String, String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut sets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in locales {
        match key_set(text) {
            Ok(s) => {
                sets.insert(path, s);
            }
            Err(e) => {
                let line = e
                    .split(" line ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                out.push(finding(
                    path,
                    line,
                    "invalid-locale-json",
                    Severity::Error,
                    format!("not valid JSON: {e}"),
                ));
            }
        }
    }
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    // Keys used by the added Go lines.
    for f in files.iter().filter(|f| f.path().ends_with(".go")) {
        for (line, text) in f.added() {
            for re in KEY_USES.iter() {
                for c in re.captures_iter(text) {
                    let key = &c[1];
                    let missing: Vec<String> = sets
                        .iter()
                        .filter(|(_, s)| !s.contains(key))
                        .map(|(p, _)| name(p))
                        .collect();
                    if !missing.is_empty() {
                        out.push(finding(
                            f.path(),
                            line,
                            "missing-i18n-key",
                            Severity::Error,
                            format!("i18n key \"{key}\" is missing from {}", missing.join(", ")),
                        ));
                    }
                }
            }
        }
    }
    // Touched locale files: the same keys as every other locale.
    let all: BTreeSet<&String> = sets.values().flatten().collect();
    for f in files.iter().filter(|f| is_locale(f.path())) {
        let Some(mine) = sets.get(f.path()) else {
            continue;
        };
        let text = &locales[f.path()];
        for key in all.iter().filter(|k| !mine.contains(**k)) {
            let having: Vec<String> = sets
                .iter()
                .filter(|(_, s)| s.contains(*key))
                .map(|(p, _)| name(p))
                .collect();
            out.push(finding(
                f.path(),
                1,
                "locale-key-missing",
                Severity::Error,
                format!(
                    "{} lacks \"{key}\", which {} has",
                    name(f.path()),
                    having.join(", ")
                ),
            ));
        }
        // Keys this file has that another locale lacks, at their line here.
        for key in mine {
            let lacking: Vec<String> = sets
                .iter()
                .filter(|(_, s)| !s.contains(key))
                .map(|(p, _)| name(p))
                .collect();
            if !lacking.is_empty() {
                out.push(finding(
                    f.path(),
                    line_of_key(text, key),
                    "locale-key-missing",
                    Severity::Error,
                    format!("\"{key}\" is missing from {}", lacking.join(", ")),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_keys_and_touched_locales() {
        let diff = "diff --git a/rpc/logic/x.go b/rpc/logic/x.go
--- a/rpc/logic/x.go
+++ b/rpc/logic/x.go
@@ -1,2 +1,4 @@
 package logic
+\treturn nil, errorx.NewInvalidArgumentError(\"department.nameRequired\")
+\treturn nil, errorx.NewCodeError(errorcode.Internal, \"common.createSuccess\")
 // end
diff --git a/api/internal/i18n/locale/en.json b/api/internal/i18n/locale/en.json
--- a/api/internal/i18n/locale/en.json
+++ b/api/internal/i18n/locale/en.json
@@ -1,3 +1,4 @@
 {
+  \"extra\": \"only in en\",
   \"common\": {\"createSuccess\": \"ok\"}
 }
";
        let files = super::super::diff::parse(diff).unwrap();
        let locales: BTreeMap<String, String> = [
            (
                "api/internal/i18n/locale/en.json".to_string(),
                "{\n  \"extra\": \"only in en\",\n  \"common\": {\"createSuccess\": \"ok\"}\n}\n"
                    .to_string(),
            ),
            (
                "api/internal/i18n/locale/zh.json".to_string(),
                "{\n  \"common\": {\"createSuccess\": \"成功\"}\n}\n".to_string(),
            ),
        ]
        .into();
        let got: Vec<(String, u32, String, String)> = check(&files, &locales)
            .into_iter()
            .map(|f| (f.file, f.line, f.rule, f.message))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "rpc/logic/x.go".into(),
                    2,
                    "missing-i18n-key".into(),
                    "i18n key \"department.nameRequired\" is missing from en.json, zh.json".into()
                ),
                (
                    "api/internal/i18n/locale/en.json".into(),
                    2,
                    "locale-key-missing".into(),
                    "\"extra\" is missing from zh.json".into()
                ),
            ]
        );
        let broken: BTreeMap<String, String> = [(
            "a/i18n/locale/zh.json".to_string(),
            "{\n\"a\": \n".to_string(),
        )]
        .into();
        let f = check(&[], &broken);
        assert_eq!((f[0].rule.as_str(), f[0].line), ("invalid-locale-json", 3));
    }
}
