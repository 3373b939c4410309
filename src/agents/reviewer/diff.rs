//! Unified diffs as git and GitHub (`application/vnd.github.diff`) print them, parsed into
//! files, hunks and line maps: which new-side lines a pull request added, which it shows as
//! context, and the text of every line. Handles new, deleted, renamed and copied files,
//! binary files, mode-only changes, `\ No newline at end of file` markers and quoted paths.
//! One pass over the text; no regexes.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Added,
    Deleted,
    Modified,
    Renamed,
    Copied,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Added,
    Removed,
    Context,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub kind: Kind,
    /// Line number on the old side (None for added lines).
    pub old: Option<u32>,
    /// Line number on the new side (None for removed lines).
    pub new: Option<u32>,
    pub text: String,
    /// Followed by `\ No newline at end of file`.
    pub no_newline: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_len: u32,
    pub new_start: u32,
    pub new_len: u32,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDiff {
    /// None for an added file.
    pub old_path: Option<String>,
    /// None for a deleted file.
    pub new_path: Option<String>,
    pub status: Status,
    pub binary: bool,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// The path findings refer to: the new one, or the old one for a deleted file.
    pub fn path(&self) -> &str {
        self.new_path
            .as_deref()
            .or(self.old_path.as_deref())
            .unwrap_or_default()
    }

    /// New-side lines this diff adds: line number → text.
    pub fn added(&self) -> BTreeMap<u32, &str> {
        self.lines_of(|k| k == Kind::Added)
    }

    /// New-side lines the diff shows (added or context): where a review comment may sit.
    pub fn commentable(&self) -> BTreeMap<u32, &str> {
        self.lines_of(|k| k != Kind::Removed)
    }

    fn lines_of(&self, want: impl Fn(Kind) -> bool) -> BTreeMap<u32, &str> {
        self.hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| want(l.kind))
            .filter_map(|l| l.new.map(|n| (n, l.text.as_str())))
            .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("diff line {line}: {what}")]
pub struct DiffError {
    pub line: usize,
    pub what: String,
}

/// `a/x` → `x`; `"a/with space"` → `with space`; `/dev/null` → None.
fn strip_path(raw: &str) -> Option<String> {
    let raw = raw.trim_end_matches('\t').trim();
    let unquoted = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        unescape(&raw[1..raw.len() - 1])
    } else {
        raw.to_string()
    };
    if unquoted == "/dev/null" {
        return None;
    }
    Some(
        unquoted
            .strip_prefix("a/")
            .or_else(|| unquoted.strip_prefix("b/"))
            .unwrap_or(&unquoted)
            .to_string(),
    )
}

/// Git's C-style quoting of unusual paths (`\t`, `\n`, `\"`, `\\`, octal bytes).
fn unescape(s: &str) -> String {
    let mut bytes = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            if c.is_ascii_digit() && i + 3 < b.len() + 1 {
                let oct = &s[i + 1..(i + 4).min(s.len())];
                if let Ok(v) = u8::from_str_radix(oct, 8) {
                    bytes.push(v);
                    i += 4;
                    continue;
                }
            }
            bytes.push(match c {
                b't' => b'\t',
                b'n' => b'\n',
                other => other,
            });
            i += 2;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The two paths of a `diff --git a/x b/y` header (unquoted or quoted).
fn header_paths(rest: &str) -> (Option<String>, Option<String>) {
    if let Some(r) = rest.strip_prefix('"') {
        // "a/x" "b/y" or "a/x" b/y
        if let Some(end) = r.find("\" ") {
            let a = strip_path(&format!("\"{}\"", &r[..end]));
            let b = strip_path(&r[end + 2..]);
            return (a, b);
        }
    }
    // Unquoted: both sides have the same path when not renamed; split at " b/".
    match rest.rfind(" b/").or_else(|| rest.rfind(" \"b/")) {
        Some(i) => (strip_path(&rest[..i]), strip_path(&rest[i + 1..])),
        None => (strip_path(rest), None),
    }
}

/// `@@ -a,b +c,d @@ …`
fn hunk_header(l: &str) -> Option<(u32, u32, u32, u32)> {
    let body = l.strip_prefix("@@ ")?;
    let end = body.find(" @@")?;
    let mut parts = body[..end].split(' ');
    let range = |s: &str, sign: char| -> Option<(u32, u32)> {
        let s = s.strip_prefix(sign)?;
        let (start, len) = match s.split_once(',') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => (s.parse().ok()?, 1),
        };
        Some((start, len))
    };
    let (os, ol) = range(parts.next()?, '-')?;
    let (ns, nl) = range(parts.next()?, '+')?;
    Some((os, ol, ns, nl))
}

/// Parse a whole diff. An empty text is zero files.
pub fn parse(text: &str) -> Result<Vec<FileDiff>, DiffError> {
    let mut files: Vec<FileDiff> = Vec::new();
    // Lines still expected in the current hunk (old side, new side).
    let (mut old_left, mut new_left) = (0u32, 0u32);
    let (mut old_no, mut new_no) = (0u32, 0u32);
    for (idx, l) in text.lines().enumerate() {
        let lineno = idx + 1;
        if old_left > 0 || new_left > 0 {
            let file = files.last_mut().ok_or_else(|| DiffError {
                line: lineno,
                what: "hunk outside a file".into(),
            })?;
            let hunk = file.hunks.last_mut().ok_or_else(|| DiffError {
                line: lineno,
                what: "hunk line before a hunk header".into(),
            })?;
            let (kind, rest) = match l.as_bytes().first() {
                Some(b'+') => (Kind::Added, &l[1..]),
                Some(b'-') => (Kind::Removed, &l[1..]),
                Some(b' ') => (Kind::Context, &l[1..]),
                // Some tools drop the space of an empty context line.
                None => (Kind::Context, ""),
                Some(b'\\') => {
                    if let Some(last) = hunk.lines.last_mut() {
                        last.no_newline = true;
                    }
                    continue;
                }
                Some(_) => {
                    return Err(DiffError {
                        line: lineno,
                        what: format!(
                            "hunk ends early ({old_left} old and {new_left} new lines missing)"
                        ),
                    });
                }
            };
            let (old, new) = match kind {
                Kind::Added => {
                    new_left = new_left.saturating_sub(1);
                    new_no += 1;
                    (None, Some(new_no - 1))
                }
                Kind::Removed => {
                    old_left = old_left.saturating_sub(1);
                    old_no += 1;
                    (Some(old_no - 1), None)
                }
                Kind::Context => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                    old_no += 1;
                    new_no += 1;
                    (Some(old_no - 1), Some(new_no - 1))
                }
            };
            hunk.lines.push(Line {
                kind,
                old,
                new,
                text: rest.to_string(),
                no_newline: false,
            });
            continue;
        }
        if l.starts_with('\\') {
            // `\ No newline at end of file` after a hunk's last line.
            if let Some(last) = files
                .last_mut()
                .and_then(|f| f.hunks.last_mut())
                .and_then(|h| h.lines.last_mut())
            {
                last.no_newline = true;
            }
            continue;
        }
        if let Some(rest) = l.strip_prefix("diff --git ") {
            let (a, b) = header_paths(rest);
            files.push(FileDiff {
                old_path: a,
                new_path: b,
                status: Status::Modified,
                binary: false,
                hunks: Vec::new(),
            });
            continue;
        }
        let Some(file) = files.last_mut() else {
            // Text before the first file (a commit message, `git format-patch` headers).
            continue;
        };
        if l.starts_with("new file mode") {
            file.status = Status::Added;
            file.old_path = None;
        } else if l.starts_with("deleted file mode") {
            file.status = Status::Deleted;
            file.new_path = None;
        } else if let Some(p) = l.strip_prefix("rename from ") {
            file.status = Status::Renamed;
            file.old_path = strip_path(p).or(file.old_path.take());
        } else if let Some(p) = l.strip_prefix("rename to ") {
            file.new_path = strip_path(p).or(file.new_path.take());
        } else if let Some(p) = l.strip_prefix("copy from ") {
            file.status = Status::Copied;
            file.old_path = strip_path(p).or(file.old_path.take());
        } else if let Some(p) = l.strip_prefix("copy to ") {
            file.new_path = strip_path(p).or(file.new_path.take());
        } else if l.starts_with("Binary files ") || l.starts_with("GIT binary patch") {
            file.binary = true;
        } else if let Some(p) = l.strip_prefix("--- ") {
            if file.status != Status::Added {
                file.old_path = strip_path(p).or(file.old_path.take());
            }
        } else if let Some(p) = l.strip_prefix("+++ ") {
            if file.status != Status::Deleted {
                file.new_path = strip_path(p).or(file.new_path.take());
            }
        } else if l.starts_with("@@ ") {
            let (os, ol, ns, nl) = hunk_header(l).ok_or_else(|| DiffError {
                line: lineno,
                what: format!("malformed hunk header {l:?}"),
            })?;
            file.hunks.push(Hunk {
                old_start: os,
                old_len: ol,
                new_start: ns,
                new_len: nl,
                lines: Vec::new(),
            });
            (old_left, new_left) = (ol, nl);
            (old_no, new_no) = (os.max(1), ns.max(1));
            if ol == 0 {
                old_no = os + 1;
            }
            if nl == 0 {
                new_no = ns + 1;
            }
        }
    }
    if old_left > 0 || new_left > 0 {
        return Err(DiffError {
            line: text.lines().count(),
            what: "the diff ends inside a hunk".into(),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/rpc/a.go b/rpc/a.go
index 1111111..2222222 100644
--- a/rpc/a.go
+++ b/rpc/a.go
@@ -1,4 +1,5 @@
 package rpc
-var x = 1
+var x = 2
+var y = 3
 
 func A() {}
@@ -10,2 +11,2 @@ func B() {
 	b()
-	c()
\\ No newline at end of file
+	d()
\\ No newline at end of file
diff --git a/api/new.api b/api/new.api
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/api/new.api
@@ -0,0 +1,2 @@
+syntax = \"v1\"
+type X {}
diff --git a/old.go b/old.go
deleted file mode 100644
index 4444444..0000000
--- a/old.go
+++ /dev/null
@@ -1 +0,0 @@
-package old
diff --git a/pkg/from.go b/pkg/to.go
similarity index 90%
rename from pkg/from.go
rename to pkg/to.go
index 5555555..6666666 100644
--- a/pkg/from.go
+++ b/pkg/to.go
@@ -3 +3 @@
-	return 1
+	return 2
diff --git a/logo.png b/logo.png
index 7777777..8888888 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
diff --git \"a/docs/with space.md\" \"b/docs/with space.md\"
index 9999999..aaaaaaa 100644
--- \"a/docs/with space.md\"
+++ \"b/docs/with space.md\"
@@ -1 +1 @@
-old
+new
";

    #[test]
    fn every_kind_of_file() {
        let files = parse(DIFF).unwrap();
        let summary: Vec<_> = files
            .iter()
            .map(|f| (f.path(), f.status, f.binary, f.hunks.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("rpc/a.go", Status::Modified, false, 2),
                ("api/new.api", Status::Added, false, 1),
                ("old.go", Status::Deleted, false, 1),
                ("pkg/to.go", Status::Renamed, false, 1),
                ("logo.png", Status::Modified, true, 0),
                ("run.sh", Status::Modified, false, 0),
                ("docs/with space.md", Status::Modified, false, 1),
            ]
        );
        let a = &files[0];
        assert_eq!(
            a.added().into_iter().collect::<Vec<_>>(),
            vec![(2, "var x = 2"), (3, "var y = 3"), (12, "\td()")]
        );
        assert_eq!(
            a.commentable().keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 11, 12]
        );
        let last = a.hunks[1].lines.last().unwrap();
        assert!(last.no_newline && last.kind == Kind::Added);
        assert!(
            a.hunks[1].lines[1].no_newline,
            "the removed line had no newline either"
        );
        assert_eq!(files[1].added().len(), 2);
        assert_eq!(files[1].old_path, None);
        assert!(files[2].added().is_empty());
        assert_eq!(files[2].new_path, None);
        assert_eq!(files[3].old_path.as_deref(), Some("pkg/from.go"));
        assert_eq!(
            files[3].added().into_iter().collect::<Vec<_>>(),
            vec![(3, "\treturn 2")]
        );
    }

    #[test]
    fn empty_and_broken_diffs() {
        assert_eq!(parse("").unwrap(), vec![]);
        let e = parse("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n").unwrap_err();
        assert!(e.what.contains("ends inside a hunk"), "{e}");
        let e = parse("diff --git a/x b/x\n@@ -1 +1 @@\nnonsense\n").unwrap_err();
        assert!(e.to_string().starts_with("diff line 3:"), "{e}");
        let e = parse("diff --git a/x b/x\n@@ -x +1 @@\n").unwrap_err();
        assert!(e.what.contains("malformed hunk header"), "{e}");
    }
}
