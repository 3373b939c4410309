//! The test generator's filters (issue 18), each proven with Go's own tools on the fixture
//! module: a candidate that does not compile, one `go vet` refuses, a flaky one, one that
//! reveals a real bug, one that raises no coverage and one that asserts nothing are dropped
//! with their reason; the good ones are kept and raise the package's coverage past 70 %.

use devagents::agents::test_gen::{coverage, gosrc, keep};
use devagents::testing::testgen_cases::{PACKAGE, SOURCE_FILE, cases, module};

/// The fixture module in a temporary directory: (the directory, the module root, the source).
fn fixture_module() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("module");
    for (p, t) in module() {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    }
    let src = std::fs::read_to_string(root.join(SOURCE_FILE)).unwrap();
    (dir, root, src)
}

#[tokio::test]
async fn each_filter_drops_what_it_should_and_the_good_tests_reach_the_target() {
    let (dir, root, src) = fixture_module();
    let funcs = gosrc::parse(SOURCE_FILE, &src).unwrap().funcs;
    let mut cov = coverage::measure(&root, &[PACKAGE.to_string()], None)
        .await
        .unwrap();
    let before = cov.total;
    assert!(
        (10.0..=30.0).contains(&before),
        "the fixture starts near 20 %: {before}"
    );
    let mut table: std::collections::BTreeMap<&str, usize> = Default::default();
    for c in cases() {
        let target = funcs.iter().find(|f| f.name == c.target).unwrap().clone();
        let cand = keep::Candidate {
            file: c.file.into(),
            code: c.code.into(),
            target,
            testdata: Vec::new(),
        };
        let (v, with) = keep::judge(
            &root,
            PACKAGE,
            &cand,
            &cov,
            &[PACKAGE.to_string()],
            dir.path(),
        )
        .await
        .unwrap();
        assert_eq!(v.filter(), c.expect, "{}: {v:?}", c.file);
        assert_eq!(root.join(c.file).exists(), v.kept(), "{}", c.file);
        if let keep::Verdict::Kept { coverage } = v {
            assert!(coverage > cov.total);
            cov = with.unwrap();
        }
        if let keep::Verdict::SuspectedBug { output } = &v {
            assert!(output.contains("Clamp(15, 0, 10) = 0, want 10"), "{output}");
        }
        *table.entry(v.filter()).or_default() += 1;
    }
    eprintln!(
        "coverage {before:.1}% -> {:.1}%; verdicts {table:?}",
        cov.total
    );
    assert!(cov.total >= 70.0, "kept tests reach {:.1}%", cov.total);
    // What is kept passes as the package's tests, again.
    let (ok, out) = coverage::go(&root, &["test", "-count=1", PACKAGE])
        .await
        .unwrap();
    assert!(ok, "{out}");
}

/// A test's fixtures go under the package's `testdata/`; they stay with a kept test and go
/// with a dropped one.
#[tokio::test]
async fn fixtures_stay_with_a_kept_test_and_go_with_a_dropped_one() {
    let (dir, root, src) = fixture_module();
    let clamp = gosrc::parse(SOURCE_FILE, &src)
        .unwrap()
        .funcs
        .into_iter()
        .find(|f| f.name == "Clamp")
        .unwrap();
    let cov = coverage::measure(&root, &[PACKAGE.to_string()], None)
        .await
        .unwrap();
    let reads = |name: &str, check: &str| {
        format!(
            "package pricing\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"testing\"\n)\n\nfunc Test{name}(t *testing.T) {{\n\tb, err := os.ReadFile(\"testdata/clamp.txt\")\n\tif err != nil {{\n\t\tt.Fatal(err)\n\t}}\n\tvar v, want int\n\tif _, err := fmt.Sscan(string(b), &v, &want); err != nil {{\n\t\tt.Fatal(err)\n\t}}\n\tgot := Clamp(v, 0, 10)\n\t{check}\n}}\n"
        )
    };
    let fixture = vec![(
        "pkg/pricing/testdata/clamp.txt".to_string(),
        "5 5\n".to_string(),
    )];
    let nothing = keep::Candidate {
        file: "pkg/pricing/clamp_nothing_gen_test.go".into(),
        code: reads("ClampNothing", "_ = got"),
        target: clamp.clone(),
        testdata: fixture.clone(),
    };
    let (v, _) = keep::judge(
        &root,
        PACKAGE,
        &nothing,
        &cov,
        &[PACKAGE.to_string()],
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(v.filter(), "mutation", "{v:?}");
    assert!(!root.join("pkg/pricing/testdata/clamp.txt").exists());
    let good = keep::Candidate {
        file: "pkg/pricing/clamp_fixture_gen_test.go".into(),
        code: reads(
            "ClampFixture",
            "if got != want {\n\t\tt.Fatalf(\"Clamp(%d) = %d, want %d\", v, got, want)\n\t}",
        ),
        target: clamp,
        testdata: fixture,
    };
    let (v, _) = keep::judge(
        &root,
        PACKAGE,
        &good,
        &cov,
        &[PACKAGE.to_string()],
        dir.path(),
    )
    .await
    .unwrap();
    assert!(v.kept(), "{v:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("pkg/pricing/testdata/clamp.txt")).unwrap(),
        "5 5\n"
    );
}
