//! Rendering a module: minijinja templates that live in this repository, overridable per
//! target repository (a file of the same name under `.devagents/templates/generator/` in the
//! workspace wins). Pure: parameters in, files out.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, context};

use super::model::Module;
use crate::api::GeneratedFileKind;

/// Where a target repository keeps its own templates.
pub const OVERRIDE_DIR: &str = ".devagents/templates/generator";

const TEMPLATES: &[(&str, &str)] = &[
    (
        "ent_schema.go.jinja",
        include_str!("templates/ent_schema.go.jinja"),
    ),
    ("proto.jinja", include_str!("templates/proto.jinja")),
    ("api.jinja", include_str!("templates/api.jinja")),
    (
        "logic_header.go.jinja",
        include_str!("templates/logic_header.go.jinja"),
    ),
    (
        "create_logic.go.jinja",
        include_str!("templates/create_logic.go.jinja"),
    ),
    (
        "update_logic.go.jinja",
        include_str!("templates/update_logic.go.jinja"),
    ),
    (
        "delete_logic.go.jinja",
        include_str!("templates/delete_logic.go.jinja"),
    ),
    (
        "get_list_logic.go.jinja",
        include_str!("templates/get_list_logic.go.jinja"),
    ),
    (
        "get_by_id_logic.go.jinja",
        include_str!("templates/get_by_id_logic.go.jinja"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {0}: {1}")]
    Template(String, String),
    #[error("reading the repository's template {0}: {1}")]
    Override(String, String),
}

/// Where the generated code lives in the target repository.
#[derive(Clone, Debug)]
pub struct Target {
    /// The Go module path (`module` line of go.mod).
    pub go_module: String,
    /// The go-zero service name (`Core`); its Go package is the lower-case name.
    pub service: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            go_module: "github.com/suyuan32/simple-admin-core".into(),
            service: "Core".into(),
        }
    }
}

impl Target {
    /// From the workspace's go.mod (the module path), with the default service name.
    pub fn of_workspace(dir: &Path) -> Target {
        let mut t = Target::default();
        if let Ok(gomod) = std::fs::read_to_string(dir.join("go.mod"))
            && let Some(m) = gomod.lines().find_map(|l| l.trim().strip_prefix("module "))
        {
            t.go_module = m.trim().to_string();
        }
        t
    }
}

/// A Go string literal (JSON's escapes are valid Go escapes).
fn gostr(s: String) -> String {
    serde_json::to_string(&s).unwrap_or_else(|_| "\"\"".into())
}

fn environment(overrides: Option<&Path>) -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_filter("gostr", gostr);
    for (name, text) in TEMPLATES {
        let custom = overrides.map(|d| d.join(name)).filter(|p| p.is_file());
        let source = match custom {
            Some(p) => std::fs::read_to_string(&p)
                .map_err(|e| RenderError::Override(p.display().to_string(), e.to_string()))?,
            None => text.to_string(),
        };
        env.add_template_owned(name.to_string(), source)
            .map_err(|e| RenderError::Template(name.to_string(), e.to_string()))?;
    }
    Ok(env)
}

/// The Go packages a rendered file refers to (`pointy.`, `uuidx.` …), as import paths,
/// sorted the way gofmt keeps them.
fn imports_of(body: &str, m: &Module, t: &Target) -> Vec<String> {
    let pkg = t.service.to_lowercase();
    let entpkg = m.name.to_lowercase();
    let candidates = [
        (
            "dberrorhandler.",
            format!("{}/rpc/internal/utils/dberrorhandler", t.go_module),
        ),
        ("svc.", format!("{}/rpc/internal/svc", t.go_module)),
        (
            &*format!("{pkg}."),
            format!("{}/rpc/types/{pkg}", t.go_module),
        ),
        (
            &*format!("{entpkg}."),
            format!("{}/rpc/ent/{entpkg}", t.go_module),
        ),
        ("predicate.", format!("{}/rpc/ent/predicate", t.go_module)),
        (
            "i18n.",
            "github.com/suyuan32/simple-admin-common/i18n".into(),
        ),
        (
            "pointy.",
            "github.com/suyuan32/simple-admin-common/utils/pointy".into(),
        ),
        (
            "uuidx.",
            "github.com/suyuan32/simple-admin-common/utils/uuidx".into(),
        ),
    ];
    let mut out: Vec<String> = candidates
        .iter()
        .filter(|(needle, _)| {
            body.match_indices(needle).any(|(i, _)| {
                i == 0
                    || !body.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && body.as_bytes()[i - 1] != b'.'
            })
        })
        .map(|(_, path)| path.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Render the module's files: path (relative to the repository) → content.
pub fn render(
    m: &Module,
    t: &Target,
    kinds: &[GeneratedFileKind],
    overrides: Option<&Path>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let env = environment(overrides)?;
    let want = |k: GeneratedFileKind| kinds.is_empty() || kinds.contains(&k);
    let uuid = m.uuid();
    let uuid_fields = m.fields.iter().any(|f| f.ent_type == "UUID");
    let pkg = t.service.to_lowercase();
    let render = |name: &str, imports: &[String]| {
        env.get_template(name)
            .and_then(|tpl| {
                tpl.render(context! {
                    m => m, uuid => uuid, uuid_fields => uuid_fields, service => &t.service,
                    pkg => &pkg, go_module => &t.go_module, imports => imports,
                })
            })
            .map_err(|e| RenderError::Template(name.to_string(), format!("{e:#}")))
    };
    let mut files = BTreeMap::new();
    let s = &m.snake;
    if want(GeneratedFileKind::Ent) {
        files.insert(
            format!("rpc/ent/schema/{s}.go"),
            render("ent_schema.go.jinja", &[])?,
        );
    }
    if want(GeneratedFileKind::Proto) {
        files.insert(format!("rpc/desc/{s}.proto"), render("proto.jinja", &[])?);
    }
    if want(GeneratedFileKind::Api) {
        files.insert(format!("api/desc/core/{s}.api"), render("api.jinja", &[])?);
    }
    if want(GeneratedFileKind::Logic) {
        for (tpl, file) in [
            ("create_logic.go.jinja", format!("create_{s}_logic.go")),
            ("update_logic.go.jinja", format!("update_{s}_logic.go")),
            ("delete_logic.go.jinja", format!("delete_{s}_logic.go")),
            ("get_list_logic.go.jinja", format!("get_{s}_list_logic.go")),
            (
                "get_by_id_logic.go.jinja",
                format!("get_{s}_by_id_logic.go"),
            ),
        ] {
            // Render once to see which packages the body uses, then with those imports.
            let draft = render(tpl, &[])?;
            let imports = imports_of(&draft, m, t);
            files.insert(
                format!("rpc/internal/logic/{}/{file}", m.group),
                render(tpl, &imports)?,
            );
        }
    }
    Ok(files)
}

/// `api/desc/all.api` with the module's import added (once), after the last import.
pub fn add_api_import(all_api: &str, snake: &str) -> String {
    let line = format!("import \"core/{snake}.api\"");
    if all_api.lines().any(|l| l.trim() == line) {
        return all_api.to_string();
    }
    let mut lines: Vec<&str> = all_api.lines().collect();
    let at = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("import "))
        .map(|i| i + 1)
        .unwrap_or(lines.len());
    lines.insert(at, &line);
    let mut out = lines.join("\n");
    if all_api.ends_with('\n') || all_api.is_empty() {
        out.push('\n');
    }
    out
}
