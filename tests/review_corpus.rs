//! The reviewer against its seeded corpus (issue 21): at least 30 defects across lint, errors,
//! security, secrets, i18n, tests and SQL, found with a recall of at least 90 % in every
//! category — with real go vet and staticcheck — and nothing reported on a line the pull
//! request does not add (the base's own defects stay unreported).

use devagents::testing::review_corpus::{corpus, evaluate};

#[tokio::test]
async fn the_seeded_corpus_is_found_and_nothing_on_unchanged_lines() {
    let c = corpus();
    assert!(c.seeded.len() >= 30, "{} seeded defects", c.seeded.len());
    let dir = tempfile::tempdir().unwrap();
    let r = evaluate(dir.path()).await.unwrap();
    eprintln!("{r}");
    assert!(
        !r.notes
            .iter()
            .any(|n| n.contains("staticcheck is not installed")),
        "the corpus needs staticcheck (e2e/install-deps.sh): {:?}",
        r.notes
    );
    for (category, s) in &r.by_category {
        if s.seeded > 0 {
            assert!(
                s.recall() >= 0.9,
                "{category}: recall {:.2}\n{r}",
                s.recall()
            );
        }
    }
    assert!(r.on_unchanged.is_empty(), "{r}");
    assert!(r.total.precision() >= 0.9, "{r}");
}
