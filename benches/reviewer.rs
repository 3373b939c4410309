//! The reviewer's deterministic checks (diff parsing, security, i18n, tests, filtering) on a
//! 20,000-line diff, linter processes excluded. The target is < 1 s.

use std::collections::{BTreeMap, BTreeSet};

use criterion::{Criterion, criterion_group, criterion_main};
use devagents::agents::reviewer::{diff, finding, i18n, security, tests_check};

/// 200 Go files, 100 added lines each (a few of them smelly), plus context.
fn big_diff() -> String {
    let mut d = String::new();
    for f in 0..200 {
        let path = format!("rpc/internal/logic/pkg{}/file{f}.go", f % 40);
        d.push_str(&format!(
            "diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,2 +1,102 @@\n package x\n"
        ));
        for i in 0..100 {
            let line = match i % 25 {
                0 => "\tdb.Exec(\"DELETE FROM t WHERE id = \" + id)".to_string(),
                1 => "\treturn errorx.NewInvalidArgumentError(\"common.missingKey\")".to_string(),
                2 => "\tvar apiToken = \"abcd1234efgh\"".to_string(),
                _ => format!("\tv{i} := compute({i}, \"value {i}\") // step {i}"),
            };
            d.push_str(&format!("+{line}\n"));
        }
        d.push_str(" }\n");
    }
    d
}

fn bench(c: &mut Criterion) {
    let text = big_diff();
    assert!(text.lines().count() >= 20_000);
    let locales: BTreeMap<String, String> = [
        (
            "api/internal/i18n/locale/en.json".to_string(),
            "{\"common\": {\"ok\": \"ok\"}}".to_string(),
        ),
        (
            "api/internal/i18n/locale/zh.json".to_string(),
            "{\"common\": {\"ok\": \"好\"}}".to_string(),
        ),
    ]
    .into();
    let head: BTreeSet<String> = (0..40)
        .step_by(2)
        .map(|p| format!("rpc/internal/logic/pkg{p}/x_test.go"))
        .collect();
    c.bench_function(
        "reviewer: deterministic checks on a 20,000-line diff",
        |b| {
            b.iter(|| {
                let files = diff::parse(&text).expect("diff");
                let mut all = security::check(&files, &|_| false);
                all.extend(i18n::check(&files, &locales));
                all.extend(tests_check::check(&files, &head));
                let texts: BTreeMap<&str, BTreeMap<u32, &str>> =
                    files.iter().map(|f| (f.path(), f.commentable())).collect();
                finding::fingerprint_all(&mut all, |p, l| {
                    texts.get(p).and_then(|m| m.get(&l)).map(|s| s.to_string())
                });
                let all = finding::dedup(all);
                finding::filter(all, &files, finding::FilterMode::Added)
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
