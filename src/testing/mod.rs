//! Test support (feature `testing`): a real git server on loopback (`git http-backend`) and
//! TEST DOUBLES of the third-party services the agents talk to — GitHub's REST API, Slack
//! incoming webhooks and the Notion API. Used by the tests and the demo; never by the
//! operator or the agents.

pub mod fixtures;
pub mod git_server;
pub mod github_double;
pub mod saas_doubles;
