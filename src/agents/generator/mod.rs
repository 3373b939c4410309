//! `generator`: a complete Simple Admin Core CRUD module for one entity — the Ent schema,
//! the proto, the go-zero `.api` file and its import, the five RPC logic files and the i18n
//! entries. This module holds the pure part (the model, the templates, the locale edits);
//! the run in a workspace (commands, commit, push, pull request) builds on it.

pub mod i18n;
pub mod model;
pub mod render;
pub mod run;

use crate::api::AgentKind;

pub struct Generator;

impl super::Agent for Generator {
    fn kind(&self) -> AgentKind {
        AgentKind::Generator
    }
    fn description(&self) -> &'static str {
        "CRUD module for an entity: Ent schema, proto, .api, logic, i18n; PR"
    }
    fn needs_repository(&self) -> bool {
        true
    }
}
