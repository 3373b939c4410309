//! `reviewer`: one precise, fingerprinted review per pull request. So far the pure core:
//! the unified-diff parser and the common finding type (fingerprints, deduplication, filter
//! modes). The sources of findings and the review itself are the next steps.

pub mod diff;
pub mod finding;
