//! Marked sections: in CLAUDE.md and any configured file only the text between
//! `<!-- devagents:begin NAME -->` and `<!-- devagents:end NAME -->` is rewritten; everything
//! outside stays byte for byte. A section that is not closed, closed twice, nested, or named
//! something doc-sync does not write fails naming the file and the line. And the sections'
//! contents: `commands` (the Makefile's targets with their `##` or preceding comments) and
//! `api` (an endpoint table from the `.api` files).

use std::collections::BTreeMap;

use super::api_file::ApiFile;

/// The sections doc-sync writes.
pub const KNOWN: &[&str] = &["commands", "api", "architecture"];

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {message}")]
pub struct SectionError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

fn marker(line: &str) -> Option<(bool, &str)> {
    let t = line.trim();
    let inner = t.strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    let rest = inner.strip_prefix("devagents:")?;
    let (kind, name) = rest.split_once(char::is_whitespace)?;
    match kind {
        "begin" => Some((true, name.trim())),
        "end" => Some((false, name.trim())),
        _ => None,
    }
}

/// `text` with each marked section's body replaced by `bodies[name]` (a section without a new
/// body keeps its own). Returns the new text and the names of the sections that changed.
pub fn rewrite(
    file: &str,
    text: &str,
    bodies: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>), SectionError> {
    let err = |line: usize, message: String| SectionError {
        file: file.into(),
        line,
        message,
    };
    let mut out = String::with_capacity(text.len());
    let mut open: Option<(String, usize, String)> = None;
    let mut seen: Vec<String> = Vec::new();
    let mut changed = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        match (marker(line), &mut open) {
            (Some((true, name)), None) => {
                if !KNOWN.contains(&name) {
                    return Err(err(
                        n,
                        format!(
                            "unknown section {name:?} (doc-sync writes {})",
                            KNOWN.join(", ")
                        ),
                    ));
                }
                if seen.iter().any(|s| s == name) {
                    return Err(err(n, format!("section {name:?} appears twice")));
                }
                out.push_str(line);
                open = Some((name.to_string(), n, String::new()));
            }
            (Some((true, name)), Some((o, at, _))) => {
                return Err(err(
                    n,
                    format!("section {name:?} begins inside {o:?} (opened at line {at})"),
                ));
            }
            (Some((false, name)), Some((o, _, body))) if name == o.as_str() => {
                let new = bodies.get(name).map(|b| {
                    let mut b = b.clone();
                    if !b.is_empty() && !b.ends_with('\n') {
                        b.push('\n');
                    }
                    b
                });
                match new {
                    Some(b) if b != *body => {
                        out.push_str(&b);
                        changed.push(name.to_string());
                    }
                    _ => out.push_str(body),
                }
                out.push_str(line);
                seen.push(name.to_string());
                open = None;
            }
            (Some((false, name)), _) => {
                return Err(err(n, format!("end of section {name:?} without its begin")));
            }
            (None, Some((_, _, body))) => body.push_str(line),
            (None, None) => out.push_str(line),
        }
    }
    if let Some((name, at, _)) = open {
        return Err(err(at, format!("section {name:?} is not closed")));
    }
    Ok((out, changed))
}

/// The `commands` section: every Makefile target with its description — a `## text` after the
/// colon, or the `#` comment lines just above it — as a Markdown table.
pub fn commands(makefile: &str) -> String {
    let mut rows = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    for line in makefile.lines() {
        if let Some(c) = line.strip_prefix('#') {
            comment.push(c.trim_start_matches('#').trim().to_string());
            continue;
        }
        let target = line
            .split_once(':')
            .filter(|(t, rest)| {
                !t.is_empty()
                    && !t.starts_with(['\t', ' ', '.'])
                    && !rest.starts_with('=')
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_/".contains(c))
            })
            .map(|(t, rest)| (t.to_string(), rest));
        if let Some((t, rest)) = target {
            let desc = match rest.split_once("##") {
                Some((_, d)) => d.trim().to_string(),
                None => comment.join(" "),
            };
            rows.push(format!("| `make {t}` | {} |", desc.replace('|', "\\|")));
        }
        comment.clear();
    }
    if rows.is_empty() {
        return "No Makefile targets.\n".into();
    }
    format!(
        "| command | what it does |\n|---|---|\n{}\n",
        rows.join("\n")
    )
}

/// The `api` section: one row per endpoint of the `.api` files, by service group.
pub fn api_table(files: &[ApiFile]) -> String {
    let mut rows: Vec<(String, String, String, String)> = files
        .iter()
        .flat_map(|f| &f.routes)
        .map(|r| {
            (
                r.group.clone().unwrap_or_default(),
                format!("{} {}", r.method.to_ascii_uppercase(), r.path),
                r.handler.clone(),
                r.doc.replace('|', "\\|"),
            )
        })
        .collect();
    rows.sort();
    let mut out = String::from("| group | endpoint | handler | description |\n|---|---|---|---|\n");
    for (g, e, h, d) in rows {
        out.push_str(&format!("| {g} | `{e}` | {h} | {d} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Project\r\nHand-written intro — untouched.\n\n<!-- devagents:begin commands -->\nold commands\n<!-- devagents:end commands -->\n\nMore prose.\n<!-- devagents:begin api -->\n<!-- devagents:end api -->\ntail without newline";

    #[test]
    fn only_the_marked_sections_change() {
        let bodies: BTreeMap<String, String> = [
            (
                "commands".to_string(),
                "| `make test` | runs the tests |".to_string(),
            ),
            ("api".to_string(), "| x |\n".to_string()),
        ]
        .into();
        let (new, changed) = rewrite("CLAUDE.md", DOC, &bodies).unwrap();
        assert_eq!(changed, vec!["commands", "api"]);
        assert_eq!(
            new,
            "# Project\r\nHand-written intro — untouched.\n\n<!-- devagents:begin commands -->\n| `make test` | runs the tests |\n<!-- devagents:end commands -->\n\nMore prose.\n<!-- devagents:begin api -->\n| x |\n<!-- devagents:end api -->\ntail without newline"
        );
        // Again: nothing changes.
        let (again, changed) = rewrite("CLAUDE.md", &new, &bodies).unwrap();
        assert_eq!((again.as_str(), changed.len()), (new.as_str(), 0));
    }

    #[test]
    fn bad_markers_name_file_and_line() {
        let b = BTreeMap::new();
        let cases = [
            ("<!-- devagents:begin api -->\nx\n", 1, "not closed"),
            ("a\n<!-- devagents:end api -->\n", 2, "without its begin"),
            (
                "<!-- devagents:begin api -->\n<!-- devagents:begin commands -->\n",
                2,
                "begins inside",
            ),
            (
                "<!-- devagents:begin colours -->\n<!-- devagents:end colours -->\n",
                1,
                "unknown section",
            ),
            (
                "<!-- devagents:begin api -->\n<!-- devagents:end commands -->\n",
                2,
                "without its begin",
            ),
            (
                "<!-- devagents:begin api -->\n<!-- devagents:end api -->\n<!-- devagents:begin api -->\n<!-- devagents:end api -->\n",
                3,
                "twice",
            ),
        ];
        for (text, line, what) in cases {
            let e = rewrite("CLAUDE.md", text, &b).unwrap_err();
            assert_eq!(
                (e.file.as_str(), e.line),
                ("CLAUDE.md", line),
                "{text:?}: {e}"
            );
            assert!(e.message.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn makefile_targets_and_their_comments() {
        let mk = "GO ?= go\n.PHONY: test\n\n# Generate the API code\n# with goctls\ngen-api:\n\tgoctls api go\n\ntest: ## Run the tests\n\tgo test ./...\nVERSION := 1\n";
        assert_eq!(
            commands(mk),
            "| command | what it does |\n|---|---|\n| `make gen-api` | Generate the API code with goctls |\n| `make test` | Run the tests |\n"
        );
    }
}
