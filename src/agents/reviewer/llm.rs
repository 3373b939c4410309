//! The LLM pass: the diff, in chunks that fit the model's context, with the project's
//! conventions, asking for the plan's JSON array of issues (file, line, severity, category,
//! message, suggestion) through the structured-output helper. Findings that do not land on a
//! diff line end up in the summary (the filter mode decides); findings on a line a
//! deterministic check already reported are dropped — the linters' word wins.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Deserialize;

use super::finding::{Finding, Severity};
use crate::agents::Host;
use crate::llm::gateway::CompletionRequest;

/// Characters of diff per LLM request (about 15k tokens).
pub const CHUNK_CHARS: usize = 60_000;

#[derive(Deserialize, JsonSchema, Debug)]
pub struct LlmIssue {
    pub file: String,
    pub line: u32,
    /// error, warning or info
    pub severity: String,
    /// error_handling, security, i18n, testing, style …
    pub category: String,
    pub message: String,
    #[serde(default)]
    pub suggestion: Option<String>,
}

const SYSTEM: &str = "You review Go changes for a Simple Admin Core project (go-zero + Ent). \
Check for Go best-practice violations, unchecked errors, bugs and races, security problems, \
missing i18n translations, API/RPC contract mismatches and missing tests. Report only \
problems in the lines the diff adds, with the new file's line numbers. Answer with a JSON \
array of issues; an empty array when there are none.";

/// The diff in pieces of at most `max` characters, cut between files (a file larger than
/// `max` is cut between hunks).
pub fn chunks(diff: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let push = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.trim().is_empty() {
            out.push(std::mem::take(cur));
        }
        cur.clear();
    };
    for file in diff.split_inclusive_at("diff --git ") {
        if cur.len() + file.len() > max {
            push(&mut cur, &mut out);
        }
        if file.len() > max {
            // Header once, then the hunks in pieces.
            let (header, hunks) = file
                .split_once("\n@@")
                .map(|(h, r)| (h, format!("@@{r}")))
                .unwrap_or((file, String::new()));
            let mut piece = format!("{header}\n");
            for h in hunks.split_inclusive_at("@@ -") {
                if piece.len() + h.len() > max && piece.len() > header.len() + 1 {
                    out.push(std::mem::replace(&mut piece, format!("{header}\n")));
                }
                piece.push_str(h);
            }
            out.push(piece);
            continue;
        }
        cur.push_str(file);
    }
    push(&mut cur, &mut out);
    out
}

trait SplitAt {
    fn split_inclusive_at<'a>(&'a self, marker: &'a str) -> Vec<&'a str>;
}

impl SplitAt for str {
    /// Split before every occurrence of `marker` at a line start, keeping it.
    fn split_inclusive_at<'a>(&'a self, marker: &'a str) -> Vec<&'a str> {
        let mut starts: Vec<usize> = self
            .match_indices(marker)
            .map(|(i, _)| i)
            .filter(|i| *i == 0 || self.as_bytes()[i - 1] == b'\n')
            .collect();
        if starts.first() != Some(&0) {
            starts.insert(0, 0);
        }
        starts.push(self.len());
        starts
            .windows(2)
            .map(|w| &self[w[0]..w[1]])
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn severity(s: &str) -> Severity {
    match s.to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    }
}

/// Ask the LLM about every chunk. Returns its findings (minus lines already covered) and
/// notes (skipped, or an answer that could not be used).
pub async fn review<H: Host + ?Sized>(
    host: &H,
    diff: &str,
    conventions: &str,
    covered: &BTreeSet<(String, u32)>,
) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let parts = chunks(diff, CHUNK_CHARS);
    for (i, part) in parts.iter().enumerate() {
        let instruction = format!("Diff (part {} of {}):\n{part}", i + 1, parts.len());
        // The conventions are the same for every part and every review of the repository:
        // the stable context after the instructions (cached by the provider once long enough).
        let context = if conventions.trim().is_empty() {
            String::new()
        } else {
            format!("Project conventions:\n{conventions}")
        };
        let ask = |prompt: String| {
            let context = context.clone();
            async move {
                let req = CompletionRequest::user(SYSTEM, prompt, 4096).with_context(context);
                match host.llm(&req).await {
                    Ok(Ok(t)) => Ok(t),
                    Ok(Err(skipped)) => Err(format!("skipped: {skipped}")),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        match crate::llm::structured::complete_typed::<Vec<LlmIssue>, _, _>(&instruction, ask).await
        {
            Ok(issues) => {
                for x in issues {
                    if covered.contains(&(x.file.clone(), x.line)) {
                        continue;
                    }
                    findings.push(Finding {
                        file: x.file,
                        line: x.line,
                        end_line: None,
                        severity: severity(&x.severity),
                        category: x.category,
                        rule: "llm".into(),
                        message: x.message,
                        suggestion: x.suggestion,
                        source: "llm".into(),
                        fingerprint: String::new(),
                    });
                }
            }
            Err(crate::llm::structured::StructuredError::Call(e)) if e.starts_with("skipped: ") => {
                notes.push(format!("the LLM pass was {e}"));
                break;
            }
            Err(e) => notes.push(format!("LLM pass, part {}: {e}", i + 1)),
        }
    }
    (findings, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cut_between_files_and_hunks() {
        let file = |n: usize, lines: usize| {
            let body: String = (0..lines).map(|i| format!("+l{i}\n")).collect();
            format!(
                "diff --git a/f{n} b/f{n}\n--- a/f{n}\n+++ b/f{n}\n@@ -0,0 +1,{lines} @@\n{body}"
            )
        };
        let d = format!("{}{}{}", file(1, 10), file(2, 10), file(3, 10));
        assert_eq!(chunks(&d, 10_000), vec![d.clone()]);
        let small = chunks(&d, 120);
        assert_eq!(small.len(), 3);
        assert!(small.iter().all(|c| c.starts_with("diff --git ")));
        assert_eq!(small.concat(), d);
        // One file over the limit: cut between its hunks, the header repeated.
        let big =
            "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n@@ -9 +9 @@\n-c\n+d\n";
        let parts = chunks(big, 45);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(
            parts
                .iter()
                .all(|p| p.starts_with("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -"))
        );
    }
}
