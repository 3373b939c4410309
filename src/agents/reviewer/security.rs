//! Deterministic checks of the lines a pull request adds:
//!
//! - **secrets** (any text file): what [`crate::services::redact::find_secrets`] finds — the
//!   provider key formats the redaction knows (Anthropic, OpenAI, AWS, GitHub, Slack, Google,
//!   Stripe, private key blocks, JWTs …) and high-entropy literals assigned to secret-named
//!   identifiers — reported on the line of the literal;
//! - **sql** (Go): SQL built from strings and passed to Exec/Query/Raw;
//! - **security** (Go): `InsecureSkipVerify: true`; math/rand where a token, key or secret is
//!   made — on the line of the call;
//! - **errors** (Go): errors ignored from calls that return one, errcheck's way: a call of its
//!   default set (`json.Unmarshal`, `Close`, `Write`, `Exec`, `os.Remove` …) used as a
//!   statement. (golangci-lint, when installed, reports these too; findings on the same line
//!   are merged.)
//!
//! Line-based and deliberately conservative: each rule names the pattern it saw.

use std::sync::LazyLock;

use regex::Regex;

use super::diff::FileDiff;
use super::finding::{Finding, Severity};

struct Rule {
    id: &'static str,
    category: &'static str,
    severity: Severity,
    re: Regex,
    message: &'static str,
    suggestion: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |id, category, severity, pattern: &str, message, suggestion| Rule {
        id,
        category,
        severity,
        re: Regex::new(pattern).expect("security pattern"),
        message,
        suggestion,
    };
    vec![
        r(
            "sql-string-building",
            "sql",
            Severity::Critical,
            r#"\.(?:Exec|ExecContext|Query|QueryContext|QueryRow|QueryRowContext|Raw|Where)\(.*(?:fmt\.Sprintf\(|"\s*\+\s*\w|\w\s*\+\s*")"#,
            "SQL is built from strings and passed to the database (SQL injection)",
            "use placeholders ($1, ?) and pass the values as arguments",
        ),
        r(
            "insecure-tls",
            "security",
            Severity::Error,
            r"InsecureSkipVerify:\s*true",
            "TLS certificate verification is turned off",
            "trust the right CA instead (RootCAs)",
        ),
        r(
            "ignored-error",
            "errors",
            Severity::Warning,
            // A call used as a statement (or assigned to blanks only) whose error nobody reads.
            r"^\s*(?:_\s*(?:,\s*_\s*)?=\s*)?(?:(?:json|xml|yaml|proto|gob)\.Unmarshal|os\.(?:Remove|RemoveAll|Setenv|Unsetenv|Mkdir|MkdirAll|WriteFile|Chmod|Chown|Rename|Symlink|Truncate)|io\.(?:Copy|CopyN|ReadFull|WriteString)|http\.ListenAndServe(?:TLS)?|[A-Za-z_][\w.\[\]()]*\.(?:Close|Write|WriteString|WriteTo|Flush|Sync|Exec|ExecContext|Encode|Decode|Unmarshal|Rollback|Commit|Shutdown|Scan|Ping|Set|Del|Publish|Send))\(.*\)\s*$",
            "the error this call returns is ignored",
            "check it (a failed write, close, decode or statement goes unnoticed)",
        ),
    ]
});

/// Names of what a token, key or secret is made for.
static SECRETISH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(token|secret|password|passwd|nonce|salt|otp|captcha|session|apikey|api_key|(?:^|[^a-z])key|[a-z]Key|code|credential|reset)").expect("pattern")
});

/// A call only math/rand (or math/rand/v2) has: crypto/rand has none of these.
static MATH_RAND_CALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\brand\.(?:Intn|IntN|Int63n|Int63|Int31n|Int31|Int|Uint32|Uint64|Float64|Float32|Perm|Shuffle|Seed|NewSource|New|N|ExpFloat64|NormFloat64|Read)\(")
        .expect("pattern")
});

static FUNC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)").expect("pattern"));

/// Files the secret check leaves alone: dependency lock files (hashes, not secrets).
fn lockfile(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(
        name,
        "go.sum" | "package-lock.json" | "yarn.lock" | "pnpm-lock.yaml" | "Cargo.lock"
    )
}

/// The findings of the added lines of `files`. `imports_math_rand` tells whether the head's
/// version of a Go file imports math/rand (the import may be on a line the diff does not add).
pub fn check(files: &[FileDiff], imports_math_rand: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for f in files.iter().filter(|f| !f.binary && f.new_path.is_some()) {
        let added = f.added();
        if !lockfile(f.path()) {
            for (line, text) in &added {
                if let Some(s) = crate::services::redact::find_secrets(text).first() {
                    out.push(finding(
                        f.path(),
                        *line,
                        &format!("secret/{}", s.kind),
                        "secrets",
                        Severity::Critical,
                        &format!("a secret ({}) is committed", s.kind),
                        "revoke it, then read it from the configuration or a Secret",
                    ));
                }
            }
        }
        if !f.path().ends_with(".go") {
            continue;
        }
        let math_rand = imports_math_rand(f.path())
            || added
                .values()
                .any(|t| t.contains("\"math/rand\"") || t.contains("\"math/rand/v2\""));
        // The function an added line belongs to (as far as the added lines show).
        let mut func = String::new();
        let mut last_line = 0;
        for (line, text) in &added {
            if *line != last_line + 1 {
                func.clear();
            }
            last_line = *line;
            if let Some(c) = FUNC.captures(text) {
                func = c[1].to_string();
            }
            let code = text.split("//").next().unwrap_or_default();
            if code.trim_start().starts_with("defer ") {
                continue;
            }
            for r in RULES.iter() {
                if r.re.is_match(code) {
                    out.push(finding(
                        f.path(),
                        *line,
                        r.id,
                        r.category,
                        r.severity,
                        r.message,
                        r.suggestion,
                    ));
                }
            }
            if math_rand
                && MATH_RAND_CALL.is_match(code)
                && (SECRETISH.is_match(code) || SECRETISH.is_match(&func))
            {
                out.push(finding(
                    f.path(),
                    *line,
                    "weak-random",
                    "security",
                    Severity::Error,
                    "math/rand is predictable, and this makes a token, key or secret",
                    "use crypto/rand (rand.Read, rand.Int(rand.Reader, max) or rand.Text)",
                ));
            }
            if text.starts_with('}') {
                func.clear();
            }
        }
    }
    out.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    out
}

fn finding(
    path: &str,
    line: u32,
    rule: &str,
    category: &str,
    severity: Severity,
    message: &str,
    suggestion: &str,
) -> Finding {
    Finding {
        file: path.into(),
        line,
        end_line: None,
        severity,
        category: category.into(),
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
        let key = format!("sk-ant-api03-{}", "x9Y8z7W6".repeat(5));
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
                &format!("const anthropicKey = \"{key}\""),
                "\tjson.Unmarshal(body, &req)",
                "func newResetCode() string {",
                "\treturn fmt.Sprint(rand.Intn(999999))",
                "}",
                // Safe:
                "\t_, err = db.Exec(\"DELETE FROM users WHERE id = $1\", id)",
                "\tpassword := cfg.Password",
                "\tdefer f.Close()",
                "\tif err := f.Close(); err != nil {",
                "\t// password = \"in a comment\"",
                "\tn := rand.Intn(len(backends))",
                "\tif err := json.Unmarshal(body, &req); err != nil {",
            ],
        );
        let found = check(&files, &|_| false);
        let got: Vec<(u32, &str, &str)> = found
            .iter()
            .map(|f| (f.line, f.rule.as_str(), f.category.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "secret/password", "secrets"),
                (3, "sql-string-building", "sql"),
                (3, "ignored-error", "errors"),
                (4, "sql-string-building", "sql"),
                (5, "insecure-tls", "security"),
                (6, "ignored-error", "errors"),
                (7, "ignored-error", "errors"),
                (8, "weak-random", "security"),
                (9, "secret/anthropic-key", "secrets"),
                (10, "ignored-error", "errors"),
                (12, "weak-random", "security"),
            ]
        );
        // A secret in any text file; math/rand imported on a line the diff does not add.
        let yaml = diff_adding("etc/core.yaml", &[&format!("  ApiKey: {key}")]);
        assert_eq!(check(&yaml, &|_| false)[0].rule, "secret/anthropic-key");
        let go = diff_adding("rpc/y.go", &["\tsessionID := rand.Int63()"]);
        assert!(
            check(&go, &|_| false).is_empty(),
            "crypto/rand has no Int63; no import seen"
        );
        assert_eq!(check(&go, &|p| p == "rpc/y.go")[0].rule, "weak-random");
        assert!(
            check(&diff_adding("go.sum", &[&format!("x h1:{key}")]), &|_| {
                false
            })
            .is_empty()
        );
    }
}
