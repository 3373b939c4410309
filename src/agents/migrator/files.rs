//! The migration as files: golang-migrate pairs (`<version>_<name>.up.sql` / `.down.sql`) or an
//! Atlas directory (`<version>_<name>.sql` and its `atlas.sum`). The changes that run in a
//! transaction share one file (one transaction, `SET LOCAL lock_timeout`); every
//! `CONCURRENTLY` index change gets a file of its own with that one statement, since
//! PostgreSQL refuses it inside a transaction (and golang-migrate sends a file as one query).

use base64::Engine;
use sha2::{Digest, Sha256};

use super::sql::Change;
use crate::api::MigrationFormat;

/// How long a statement of the forward file waits for a lock before it gives up.
pub const LOCK_TIMEOUT: &str = "5s";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct File {
    /// Relative to the migration directory.
    pub name: String,
    pub text: String,
}

/// One unit golang-migrate (or Atlas) applies: forward and rollback text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub version: u64,
    pub label: String,
    pub up: String,
    pub down: String,
    pub transactional: bool,
}

fn labels(c: &Change) -> String {
    if c.lints.is_empty() {
        return String::new();
    }
    let l: Vec<String> = c
        .lints
        .iter()
        .map(|l| format!("{}:{}", l.category, l.code))
        .collect();
    format!("  [{}]", l.join(", "))
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').chars().take(60).collect()
}

/// The steps of a migration: the transactional changes in one, each concurrent one alone.
pub fn steps(changes: &[Change], name: &str, version: u64) -> Vec<Step> {
    let mut out = Vec::new();
    let tx: Vec<&Change> = changes.iter().filter(|c| !c.concurrent).collect();
    let mut v = version;
    if !tx.is_empty() {
        let mut up = format!(
            "-- {name}: forward (devagents migrator)\nBEGIN;\nSET LOCAL lock_timeout = '{LOCK_TIMEOUT}';\n"
        );
        for c in &tx {
            up.push_str(&format!("\n-- {}{}\n", c.summary, labels(c)));
            for s in &c.up {
                up.push_str(s);
                up.push('\n');
            }
        }
        up.push_str("\nCOMMIT;\n");
        let mut down = format!(
            "-- {name}: rollback (devagents migrator)\nBEGIN;\nSET LOCAL lock_timeout = '{LOCK_TIMEOUT}';\n"
        );
        for c in tx.iter().rev() {
            down.push_str(&format!("\n-- undo: {}\n", c.summary));
            if let Some(l) = &c.rollback_loses {
                down.push_str(&format!("-- DATA LOSS: {l}\n"));
            }
            if let Some(l) = &c.rollback_fails_when {
                down.push_str(&format!("-- FAILS IF: {l}\n"));
            }
            for s in &c.down {
                down.push_str(s);
                down.push('\n');
            }
        }
        down.push_str("\nCOMMIT;\n");
        out.push(Step {
            version: v,
            label: name.to_string(),
            up,
            down,
            transactional: true,
        });
        v += 1;
    }
    for c in changes.iter().filter(|c| c.concurrent) {
        let what = c
            .summary
            .split_once(": ")
            .map(|(_, w)| w)
            .unwrap_or(&c.summary);
        let up = format!(
            "-- {name}: {} (devagents migrator; CONCURRENTLY, outside a transaction){}\n{}\n",
            c.summary,
            labels(c),
            c.up.join("\n")
        );
        let down = if c.down.is_empty() {
            format!(
                "-- {name}: undo {} (devagents migrator): nothing to undo, the step changes no schema\n",
                c.summary
            )
        } else {
            format!(
                "-- {name}: undo {} (devagents migrator)\n{}\n",
                c.summary,
                c.down.join("\n")
            )
        };
        out.push(Step {
            version: v,
            label: format!("{name}_{}", slug(what)),
            up,
            down,
            transactional: false,
        });
        v += 1;
    }
    out
}

/// golang-migrate's file pairs.
pub fn golang_migrate(steps: &[Step]) -> Vec<File> {
    let mut out = Vec::new();
    for s in steps {
        out.push(File {
            name: format!("{}_{}.up.sql", s.version, s.label),
            text: s.up.clone(),
        });
        out.push(File {
            name: format!("{}_{}.down.sql", s.version, s.label),
            text: s.down.clone(),
        });
    }
    out
}

/// Atlas's directory files (Atlas runs each in a transaction unless `atlas:txmode none`, and
/// computes rollbacks itself): the forward text without BEGIN/COMMIT.
pub fn atlas(steps: &[Step]) -> Vec<File> {
    steps
        .iter()
        .map(|s| {
            let body: String =
                s.up.lines()
                    .filter(|l| !matches!(*l, "BEGIN;" | "COMMIT;"))
                    .map(|l| {
                        if l.starts_with("SET LOCAL lock_timeout") {
                            format!("SET lock_timeout = '{LOCK_TIMEOUT}';\n")
                        } else {
                            format!("{l}\n")
                        }
                    })
                    .collect();
            File {
                name: format!("{}_{}.sql", s.version, s.label),
                text: if s.transactional {
                    body
                } else {
                    format!("-- atlas:txmode none\n\n{body}")
                },
            }
        })
        .collect()
}

/// `atlas.sum` over the directory's migration files (name, contents), sorted by name as Atlas
/// reads them: a running SHA-256 over each name and its contents, the sum over the names and
/// their hashes.
pub fn atlas_sum(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut running = Sha256::new();
    let mut lines = Vec::new();
    for (name, bytes) in sorted {
        running.update(name.as_bytes());
        running.update(bytes);
        lines.push((name.clone(), b64(&running.clone().finalize())));
    }
    let mut sum = Sha256::new();
    for (n, h) in &lines {
        sum.update(n.as_bytes());
        sum.update(h.as_bytes());
    }
    let mut out = format!("h1:{}\n", b64(&sum.finalize()));
    for (n, h) in lines {
        out.push_str(&format!("{n} h1:{h}\n"));
    }
    out
}

/// The files of a migration in `format`; `existing` are the directory's migration files
/// already there (Atlas's sum covers them too).
pub fn render(
    format: MigrationFormat,
    steps: &[Step],
    existing: &[(String, Vec<u8>)],
) -> Vec<File> {
    match format {
        MigrationFormat::GolangMigrate => golang_migrate(steps),
        MigrationFormat::Atlas => {
            let mut files = atlas(steps);
            let mut all: Vec<(String, Vec<u8>)> = existing
                .iter()
                .filter(|(n, _)| n.ends_with(".sql"))
                .cloned()
                .collect();
            all.extend(
                files
                    .iter()
                    .map(|f| (f.name.clone(), f.text.clone().into_bytes())),
            );
            files.push(File {
                name: "atlas.sum".into(),
                text: atlas_sum(&all),
            });
            files
        }
    }
}

/// A UTC timestamp version, `YYYYMMDDHHMMSS`.
pub fn version_now() -> u64 {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.strftime("%Y%m%d%H%M%S")
        .to_string()
        .parse()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atlas_sum_is_a_running_hash() {
        let files = vec![
            ("2_b.sql".to_string(), b"B".to_vec()),
            ("1_a.sql".to_string(), b"A".to_vec()),
        ];
        let sum = atlas_sum(&files);
        let lines: Vec<&str> = sum.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("1_a.sql h1:"), "{sum}");
        assert!(lines[2].starts_with("2_b.sql h1:"), "{sum}");
        // The first file's hash is SHA-256 of its name and contents.
        let h = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"1_a.sqlA"));
        assert_eq!(lines[1], format!("1_a.sql h1:{h}"));
        // The second is the running hash over both.
        let h2 =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"1_a.sqlA2_b.sqlB"));
        assert_eq!(lines[2], format!("2_b.sql h1:{h2}"));
        // Changing a file changes the sum.
        let other = atlas_sum(&[("1_a.sql".to_string(), b"X".to_vec())]);
        assert_ne!(other.lines().next(), lines.first().copied());
    }

    #[test]
    fn version_is_a_utc_timestamp() {
        let v = version_now();
        assert!((20000101000000..30000101000000).contains(&v), "{v}");
    }
}
