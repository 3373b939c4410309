//! Security smells in the lines a pull request adds to Go files: hard-coded credentials, SQL
//! built from strings and passed to Exec/Query/Raw, `InsecureSkipVerify: true`, math/rand in
//! code that handles secrets, and ignored errors of writes and closes. Line-based and
//! deliberately conservative: each rule names the pattern it saw.

use std::sync::LazyLock;

use regex::Regex;

use super::diff::FileDiff;
use super::finding::{Finding, Severity};

struct Rule {
    id: &'static str,
    severity: Severity,
    re: Regex,
    message: &'static str,
    suggestion: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |id, severity, pattern: &str, message, suggestion| Rule {
        id,
        severity,
        re: Regex::new(pattern).expect("security pattern"),
        message,
        suggestion,
    };
    vec![
        r(
            "hardcoded-credential",
            Severity::Critical,
            r#"(?i)\b\w*(?:password|passwd|secret|token|apikey|api_key|accesskey|access_key)\w*\s*(?::=|=|:)\s*"[^"\s]{4,}""#,
            "a credential is hard-coded in the source",
            "read it from the configuration or a Secret",
        ),
        r(
            "sql-string-building",
            Severity::Critical,
            r#"\.(?:Exec|ExecContext|Query|QueryContext|QueryRow|QueryRowContext|Raw)\(.*(?:fmt\.Sprintf\(|"\s*\+\s*\w|\w\s*\+\s*")"#,
            "SQL is built from strings and passed to the database (SQL injection)",
            "use placeholders ($1, ?) and pass the values as arguments",
        ),
        r(
            "insecure-tls",
            Severity::Error,
            r"InsecureSkipVerify:\s*true",
            "TLS certificate verification is turned off",
            "trust the right CA instead (RootCAs)",
        ),
        r(
            "ignored-error",
            Severity::Warning,
            r"^\s*(?:_\s*,?\s*_?\s*=\s*)?[A-Za-z_][\w.\[\]]*\.(?:Close|Write|WriteString|Flush|Sync)\([^)]*\)\s*$",
            "the error of a write or close is ignored",
            "check it (a failed write or close can lose data)",
        ),
    ]
});

static SECRETISH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(token|secret|password|nonce|salt|otp|captcha|key)").expect("pattern")
});

/// The findings of the added lines of `files` (Go files only).
pub fn check(files: &[FileDiff]) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.path().ends_with(".go") && !f.binary)
    {
        let added = f.added();
        for (line, text) in &added {
            let code = text.split("//").next().unwrap_or_default();
            for r in RULES.iter() {
                if r.re.is_match(code) {
                    out.push(finding(
                        f.path(),
                        *line,
                        r.id,
                        r.severity,
                        r.message,
                        r.suggestion,
                    ));
                }
            }
        }
        // math/rand where the added code deals with secrets.
        if let Some((line, _)) = added
            .iter()
            .find(|(_, t)| t.trim() == "\"math/rand\"" || t.contains("import \"math/rand\""))
            && added
                .values()
                .any(|t| SECRETISH.is_match(t) && !t.contains("math/rand"))
        {
            out.push(finding(
                f.path(),
                *line,
                "weak-random",
                Severity::Error,
                "math/rand is predictable; this code makes tokens, keys or secrets",
                "use crypto/rand",
            ));
        }
    }
    out
}

fn finding(
    path: &str,
    line: u32,
    rule: &str,
    severity: Severity,
    message: &str,
    suggestion: &str,
) -> Finding {
    Finding {
        file: path.into(),
        line,
        end_line: None,
        severity,
        category: "security".into(),
        rule: rule.into(),
        message: message.into(),
        suggestion: Some(suggestion.into()),
        source: "security".into(),
        fingerprint: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff_adding(path: &str, lines: &[&str]) -> Vec<FileDiff> {
        let body: String = lines.iter().map(|l| format!("+{l}\n")).collect();
        let text = format!(
            "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{} @@\n{body}",
            lines.len()
        );
        super::super::diff::parse(&text).unwrap()
    }

    #[test]
    fn each_rule_fires_on_its_pattern_and_not_on_safe_code() {
        let files = diff_adding(
            "rpc/x.go",
            &[
                "import \"math/rand\"",
                "var dbPassword = \"hunter2hunter2\"",
                "\tdb.Exec(\"DELETE FROM users WHERE id = \" + id)",
                "\tdb.Query(fmt.Sprintf(\"SELECT * FROM t WHERE name = '%s'\", name))",
                "\ttls.Config{InsecureSkipVerify: true}",
                "\tf.Close()",
                "\t_ = w.Write(buf)",
                "\ttoken := rand.Int63()",
                // Safe:
                "\tdb.Exec(\"DELETE FROM users WHERE id = $1\", id)",
                "\tpassword := cfg.Password",
                "\tdefer f.Close()",
                "\tif err := f.Close(); err != nil {",
                "\t// password = \"in a comment\"",
            ],
        );
        let found = check(&files);
        let got: Vec<(u32, &str)> = found.iter().map(|f| (f.line, f.rule.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (2, "hardcoded-credential"),
                (3, "sql-string-building"),
                (4, "sql-string-building"),
                (5, "insecure-tls"),
                (6, "ignored-error"),
                (7, "ignored-error"),
                (1, "weak-random"),
            ]
        );
        // Not Go: nothing.
        assert!(
            check(&diff_adding(
                "README.md",
                &["password = \"hunter2hunter2\""]
            ))
            .is_empty()
        );
    }
}
