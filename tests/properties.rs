//! Property tests (issue 21, point 6) of the parsers the agents depend on: the unified-diff
//! parser, the server-sent-events parser and the redaction. No input makes them panic, and
//! what is rendered parses back to the same thing.

use devagents::agents::reviewer::diff::{self, Kind};
use devagents::llm::sse::{Event, SseParser};
use devagents::services::redact::{planted_needles, planted_secrets, redact};
use proptest::prelude::*;

/// One file of a generated diff: its path and hunks of (kind, text) lines.
#[derive(Clone, Debug)]
struct GenFile {
    path: String,
    hunks: Vec<Vec<(Kind, String)>>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Added), Just(Kind::Removed), Just(Kind::Context)]
}

fn gen_file() -> impl Strategy<Value = GenFile> {
    (
        "[a-z]{1,8}(/[a-z]{1,8}){0,2}\\.go",
        prop::collection::vec(prop::collection::vec((kind(), "[ -~]{0,40}"), 1..12), 1..4),
    )
        .prop_map(|(path, hunks)| GenFile { path, hunks })
}

/// The unified diff of `files`, with consistent hunk headers; and per file the new-side
/// numbers of the added lines.
fn render(files: &[GenFile]) -> (String, Vec<Vec<(u32, String)>>) {
    let mut out = String::new();
    let mut added = Vec::new();
    for f in files {
        out.push_str(&format!(
            "diff --git a/{p} b/{p}\nindex 1111111..2222222 100644\n--- a/{p}\n+++ b/{p}\n",
            p = f.path
        ));
        let (mut old_at, mut new_at) = (1u32, 1u32);
        let mut mine = Vec::new();
        for h in &f.hunks {
            let old_len = h.iter().filter(|(k, _)| *k != Kind::Added).count() as u32;
            let new_len = h.iter().filter(|(k, _)| *k != Kind::Removed).count() as u32;
            out.push_str(&format!("@@ -{old_at},{old_len} +{new_at},{new_len} @@\n"));
            let mut n = new_at;
            for (k, t) in h {
                let sign = match k {
                    Kind::Added => '+',
                    Kind::Removed => '-',
                    Kind::Context => ' ',
                };
                out.push_str(&format!("{sign}{t}\n"));
                if *k != Kind::Removed {
                    if *k == Kind::Added {
                        mine.push((n, t.clone()));
                    }
                    n += 1;
                }
            }
            // Ten unchanged lines between hunks.
            old_at += old_len + 10;
            new_at += new_len + 10;
        }
        added.push(mine);
    }
    (out, added)
}

fn events() -> impl Strategy<Value = Vec<(Option<String>, String)>> {
    prop::collection::vec(
        (
            prop::option::of("[a-z_]{1,12}"),
            // Data without line breaks (one `data:` line) but any other text, Unicode too.
            "[^\r\n]{0,60}",
        ),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_diff_parser_never_panics(text in "(?s).{0,400}") {
        let _ = diff::parse(&text);
    }

    #[test]
    fn the_diff_parser_never_panics_on_diff_like_input(
        lines in prop::collection::vec(
            prop_oneof![
                Just("diff --git a/x.go b/x.go".to_string()),
                Just("--- a/x.go".to_string()),
                Just("+++ b/x.go".to_string()),
                "@@ -[0-9]{1,3}(,[0-9]{1,2})? \\+[0-9]{1,3}(,[0-9]{1,2})? @@.{0,10}",
                "[-+ \\\\][ -~]{0,20}",
                Just("Binary files a/x b/x differ".to_string()),
            ],
            0..40,
        )
    ) {
        let _ = diff::parse(&lines.join("\n"));
    }

    #[test]
    fn a_rendered_diff_parses_back_to_its_files_and_lines(files in prop::collection::vec(gen_file(), 1..4)) {
        let (text, added) = render(&files);
        let parsed = diff::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.len(), files.len());
        for ((p, f), want) in parsed.iter().zip(&files).zip(&added) {
            prop_assert_eq!(p.path(), f.path.as_str());
            prop_assert_eq!(p.hunks.len(), f.hunks.len());
            let got: Vec<(u32, String)> = p.added().into_iter().map(|(n, t)| (n, t.to_string())).collect();
            prop_assert_eq!(&got, want);
            for (ph, fh) in p.hunks.iter().zip(&f.hunks) {
                let kinds: Vec<Kind> = ph.lines.iter().map(|l| l.kind).collect();
                let want: Vec<Kind> = fh.iter().map(|(k, _)| *k).collect();
                prop_assert_eq!(kinds, want);
            }
        }
    }

    #[test]
    fn sse_events_come_out_the_same_however_the_bytes_are_cut(
        evs in events(),
        cuts in prop::collection::vec(0usize..2000, 0..10),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut bytes = String::new();
        for (name, data) in &evs {
            if let Some(n) = name {
                bytes.push_str(&format!("event: {n}{nl}"));
            }
            bytes.push_str(&format!("data: {data}{nl}{nl}"));
        }
        let bytes = bytes.into_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut p = SseParser::default();
        let mut got: Vec<Event> = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            got.extend(p.push(&bytes[at..c]));
            at = c;
        }
        got.extend(p.finish());
        let want: Vec<Event> = evs
            .iter()
            .map(|(n, d)| Event { event: n.clone(), data: d.trim_start().to_string() })
            .collect();
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(&g.event, &w.event);
            prop_assert_eq!(g.data.trim(), w.data.trim());
        }
    }

    #[test]
    fn the_sse_parser_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut p = SseParser::default();
        for c in &chunks {
            let _ = p.push(c);
        }
        let _ = p.finish();
    }

    #[test]
    fn redaction_never_panics_and_is_idempotent(text in "(?s).{0,300}") {
        let once = redact(&text).into_owned();
        let twice = redact(&once).into_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn a_planted_secret_never_survives_whatever_surrounds_it(
        before in "[ -~\n]{0,80}",
        after in "[ -~\n]{0,80}",
        which in 0usize..10,
    ) {
        let (kind, secret) = planted_secrets()[which].clone();
        let needle = planted_needles()[which];
        // Glued to a word character a token is a different word; the secret stands alone.
        let text = format!("{before} {secret}\n{after}");
        let out = redact(&text);
        prop_assert!(!out.contains(needle), "{} survived in {:?}", kind, out);
    }
}
