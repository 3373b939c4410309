//! Linter output as findings: `go vet` (its `file:line:col: message` lines), staticcheck
//! (`-f json`, one object per line) and golangci-lint (`--out-format json`). Paths are made
//! relative to the repository root so they match the diff. Running the tools — only on the
//! packages the pull request touches — is the run's business; parsing is pure and tested here.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::diff::FileDiff;
use super::finding::{Finding, Severity};

/// `./rpc/a` for every package (directory) with a changed, not deleted, Go file.
pub fn touched_packages(files: &[FileDiff]) -> Vec<String> {
    let dirs: BTreeSet<String> = files
        .iter()
        .filter(|f| f.new_path.is_some() && f.path().ends_with(".go") && !f.binary)
        .map(|f| match f.path().rsplit_once('/') {
            Some((d, _)) => format!("./{d}"),
            None => ".".to_string(),
        })
        .collect();
    dirs.into_iter().collect()
}

fn relative(path: &str, root: &str) -> String {
    let root = root.trim_end_matches('/');
    let p = path
        .strip_prefix(root)
        .map(|r| r.trim_start_matches('/'))
        .unwrap_or(path);
    p.trim_start_matches("./").to_string()
}

fn finding(
    file: String,
    line: u32,
    severity: Severity,
    rule: &str,
    message: &str,
    source: &str,
) -> Finding {
    Finding {
        file,
        line,
        end_line: None,
        severity,
        category: "lint".into(),
        rule: rule.into(),
        message: message.trim().into(),
        suggestion: None,
        source: source.into(),
        fingerprint: String::new(),
    }
}

/// `go vet` output (stderr): `path/x.go:12:2: message`; `# pkg` headers and other lines
/// are skipped.
pub fn parse_go_vet(output: &str, root: &str) -> Vec<Finding> {
    output
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("vet: ").unwrap_or(l);
            let (file, rest) = l.split_once(".go:")?;
            let mut parts = rest.splitn(3, ':');
            let line: u32 = parts.next()?.trim().parse().ok()?;
            let third = parts.next()?;
            // file:line:col: msg, or file:line: msg
            let msg = match third.trim().parse::<u32>() {
                Ok(_) => parts.next()?,
                Err(_) => third,
            };
            let rule = msg
                .split_once(':')
                .map(|(r, _)| r.trim())
                .filter(|r| !r.contains(' '))
                .unwrap_or("vet");
            Some(finding(
                relative(&format!("{file}.go"), root),
                line,
                Severity::Error,
                rule,
                msg,
                "go vet",
            ))
        })
        .collect()
}

#[derive(Deserialize)]
struct StaticcheckIssue {
    code: String,
    #[serde(default)]
    severity: String,
    location: StaticcheckLocation,
    message: String,
}

#[derive(Deserialize)]
struct StaticcheckLocation {
    file: String,
    line: u32,
}

/// staticcheck `-f json`: one JSON object per line.
pub fn parse_staticcheck(output: &str, root: &str) -> Vec<Finding> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<StaticcheckIssue>(l).ok())
        .map(|i| {
            let sev = match i.severity.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                _ => Severity::Info,
            };
            finding(
                relative(&i.location.file, root),
                i.location.line,
                sev,
                &i.code,
                &i.message,
                "staticcheck",
            )
        })
        .collect()
}

#[derive(Deserialize)]
struct GolangciReport {
    #[serde(rename = "Issues", default)]
    issues: Option<Vec<GolangciIssue>>,
}

#[derive(Deserialize)]
struct GolangciIssue {
    #[serde(rename = "FromLinter")]
    from_linter: String,
    #[serde(rename = "Text")]
    text: String,
    #[serde(rename = "Severity", default)]
    severity: String,
    #[serde(rename = "Pos")]
    pos: GolangciPos,
}

#[derive(Deserialize)]
struct GolangciPos {
    #[serde(rename = "Filename")]
    filename: String,
    #[serde(rename = "Line")]
    line: u32,
}

/// golangci-lint `--out-format json`.
pub fn parse_golangci(output: &str, root: &str) -> Result<Vec<Finding>, String> {
    let r: GolangciReport =
        serde_json::from_str(output).map_err(|e| format!("golangci-lint JSON: {e}"))?;
    Ok(r.issues
        .unwrap_or_default()
        .into_iter()
        .map(|i| {
            let sev = if i.severity == "error" {
                Severity::Error
            } else {
                Severity::Warning
            };
            let mut f = finding(
                relative(&i.pos.filename, root),
                i.pos.line,
                sev,
                &i.from_linter,
                &i.text,
                "golangci-lint",
            );
            f.category = match i.from_linter.as_str() {
                "errcheck" => "errors",
                "gosec" => "security",
                _ => "lint",
            }
            .into();
            f
        })
        .collect())
}

/// The reviewer's own ignored-error check stands in for errcheck where golangci-lint did not
/// run; where it did, errcheck's finding on a line replaces the reviewer's.
pub fn prefer_errcheck(all: Vec<Finding>) -> Vec<Finding> {
    let errcheck: BTreeSet<(String, u32)> = all
        .iter()
        .filter(|f| f.rule == "errcheck")
        .map(|f| (f.file.clone(), f.line))
        .collect();
    all.into_iter()
        .filter(|f| f.rule != "ignored-error" || !errcheck.contains(&(f.file.clone(), f.line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcheck_replaces_the_reviewers_own_ignored_error_finding() {
        let mk = |rule: &str, line: u32| Finding {
            rule: rule.into(),
            ..finding("a.go".into(), line, Severity::Warning, rule, "m", "x")
        };
        let kept = prefer_errcheck(vec![
            mk("errcheck", 3),
            mk("ignored-error", 3),
            mk("ignored-error", 5),
        ]);
        let got: Vec<(&str, u32)> = kept.iter().map(|f| (f.rule.as_str(), f.line)).collect();
        assert_eq!(got, vec![("errcheck", 3), ("ignored-error", 5)]);
        let report = r#"{"Issues":[{"FromLinter":"errcheck","Text":"Error return value is not checked","Severity":"","Pos":{"Filename":"/ws/a.go","Line":3}}]}"#;
        assert_eq!(parse_golangci(report, "/ws").unwrap()[0].category, "errors");
    }

    #[test]
    fn linter_outputs() {
        let vet = "# github.com/acme/core/rpc/a\nvet: ./rpc/a/x.go:12:2: printf: fmt.Sprintf format %d has arg s of wrong type string\nrpc/a/y.go:7:1: unreachable code\nsomething else\n";
        let v = parse_go_vet(vet, "/ws");
        let got: Vec<_> = v
            .iter()
            .map(|f| (f.file.as_str(), f.line, f.rule.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("rpc/a/x.go", 12, "printf"), ("rpc/a/y.go", 7, "vet")]
        );
        assert!(v[0].message.starts_with("printf: fmt.Sprintf format %d"));

        let sc = "{\"code\":\"SA4006\",\"severity\":\"error\",\"location\":{\"file\":\"/ws/rpc/a/x.go\",\"line\":9,\"column\":2},\"end\":{\"file\":\"\",\"line\":0,\"column\":0},\"message\":\"this value of err is never used\"}\nnot json\n";
        let s = parse_staticcheck(sc, "/ws");
        assert_eq!(
            (
                s[0].file.as_str(),
                s[0].line,
                s[0].rule.as_str(),
                s[0].severity
            ),
            ("rpc/a/x.go", 9, "SA4006", Severity::Error)
        );

        let gl = r#"{"Issues":[{"FromLinter":"errcheck","Text":"Error return value of `f.Close` is not checked","Severity":"","Pos":{"Filename":"rpc/a/x.go","Line":20,"Column":9}}],"Report":{}}"#;
        let g = parse_golangci(gl, "/ws").unwrap();
        assert_eq!((g[0].rule.as_str(), g[0].line), ("errcheck", 20));
        assert_eq!(parse_golangci(r#"{"Issues":null}"#, "/ws").unwrap(), vec![]);
        assert!(parse_golangci("oops", "/ws").is_err());
    }

    #[test]
    fn packages_the_diff_touches() {
        let d = "diff --git a/rpc/a/x.go b/rpc/a/x.go\n--- a/rpc/a/x.go\n+++ b/rpc/a/x.go\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/old/y.go b/old/y.go\ndeleted file mode 100644\n--- a/old/y.go\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\ndiff --git a/main.go b/main.go\n--- a/main.go\n+++ b/main.go\n@@ -1 +1 @@\n-a\n+b\n";
        let files = super::super::diff::parse(d).unwrap();
        assert_eq!(touched_packages(&files), vec![".", "./rpc/a"]);
    }
}
