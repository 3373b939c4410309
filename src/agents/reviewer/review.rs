//! Composing the one review (pure): inline comments for the new findings on the diff, highest
//! severity first and capped (a flooded pull request is the top complaint about bots); the rest,
//! the findings off the diff, and the earlier findings that are now fixed go into the summary.
//! Every inline comment carries its fingerprint in a hidden marker, so a re-run never repeats
//! a comment: on the same head it posts nothing at all.

use std::collections::{BTreeMap, BTreeSet};

use super::finding::{Finding, Severity};
use crate::services::github::{ExistingComment, InlineComment, ReviewEvent};

pub const DEFAULT_MAX_COMMENTS: usize = 30;
const MARKER: &str = "<!-- devagents:fp=";

#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    pub event: ReviewEvent,
    pub body: String,
    pub comments: Vec<InlineComment>,
    /// Findings posted inline now.
    pub posted: Vec<Finding>,
    /// Fingerprints of earlier comments whose finding is gone.
    pub fixed: Vec<String>,
}

/// Every fingerprint marker in a text (a comment carries one; a summary one per line).
pub fn markers_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(MARKER) {
        rest = &rest[i + MARKER.len()..];
        if let Some(end) = rest.find(" -->") {
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
    out
}

pub fn comment_body(f: &Finding) -> String {
    let mut b = format!(
        "**{:?}** · {}/{}: {}",
        f.severity, f.category, f.rule, f.message
    );
    if let Some(s) = &f.suggestion {
        b.push_str(&format!("\n\nSuggestion: {s}"));
    }
    b.push_str(&format!("\n\n{MARKER}{} -->", f.fingerprint));
    b
}

/// A summary line, with its marker (so a re-run knows it was reported).
fn line_of(f: &Finding) -> String {
    format!(
        "- `{}:{}` **{:?}** {}/{}: {} {MARKER}{} -->\n",
        f.file, f.line, f.severity, f.category, f.rule, f.message, f.fingerprint
    )
}

/// What the pull request already holds from earlier runs.
#[derive(Clone, Debug, Default)]
pub struct Earlier<'a> {
    pub comments: &'a [ExistingComment],
    /// Bodies of earlier reviews (their summaries).
    pub bodies: &'a [String],
}

impl Earlier<'_> {
    /// fingerprint → how it was shown (`path:line` and its first line of text).
    fn reported(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for c in self.comments {
            for m in markers_in(&c.body) {
                let first = c.body.lines().next().unwrap_or_default();
                out.insert(
                    m.to_string(),
                    format!("`{}:{}` {first}", c.path, c.line.unwrap_or(0)),
                );
            }
        }
        for b in self.bodies {
            for l in b.lines() {
                for m in markers_in(l) {
                    let shown = l
                        .split(MARKER)
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("- ")
                        .trim()
                        .to_string();
                    out.entry(m.to_string()).or_insert(shown);
                }
            }
        }
        out
    }
}

/// Plan the review. `inline` are findings on commentable lines, `off_diff` the others.
/// `None`: nothing new and nothing fixed — post nothing.
pub fn plan(
    inline: Vec<Finding>,
    off_diff: Vec<Finding>,
    earlier: &Earlier<'_>,
    max_comments: usize,
    request_changes_at: Option<Severity>,
) -> Option<Review> {
    let reported = earlier.reported();
    let current: BTreeSet<&str> = inline
        .iter()
        .chain(&off_diff)
        .map(|f| f.fingerprint.as_str())
        .collect();
    let fixed: Vec<(String, String)> = reported
        .iter()
        .filter(|(fp, _)| !current.contains(fp.as_str()))
        .map(|(fp, shown)| (fp.clone(), shown.clone()))
        .collect();
    let is_new = |f: &Finding| !reported.contains_key(&f.fingerprint);
    let mut new: Vec<Finding> = inline.into_iter().filter(is_new).collect();
    let new_off: Vec<Finding> = off_diff.into_iter().filter(is_new).collect();
    new.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.file.cmp(&b.file))
            .then_with(|| a.line.cmp(&b.line))
    });
    let overflow = new.split_off(new.len().min(max_comments));
    if new.is_empty() && overflow.is_empty() && new_off.is_empty() && fixed.is_empty() {
        return None;
    }
    let all_new: Vec<&Finding> = new.iter().chain(&overflow).chain(&new_off).collect();
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &all_new {
        *counts.entry(f.severity).or_default() += 1;
        *by_category.entry(f.category.as_str()).or_default() += 1;
    }
    let mut body = format!(
        "### devagents reviewer\n\n{} new finding{}",
        all_new.len(),
        if all_new.len() == 1 { "" } else { "s" }
    );
    if !counts.is_empty() {
        let sev: Vec<String> = counts
            .iter()
            .rev()
            .map(|(s, n)| format!("{n} {s:?}").to_lowercase())
            .collect();
        let cat: Vec<String> = by_category
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        body.push_str(&format!(" ({}; {})", sev.join(", "), cat.join(", ")));
    }
    body.push_str(".\n");
    if !overflow.is_empty() {
        body.push_str(&format!(
            "\n#### {} more (over the limit of {max_comments} inline comments)\n",
            overflow.len()
        ));
        overflow.iter().for_each(|f| body.push_str(&line_of(f)));
    }
    if !new_off.is_empty() {
        body.push_str("\n#### Not on the changed lines\n");
        new_off.iter().for_each(|f| body.push_str(&line_of(f)));
    }
    if !fixed.is_empty() {
        body.push_str("\n#### Fixed since the last review\n");
        for (_, shown) in &fixed {
            body.push_str(&format!("- {shown}\n"));
        }
    }
    let event = match request_changes_at {
        Some(t) if all_new.iter().any(|f| f.severity >= t) => ReviewEvent::RequestChanges,
        _ => ReviewEvent::Comment,
    };
    let comments = new
        .iter()
        .map(|f| {
            // A finding over several lines is a multi-line comment: start_line..line.
            let (start, line) = match f.end_line {
                Some(e) if e > f.line => (Some(f.line as u64), e as u64),
                _ => (None, f.line as u64),
            };
            InlineComment {
                path: f.file.clone(),
                line,
                start_line: start,
                side: "RIGHT".into(),
                body: comment_body(f),
            }
        })
        .collect();
    Some(Review {
        event,
        body,
        comments,
        posted: new,
        fixed: fixed.into_iter().map(|(fp, _)| fp).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(file: &str, line: u32, sev: Severity, fp: &str) -> Finding {
        Finding {
            file: file.into(),
            line,
            end_line: None,
            severity: sev,
            category: "security".into(),
            rule: "r".into(),
            message: format!("problem at {line}"),
            suggestion: None,
            source: "security".into(),
            fingerprint: fp.into(),
        }
    }

    fn as_existing(r: &Review) -> Vec<ExistingComment> {
        r.comments
            .iter()
            .enumerate()
            .map(|(i, c)| ExistingComment {
                id: i as u64,
                path: c.path.clone(),
                line: Some(c.line),
                body: c.body.clone(),
            })
            .collect()
    }

    #[test]
    fn capped_sorted_and_never_repeated() {
        let mut inline: Vec<Finding> = (1..=35)
            .map(|i| f("a.go", i, Severity::Warning, &format!("w{i}")))
            .collect();
        inline.push(f("b.go", 9, Severity::Critical, "c1"));
        let off = vec![f("a.go", 400, Severity::Error, "off1")];
        let r = plan(
            inline.clone(),
            off.clone(),
            &Earlier::default(),
            30,
            Some(Severity::Error),
        )
        .unwrap();
        assert_eq!(r.comments.len(), 30);
        assert_eq!(r.comments[0].path, "b.go", "highest severity first");
        assert_eq!(r.event, ReviewEvent::RequestChanges);
        assert!(
            r.body
                .contains("37 new findings (1 critical, 1 error, 35 warning; security 37)"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("#### 6 more (over the limit of 30 inline comments)"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("#### Not on the changed lines\n- `a.go:400`"),
            "{}",
            r.body
        );
        assert_eq!(markers_in(&r.comments[0].body), vec!["c1"]);

        // The same findings again: nothing new, nothing fixed → nothing to post.
        let comments = as_existing(&r);
        let bodies = vec![r.body.clone()];
        let earlier = Earlier {
            comments: &comments,
            bodies: &bodies,
        };
        assert_eq!(plan(inline.clone(), off.clone(), &earlier, 30, None), None);

        // Two fixed, one new: only the new one is posted; the fixed ones are listed.
        let mut next: Vec<Finding> = inline
            .into_iter()
            .filter(|x| x.fingerprint != "c1" && x.fingerprint != "w1")
            .collect();
        next.push(f("c.go", 1, Severity::Warning, "n1"));
        let r2 = plan(next, off, &earlier, 30, Some(Severity::Error)).unwrap();
        assert_eq!(
            r2.comments
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>(),
            vec!["c.go"]
        );
        assert_eq!(r2.event, ReviewEvent::Comment);
        let mut fixed = r2.fixed.clone();
        fixed.sort();
        assert_eq!(fixed, vec!["c1", "w1"]);
        let fixed_part = r2
            .body
            .split("#### Fixed since the last review\n")
            .nth(1)
            .unwrap();
        assert!(fixed_part.contains("- `a.go:1` **Warning**"), "{}", r2.body);
        assert!(
            fixed_part.contains("- `b.go:9` **Critical**"),
            "{}",
            r2.body
        );
    }

    #[test]
    fn multi_line_findings_span_their_lines() {
        let mut x = f("a.go", 3, Severity::Error, "m");
        x.end_line = Some(6);
        let r = plan(vec![x], vec![], &Earlier::default(), 30, None).unwrap();
        assert_eq!((r.comments[0].start_line, r.comments[0].line), (Some(3), 6));
    }
}
