//! Secret redaction, applied to every log line, progress line, status message, Event,
//! action target and result the project writes: tokens, keys, passwords, private keys and
//! bearer headers become `[REDACTED:<kind>]`.
//!
//! The same patterns find secrets committed in code: the reviewer reports what
//! [`find_secrets`] finds on the lines a pull request adds (provider key formats as gitleaks
//! knows them, and high-entropy literals assigned to secret-named identifiers).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

struct Rule {
    kind: &'static str,
    re: Regex,
    /// Capture group holding the secret (0: the whole match).
    group: usize,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |kind, pattern: &str, group| Rule {
        kind,
        re: Regex::new(pattern).expect("redaction pattern"),
        group,
    };
    vec![
        r(
            "private-key",
            r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
            0,
        ),
        r(
            "bearer",
            r"(?i)\b(?:authorization:\s*)?bearer\s+([A-Za-z0-9\-._~+/]{8,}=*)",
            1,
        ),
        r(
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
            0,
        ),
        r("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{10,}", 0),
        r("openai-key", r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}", 0),
        r(
            "github-token",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
            0,
        ),
        r("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0),
        r(
            "slack-webhook",
            r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
            0,
        ),
        r(
            "notion-token",
            r"\b(?:secret_[A-Za-z0-9]{30,}|ntn_[A-Za-z0-9]{30,})",
            0,
        ),
        r("aws-key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", 0),
        r(
            "aws-secret-key",
            r#"(?i)aws.{0,20}?(?:secret|private).{0,20}?["'=:\s]([A-Za-z0-9/+]{40})\b"#,
            1,
        ),
        r("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}", 0),
        r("google-key", r"\bAIza[0-9A-Za-z_-]{35}", 0),
        r("google-oauth-secret", r"\bGOCSPX-[A-Za-z0-9_-]{28}", 0),
        r(
            "stripe-key",
            r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}",
            0,
        ),
        r(
            "slack-app-token",
            r"\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,}",
            0,
        ),
        r(
            "sendgrid-key",
            r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
            0,
        ),
        r("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b", 0),
        r("url-password", r"://[^/\s:@]+:([^/\s@]+)@", 1),
        // A secret-named key (also with a prefix: `DB_PASSWORD`, `GITHUB_TOKEN`, and quoted
        // as in JSON: `"client_secret": "…"`) followed by its value.
        r(
            "password",
            r#"(?i)(?:\b|_)(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|token|client[_-]?secret|private[_-]?key)["']?\s*[:=]\s*["']?([^\s"',;&]{4,})"#,
            1,
        ),
    ]
});

/// A secret found in a text: its kind and where it is (byte range of the secret itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
}

/// Words that make a literal a placeholder, not a secret.
const PLACEHOLDERS: &[&str] = &[
    "example",
    "changeme",
    "change-me",
    "placeholder",
    "your",
    "xxxx",
    "dummy",
    "redacted",
    "sample",
    "<",
    "${",
    "{{",
    "%s",
    "todo",
];

/// Shannon entropy of `s` in bits per character.
pub fn entropy(s: &str) -> f64 {
    let n = s.chars().count() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The secrets in one line of code or configuration: every provider format the redaction
/// knows, and a string literal assigned to a secret-named identifier (`password := "…"`,
/// `apiKey: '…'`, `const anthropicKey = "…"`) that is long and random enough (entropy ≥ 3.5
/// bits a character, like gitleaks' generic rule; a password-named one from 8 characters).
/// Placeholders (`example`, `changeme`, `${VAR}` …) are not secrets.
pub fn find_secrets(line: &str) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for rule in RULES.iter() {
        if matches!(rule.kind, "password" | "bearer") {
            continue;
        }
        for c in rule.re.captures_iter(line) {
            // One secret, one kind: the first rule that saw it (`sk-ant-…` is not also an
            // OpenAI key).
            if let Some(m) = c.get(rule.group)
                && !out.iter().any(|f| f.start < m.end() && m.start() < f.end)
            {
                out.push(Found {
                    kind: rule.kind,
                    start: m.start(),
                    end: m.end(),
                });
            }
        }
    }
    static ASSIGNED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)\b([A-Za-z_][A-Za-z0-9_]*)["']?\s*(?::=|=|:)\s*(?:\[\]byte\()?["'`]([^"'`\s]{8,})["'`]"#)
            .expect("assignment pattern")
    });
    static NAMED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(password|passwd|pwd|secret|token|api_?key|apikey|access_?key|private_?key|credential|auth_?key|signing_?key|(?:^|_)key$|[a-z]Key$)")
            .expect("name pattern")
    });
    for c in ASSIGNED.captures_iter(line) {
        let (Some(name), Some(value)) = (c.get(1), c.get(2)) else {
            continue;
        };
        if !NAMED.is_match(name.as_str())
            || out
                .iter()
                .any(|f| f.start < value.end() && value.start() < f.end)
        {
            continue;
        }
        let v = value.as_str();
        let lower = v.to_ascii_lowercase();
        if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
            continue;
        }
        let password = name.as_str().to_ascii_lowercase().contains("pass")
            || name.as_str().to_ascii_lowercase().contains("pwd");
        // A generated key mixes letters and digits; a cache key or a message does not.
        let mixed =
            v.chars().any(|c| c.is_ascii_digit()) && v.chars().any(|c| c.is_ascii_alphabetic());
        if (password && v.len() >= 8) || (v.len() >= 16 && mixed && entropy(v) >= 3.5) {
            out.push(Found {
                kind: if password {
                    "password"
                } else {
                    "generic-secret"
                },
                start: value.start(),
                end: value.end(),
            });
        }
    }
    out.sort_by_key(|f| f.start);
    out
}

/// What an unterminated private key block becomes: the block goes on in the next lines.
pub const KEY_OPEN: &str = "[REDACTED:private-key…]";

/// Is `key` (a JSON object key or variable name) the name of a secret?
pub fn secret_name(key: &str) -> bool {
    static NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:^|_|-)(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|token|client[_-]?secret|private[_-]?key)$")
            .expect("secret name pattern")
    });
    NAME.is_match(key)
}

/// Redact `text` that continues a log whose redacted tail is `prev`: when `prev` ends inside
/// a private key block (sent line by line), the key's remaining lines up to its END line are
/// redacted too.
pub fn redact_after(prev: &str, text: &str) -> String {
    if !prev.trim_end().ends_with(KEY_OPEN) {
        return redact(text).into_owned();
    }
    static END: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"-----END [A-Z0-9 ]*PRIVATE KEY-----[^\n]*\n?").expect("end pattern")
    });
    match END.find(text) {
        Some(m) => format!("[REDACTED:private-key]\n{}", redact(&text[m.end()..])),
        None => format!("{KEY_OPEN}\n"),
    }
}

/// Redact every secret in `s`.
pub fn redact(s: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(s);
    for rule in RULES.iter() {
        if !rule.re.is_match(&out) {
            continue;
        }
        let replaced = rule
            .re
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let whole = c.get(0).map(|m| m.as_str()).unwrap_or("");
                match c.get(rule.group) {
                    Some(secret) if rule.group != 0 => {
                        whole.replacen(secret.as_str(), &format!("[REDACTED:{}]", rule.kind), 1)
                    }
                    // A key block cut off at the end goes on in the next lines.
                    _ if rule.kind == "private-key" && !whole.contains("-----END") => {
                        KEY_OPEN.to_string()
                    }
                    _ => format!("[REDACTED:{}]", rule.kind),
                }
            })
            .into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

/// Redact every string inside a JSON value; the string value of a secret-named key
/// (`password`, `client_secret`, `GITHUB_TOKEN` …) is redacted whole.
pub fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        serde_json::Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match v {
                    serde_json::Value::String(s) if secret_name(k) && !s.is_empty() => {
                        *s = "[REDACTED:password]".into();
                    }
                    _ => redact_json(v),
                }
            }
        }
        _ => {}
    }
}

/// Ten kinds of planted secrets (used by the tests here and by the e2e tests).
pub fn planted_secrets() -> Vec<(&'static str, String)> {
    vec![
        ("github", format!("ghp_{}", "A1b2C3d4E5".repeat(4))),
        (
            "anthropic",
            format!("sk-ant-api03-{}", "x9Y8z7W6".repeat(5)),
        ),
        ("openai", format!("sk-proj-{}", "Q1w2E3r4T5".repeat(3))),
        ("slack", "xoxb-1234567890-abcdefghijklmnop".to_string()),
        ("aws", "AKIAIOSFODNN7EXAMPLE".to_string()),
        (
            "bearer",
            "Authorization: Bearer abc.def.ghi-jkl_mno".to_string(),
        ),
        ("password", "password=Hunter2Hunter2".to_string()),
        ("url", "postgres://app:S3cretPass@db:5432/core".to_string()),
        ("notion", format!("secret_{}", "n0t10nT0k3n".repeat(4))),
        (
            "private-key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7hZ\n-----END RSA PRIVATE KEY-----"
                .to_string(),
        ),
    ]
}

/// The part of each planted secret that must never appear.
pub fn planted_needles() -> Vec<&'static str> {
    vec![
        "A1b2C3d4E5A1b2C3d4E5",
        "x9Y8z7W6x9Y8z7W6",
        "Q1w2E3r4T5Q1w2E3r4T5",
        "abcdefghijklmnop",
        "IOSFODNN7EXAMPLE",
        "abc.def.ghi-jkl_mno",
        "Hunter2Hunter2",
        "S3cretPass",
        "n0t10nT0k3nn0t10nT0k3n",
        "MIIEowIBAAKCAQEA7hZ",
    ]
}

/// A `tracing` writer that redacts every log line before it reaches the inner writer:
/// `tracing_subscriber::fmt().with_writer(Redacting(std::io::stdout))`. The formatter writes
/// one event per writer, so a secret is never split across two redactions.
pub struct Redacting<M>(pub M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for Redacting<M>
{
    type Writer = RedactingWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            buf: Vec::new(),
            inner: self.0.make_writer(),
        }
    }
}

pub struct RedactingWriter<W: std::io::Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: std::io::Write> RedactingWriter<W> {
    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        self.inner.write_all(redact(&text).as_bytes())?;
        self.inner.flush()
    }
}

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()
    }
}

impl<W: std::io::Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_kinds_of_secrets_are_redacted() {
        let text: String = planted_secrets()
            .iter()
            .map(|(k, s)| format!("{k}: {s}\n"))
            .collect();
        let out = redact(&text);
        for needle in planted_needles() {
            assert!(!out.contains(needle), "{needle} survived:\n{out}");
        }
        assert!(out.contains("[REDACTED:github-token]"));
        assert!(
            out.contains("postgres://app:[REDACTED:url-password]@db:5432/core"),
            "{out}"
        );
        assert!(
            out.contains("Authorization: Bearer [REDACTED:bearer]"),
            "{out}"
        );
    }

    #[test]
    fn committed_secrets_are_found_on_their_line() {
        let kinds = |l: &str| {
            find_secrets(l)
                .into_iter()
                .map(|f| f.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(&format!(
                "const anthropicKey = \"sk-ant-api03-{}\"",
                "x9Y8z7W6".repeat(5)
            )),
            vec!["anthropic-key"]
        );
        assert_eq!(
            kinds(&format!(
                "key := \"sk_live_{}\"",
                "4eC39HqLyjWDarjtT1zdp7dc"
            )),
            vec!["stripe-key"]
        );
        assert_eq!(
            kinds("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            vec!["aws-secret-key"]
        );
        assert_eq!(
            kinds("client_secret: GOCSPX-abcdefghijklmnopqrstuvwxyz12"),
            vec!["google-oauth-secret"]
        );
        assert_eq!(
            kinds("signingKey := \"Zx81kQp2Lm9vRt5sWy3uNb7c\""),
            vec!["generic-secret"]
        );
        assert_eq!(kinds("dbPassword := \"hunter2hunter2\""), vec!["password"]);
        assert_eq!(
            kinds(&format!(
                "tok := \"{}\"",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk"
            )),
            vec!["jwt"]
        );
        // Not secrets: low entropy, placeholders, references, ordinary names.
        for line in [
            "apiKey := \"aaaaaaaaaaaaaaaaaaaa\"",
            "password := \"changeme-please\"",
            "token := os.Getenv(\"TOKEN\")",
            "secret: ${DB_SECRET}",
            "name := \"Zx81kQp2Lm9vRt5sWy3uNb7c\"",
            "cacheKey := \"user:profile:settings\"",
        ] {
            assert!(
                find_secrets(line).is_empty(),
                "{line}: {:?}",
                find_secrets(line)
            );
        }
        // Every kind the redaction knows is found as committed.
        for (kind, secret) in planted_secrets() {
            if matches!(kind, "bearer" | "password") {
                continue;
            }
            assert!(!find_secrets(&secret).is_empty(), "{kind}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "probe finished after 700 ms",
            "entity Department exists; set overwrite: true",
            "make gen-api: 3 files changed",
            "tokens used: 1200",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ] {
            assert_eq!(redact(s), s);
        }
    }

    #[test]
    fn json_strings_are_redacted_everywhere() {
        let mut v = serde_json::json!({"a": ["token: ghp_AAAAAAAAAAAAAAAAAAAAAAAA"], "b": {"c": "AKIAIOSFODNN7EXAMPLE"}, "n": 1});
        redact_json(&mut v);
        let s = v.to_string();
        assert!(
            !s.contains("AAAAAAAAAAAAAAAAAAAAAAAA") && !s.contains("IOSFODNN7EXAMPLE"),
            "{s}"
        );
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn log_lines_are_redacted() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let s2 = sink.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(Redacting(move || s2.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(sub, || {
            for (kind, secret) in planted_secrets() {
                tracing::info!(kind, "the agent printed {secret}");
            }
        });
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out.matches(" INFO ").count(),
            planted_secrets().len(),
            "{out}"
        );
        for needle in planted_needles() {
            assert!(
                !out.contains(needle),
                "{needle} leaked into the log:\n{out}"
            );
        }
        assert!(out.contains("[REDACTED:"));
    }

    #[test]
    fn what_the_attack_found_is_redacted() {
        let glpat = format!("glpat-{}", "Zx9Yw8Vu7T".repeat(2));
        let google = format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q");
        for (line, needle) in [
            ("DB_PASSWORD=Sup3rS3cretDb", "Sup3rS3cretDb"),
            ("export GITHUB_TOKEN=abcd1234efgh5678", "abcd1234efgh5678"),
            (r#"{"password": "Hunter2Hunter2"}"#, "Hunter2Hunter2"),
            (r#"{"client_secret": "cl1entS3cret"}"#, "cl1entS3cret"),
            (&format!("gitlab {glpat}"), "Zx9Yw8Vu7TZx9Yw8Vu7T"),
            (&format!("key={google}"), "SyA1b2C3d4E5f6G7h8I9"),
            (&format!("maps {google} here"), "SyA1b2C3d4E5f6G7h8I9"),
        ] {
            let out = redact(line);
            assert!(!out.contains(needle), "{needle} survived in {out}");
        }
        // Names that only look alike stay.
        assert_eq!(
            redact("DB_PASSWORD_FILE=/run/secrets/db"),
            "DB_PASSWORD_FILE=/run/secrets/db"
        );
    }

    #[test]
    fn json_values_of_secret_keys_are_redacted_whole() {
        let mut v = serde_json::json!({"password": "short", "db": {"DB_PASSWORD": "x y z"}, "name": "short"});
        redact_json(&mut v);
        assert_eq!(v["password"], "[REDACTED:password]");
        assert_eq!(v["db"]["DB_PASSWORD"], "[REDACTED:password]");
        assert_eq!(v["name"], "short");
    }

    #[test]
    fn a_private_key_sent_line_by_line_is_redacted_to_its_end() {
        let mut log = String::new();
        for line in [
            "starting",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACBx7lJtDc3vQ9mN0pL5kR2sT8uV1wX4yZ6aB9cD0eF1gAAAAJg2u7tFNru7",
            "-----END OPENSSH PRIVATE KEY-----",
            "done",
        ] {
            let add = redact_after(&log, &format!("{line}\n"));
            log.push_str(&add);
        }
        assert!(!log.contains("b3BlbnNzaC1rZXkt"), "{log}");
        assert!(!log.contains("QyNTUxOQAAACBx7lJt"), "{log}");
        assert!(
            log.starts_with("starting\n") && log.ends_with("done\n"),
            "{log}"
        );
    }
}
