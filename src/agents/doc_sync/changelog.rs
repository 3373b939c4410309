//! A Keep a Changelog entry under `## [Unreleased]` from the API diff and the conventional
//! commits between the refs, grouped the way git-cliff and git-chglog group them: `feat` →
//! Added, `fix` → Fixed, `perf`/`refactor` → Changed, deprecations → Deprecated, `security` →
//! Security; removed endpoints and fields → Removed. Breaking items (`!`, `BREAKING CHANGE:`, a
//! breaking API change) are marked `**Breaking:**`. A revert cancels the commit it reverts
//! (and itself). Writing is idempotent: a line already under `[Unreleased]` is not added
//! again.

use std::collections::BTreeMap;

use super::api_diff::{Change, Level};

/// Keep a Changelog's sections, in its order.
pub const SECTIONS: &[&str] = &[
    "Added",
    "Changed",
    "Deprecated",
    "Removed",
    "Fixed",
    "Security",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    pub body: String,
}

/// Section → lines (without the `- `).
pub type Entry = BTreeMap<&'static str, Vec<String>>;

/// `feat(api)!: add x` → (type, scope, breaking, description).
fn conventional(subject: &str) -> Option<(String, Option<String>, bool, String)> {
    let (head, desc) = subject.split_once(": ")?;
    let (head, bang) = match head.strip_suffix('!') {
        Some(h) => (h, true),
        None => (head, false),
    };
    let (ty, scope) = match head.split_once('(') {
        Some((t, s)) => (t, Some(s.trim_end_matches(')').to_string())),
        None => (head, None),
    };
    if ty.is_empty() || !ty.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    Some((ty.to_string(), scope, bang, desc.trim().to_string()))
}

/// The commits that stay: a revert (`Revert "subject"`, or a body naming `This reverts commit
/// <sha>`) takes out the commit it reverts, and itself.
fn without_reverts(commits: &[Commit]) -> Vec<&Commit> {
    let mut gone: Vec<usize> = Vec::new();
    for (i, c) in commits.iter().enumerate() {
        let reverted_subject = c
            .subject
            .strip_prefix("Revert \"")
            .and_then(|s| s.strip_suffix('"'));
        let reverted_sha = c.body.split("This reverts commit ").nth(1).map(|s| {
            s.trim_end_matches('.')
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_end_matches('.')
        });
        if reverted_subject.is_none() && reverted_sha.is_none() {
            continue;
        }
        let target = commits.iter().position(|o| {
            !std::ptr::eq(o, c)
                && (reverted_sha.is_some_and(|s| !s.is_empty() && o.sha.starts_with(s))
                    || reverted_subject.is_some_and(|s| o.subject == s))
        });
        if let Some(t) = target {
            gone.push(t);
            gone.push(i);
        }
    }
    commits
        .iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, c)| c)
        .collect()
}

/// The entry for the API changes and the commits.
pub fn entry(changes: &[Change], commits: &[Commit]) -> Entry {
    let mut e: Entry = BTreeMap::new();
    let mut push = |section: &'static str, breaking: bool, text: String| {
        let line = if breaking {
            format!("**Breaking:** {text}")
        } else {
            text
        };
        let v = e.entry(section).or_default();
        if !v.contains(&line) {
            v.push(line);
        }
    };
    for c in changes {
        let breaking = c.level == Level::Breaking;
        let section = match c.kind.as_str() {
            "endpoint-added" | "optional-field-added" | "response-field-added" => "Added",
            "endpoint-removed" | "field-removed" => "Removed",
            _ => "Changed",
        };
        let what = match c.kind.as_str() {
            "endpoint-added" => format!("endpoint `{}`", c.subject),
            "endpoint-removed" => format!("endpoint `{}`", c.subject),
            "field-removed" => format!("field `{}`", c.subject),
            "optional-field-added" | "response-field-added" | "required-field-added" => {
                format!("field `{}` ({})", c.subject, c.detail)
            }
            _ => format!("`{}`: {}", c.subject, c.detail),
        };
        push(section, breaking, what);
    }
    for c in without_reverts(commits) {
        let Some((ty, scope, bang, desc)) = conventional(&c.subject) else {
            continue;
        };
        let breaking =
            bang || c.body.contains("BREAKING CHANGE:") || c.body.contains("BREAKING-CHANGE:");
        let lower = desc.to_ascii_lowercase();
        let section = match ty.as_str() {
            _ if scope.as_deref() == Some("security") || ty == "security" => "Security",
            _ if lower.starts_with("deprecate") => "Deprecated",
            "feat" => "Added",
            "fix" => "Fixed",
            "perf" | "refactor" => "Changed",
            _ => continue,
        };
        let text = match &scope {
            Some(s) if s != "security" => format!("{s}: {desc}"),
            _ => desc,
        };
        push(section, breaking, text);
    }
    e
}

const HEADER: &str = "# Changelog\n\nAll notable changes to this project are documented in this file.\n\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n\n";

/// `changelog` (empty: a new file) with `e` under `## [Unreleased]`, merged into what is
/// already there. Returns the text and how many lines were added.
pub fn write(changelog: &str, e: &Entry) -> (String, usize) {
    let text = if changelog.trim().is_empty() {
        HEADER.to_string()
    } else {
        changelog.to_string()
    };
    let lines: Vec<&str> = text.lines().collect();
    // The Unreleased block: from its heading to the next `## ` heading.
    let start = lines
        .iter()
        .position(|l| l.trim().eq_ignore_ascii_case("## [Unreleased]"));
    let (before, block, after): (Vec<&str>, Vec<&str>, Vec<&str>) = match start {
        Some(s) => {
            let end = lines[s + 1..]
                .iter()
                .position(|l| l.starts_with("## "))
                .map_or(lines.len(), |p| s + 1 + p);
            (
                lines[..s].to_vec(),
                lines[s + 1..end].to_vec(),
                lines[end..].to_vec(),
            )
        }
        None => {
            let first = lines
                .iter()
                .position(|l| l.starts_with("## "))
                .unwrap_or(lines.len());
            (lines[..first].to_vec(), Vec::new(), lines[first..].to_vec())
        }
    };
    // What the block has, by section.
    let mut have: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    let mut other: Vec<String> = Vec::new();
    for l in &block {
        if let Some(h) = l.strip_prefix("### ") {
            current = h.trim().to_string();
            have.entry(current.clone()).or_default();
        } else if let Some(item) = l.trim_start().strip_prefix("- ") {
            have.entry(current.clone())
                .or_default()
                .push(item.to_string());
        } else if !l.trim().is_empty() {
            other.push(l.to_string());
        }
    }
    let mut added = 0;
    for (section, items) in e {
        let v = have.entry(section.to_string()).or_default();
        for i in items {
            if !v.contains(i) {
                v.push(i.clone());
                added += 1;
            }
        }
    }
    let mut out = String::new();
    for l in &before {
        out.push_str(l);
        out.push('\n');
    }
    if !out.ends_with("\n\n") && !out.is_empty() {
        out.push('\n');
    }
    out.push_str("## [Unreleased]\n\n");
    for l in &other {
        out.push_str(l);
        out.push_str("\n\n");
    }
    let order = SECTIONS
        .iter()
        .map(|s| s.to_string())
        .chain(
            have.keys()
                .filter(|k| !SECTIONS.contains(&k.as_str()) && !k.is_empty())
                .cloned(),
        )
        .collect::<Vec<_>>();
    for s in order {
        let Some(items) = have.get(&s).filter(|v| !v.is_empty()) else {
            continue;
        };
        out.push_str(&format!("### {s}\n\n"));
        for i in items {
            out.push_str(&format!("- {i}\n"));
        }
        out.push('\n');
    }
    for (k, l) in after.iter().enumerate() {
        out.push_str(l);
        if k + 1 < after.len() || text.ends_with('\n') {
            out.push('\n');
        }
    }
    (out, added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sha: &str, subject: &str, body: &str) -> Commit {
        Commit {
            sha: sha.into(),
            subject: subject.into(),
            body: body.into(),
        }
    }

    #[test]
    fn commits_and_api_changes_become_one_entry() {
        let commits = vec![
            c("a1", "feat(department): tree view", ""),
            c("b2", "fix: list paging off by one", ""),
            c("c3", "feat!: drop the v1 login", ""),
            c("d4", "feat: colours", ""),
            c("e5", "Revert \"feat: colours\"", "This reverts commit d4."),
            c("f6", "fix(security): escape the search term", ""),
            c(
                "g7",
                "refactor: split the store",
                "BREAKING CHANGE: Store.Get takes a context",
            ),
            c("h8", "chore: bump deps", ""),
            c("i9", "not conventional at all", ""),
            c("j0", "feat: deprecate the old export", ""),
        ];
        let changes = vec![
            Change {
                level: Level::Info,
                kind: "endpoint-added".into(),
                subject: "POST /department/tree".into(),
                detail: "handler getDepartmentTree".into(),
            },
            Change {
                level: Level::Breaking,
                kind: "field-removed".into(),
                subject: "POST /department/create request DepartmentInfo.code".into(),
                detail: "*string".into(),
            },
        ];
        let e = entry(&changes, &commits);
        assert_eq!(
            e["Added"],
            vec![
                "endpoint `POST /department/tree`".to_string(),
                "department: tree view".into(),
                "**Breaking:** drop the v1 login".into(),
            ]
        );
        assert_eq!(
            e["Removed"],
            vec![
                "**Breaking:** field `POST /department/create request DepartmentInfo.code`"
                    .to_string()
            ]
        );
        assert_eq!(e["Fixed"], vec!["list paging off by one".to_string()]);
        assert_eq!(e["Security"], vec!["escape the search term".to_string()]);
        assert_eq!(
            e["Changed"],
            vec!["**Breaking:** split the store".to_string()]
        );
        assert_eq!(
            e["Deprecated"],
            vec!["deprecate the old export".to_string()]
        );
        assert!(
            !e.values()
                .flatten()
                .any(|l| l.contains("colours") || l.contains("bump"))
        );
    }

    #[test]
    fn the_entry_goes_under_unreleased_once() {
        let existing = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Fixed\n\n- an old fix\n\n## [1.0.0] - 2026-01-01\n\n### Added\n\n- first release\n";
        let e: Entry = [
            ("Added", vec!["endpoint `POST /x`".to_string()]),
            (
                "Fixed",
                vec!["an old fix".to_string(), "a new fix".to_string()],
            ),
        ]
        .into();
        let (out, added) = write(existing, &e);
        assert_eq!(added, 2);
        assert_eq!(
            out,
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Added\n\n- endpoint `POST /x`\n\n### Fixed\n\n- an old fix\n- a new fix\n\n## [1.0.0] - 2026-01-01\n\n### Added\n\n- first release\n"
        );
        let (again, added) = write(&out, &e);
        assert_eq!((again.as_str(), added), (out.as_str(), 0));
        let (fresh, _) = write("", &e);
        assert!(
            fresh.starts_with("# Changelog\n")
                && fresh.contains("## [Unreleased]\n\n### Added\n\n- endpoint `POST /x`\n"),
            "{fresh}"
        );
    }
}
