//! Tests for changed code: a changed (non-test, non-generated) Go file whose package has no
//! tests at the head, and to which the pull request adds none, is a finding. Coverage of the
//! changed packages (`go test -cover`, where it can run) is reported separately.

use std::collections::BTreeSet;

use super::diff::{FileDiff, Status};
use super::finding::{Finding, Severity};

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// `head_paths`: every file path at the pull request's head.
pub fn check(files: &[FileDiff], head_paths: &BTreeSet<String>) -> Vec<Finding> {
    let with_tests: BTreeSet<&str> = head_paths
        .iter()
        .map(String::as_str)
        .chain(files.iter().map(|f| f.path()))
        .filter(|p| p.ends_with("_test.go"))
        .map(dir_of)
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for f in files {
        let p = f.path();
        if !p.ends_with(".go")
            || p.ends_with("_test.go")
            || f.status == Status::Deleted
            || f.binary
            || p.contains("/ent/") && !p.contains("/ent/schema/")
            || p.ends_with(".pb.go")
        {
            continue;
        }
        let dir = dir_of(p);
        if with_tests.contains(dir) || !seen.insert(dir.to_string()) {
            continue;
        }
        let line = f.added().keys().next().copied().unwrap_or(1);
        out.push(Finding {
            file: p.into(),
            line,
            end_line: None,
            severity: Severity::Warning,
            category: "tests".into(),
            rule: "missing-tests".into(),
            message: format!(
                "package {} has no tests, and this pull request adds none",
                if dir.is_empty() { "." } else { dir }
            ),
            suggestion: Some("add table-driven tests (the test-gen agent can write them)".into()),
            source: "tests".into(),
            fingerprint: String::new(),
        });
    }
    out
}

/// `go test -cover` output → package → percent of statements covered. Packages without
/// test files or that failed to build are left out.
pub fn parse_cover(output: &str) -> std::collections::BTreeMap<String, f64> {
    output
        .lines()
        .filter(|l| l.starts_with("ok"))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            parts.next()?;
            let pkg = parts.next()?.to_string();
            let pct = l
                .split("coverage: ")
                .nth(1)?
                .split('%')
                .next()?
                .trim()
                .parse::<f64>()
                .ok()?;
            Some((pkg, pct))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_lines() {
        let out = "ok  \texample.com/shop/pkg/store\t0.003s\tcoverage: 42.9% of statements\n?   \texample.com/shop/pkg/auth\t[no test files]\nok  \texample.com/shop/pkg/x\t(cached)\tcoverage: 100.0% of statements\nFAIL\texample.com/shop/pkg/y [build failed]\n";
        let c = parse_cover(out);
        assert_eq!(c.len(), 2);
        assert_eq!(c["example.com/shop/pkg/store"], 42.9);
        assert_eq!(c["example.com/shop/pkg/x"], 100.0);
    }

    #[test]
    fn packages_without_tests() {
        let diff = "diff --git a/rpc/a/x.go b/rpc/a/x.go
--- a/rpc/a/x.go
+++ b/rpc/a/x.go
@@ -3,1 +3,2 @@
 x
+y
diff --git a/rpc/a/y.go b/rpc/a/y.go
--- a/rpc/a/y.go
+++ b/rpc/a/y.go
@@ -1 +1 @@
-a
+b
diff --git a/rpc/b/z.go b/rpc/b/z.go
--- a/rpc/b/z.go
+++ b/rpc/b/z.go
@@ -1 +1 @@
-a
+b
diff --git a/rpc/c/w.go b/rpc/c/w.go
--- a/rpc/c/w.go
+++ b/rpc/c/w.go
@@ -1 +1 @@
-a
+b
diff --git a/rpc/c/w_test.go b/rpc/c/w_test.go
new file mode 100644
--- /dev/null
+++ b/rpc/c/w_test.go
@@ -0,0 +1 @@
+package c
diff --git a/rpc/ent/department/department.go b/rpc/ent/department/department.go
--- a/rpc/ent/department/department.go
+++ b/rpc/ent/department/department.go
@@ -1 +1 @@
-a
+b
";
        let files = super::super::diff::parse(diff).unwrap();
        let head: BTreeSet<String> = ["rpc/b/z_test.go".to_string()].into();
        let got: Vec<(String, u32)> = check(&files, &head)
            .into_iter()
            .map(|f| (f.file, f.line))
            .collect();
        // rpc/a once (at its first added line); rpc/b has tests; rpc/c gets them now; ent code is generated.
        assert_eq!(got, vec![("rpc/a/x.go".to_string(), 4)]);
    }
}
