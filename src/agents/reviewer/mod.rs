//! `reviewer`: one precise, fingerprinted review per pull request. So far the pure core: the
//! unified-diff parser, the common finding type (fingerprints, deduplication, filter modes)
//! and the deterministic sources (security smells, i18n keys, missing tests). The linters,
//! the LLM pass, the review itself and the run are the next steps.

pub mod diff;
pub mod finding;
pub mod i18n;
pub mod linters;
pub mod llm;
pub mod review;
pub mod run;
pub mod sandbox;
pub mod security;
pub mod tests_check;
