//! doc-sync's fixture: a Simple Admin Core shaped repository (a `department` module in `.api`,
//! `.proto` and Ent, a CLAUDE.md with marked sections and hand-written prose around them, a
//! Keep a Changelog file) and the commits that change its API one way each: an endpoint added,
//! a field removed, optional → required, a type change, a new group (with its RPC side), and a
//! commit that changes no API.
//!
//! Its Makefile's `gen-swagger` runs `tools/gen_swagger.py`, a STAND-IN for goctls' `api
//! swagger` (goctls is not packaged for Debian): it writes `core.json`, Swagger 2.0 the way
//! goctls does (a body parameter and a 200 response per route, a definition per type with
//! `required` for fields without `optional`, embedded types as `allOf`).

use std::path::{Path, PathBuf};

use super::fixtures::{BASE_PROTO, CHECK_LOCALES, MAKEFILE, MERGE_PROTO};
use super::git_server::{bare_repo_with, commit_files};

pub const GEN_SWAGGER: &str = r##"import glob, json, re
types, paths = {}, {}
def schema(ty):
    ty = ty.lstrip("*")
    if ty.startswith("[]"):
        return {"type": "array", "items": schema(ty[2:])}
    if ty == "string":
        return {"type": "string"}
    if re.match(r"u?int\d*$", ty):
        return {"type": "integer"}
    if ty.startswith("float"):
        return {"type": "number"}
    if ty == "bool":
        return {"type": "boolean"}
    if ty.startswith("map["):
        return {"type": "object"}
    return {"$ref": "#/definitions/" + ty}
for f in sorted(glob.glob("api/desc/**/*.api", recursive=True)):
    src = re.sub(r"//[^\n]*", "", open(f).read())
    for m in re.finditer(r"(@server\s*\(([^)]*)\)\s*)?service\s+[\w-]+\s*\{([^}]*)\}", src):
        opts = dict(re.findall(r"(\w+)\s*:\s*(\S+)", m.group(2) or ""))
        prefix = opts.get("prefix", "")
        for r in re.finditer(r"\b(get|post|put|delete|patch)\s+(/\S*)\s*(?:\((\w+)\))?\s*(?:returns\s*\((\w+)\))?", m.group(3)):
            method, path, req, resp = r.groups()
            op = {"tags": [opts.get("group", "")], "parameters": [],
                  "responses": {"200": {"description": "A successful response."}}}
            if req:
                op["parameters"].append({"in": "body", "name": "body", "required": True,
                                         "schema": {"$ref": "#/definitions/" + req}})
            if resp:
                op["responses"]["200"]["schema"] = {"$ref": "#/definitions/" + resp}
            paths.setdefault(prefix + path, {})[method] = op
    rest = re.sub(r"service\s+[\w-]+\s*\{[^}]*\}", "", src)
    for m in re.finditer(r"(\w+)\s*\{([^{}]*)\}", rest):
        props, required, embedded = {}, [], []
        for line in m.group(2).splitlines():
            line = line.strip()
            fm = re.match(r'(\w+)\s+(\S+)\s+`json:"([^"]*)"', line)
            if not fm:
                if re.match(r"^\w+$", line):
                    embedded.append({"$ref": "#/definitions/" + line})
                continue
            name, ty, tag = fm.groups()
            js, *flags = tag.split(",")
            if js == "-":
                continue
            props[js] = schema(ty)
            if "optional" not in flags:
                required.append(js)
        d = {"type": "object", "properties": props}
        if required:
            d["required"] = required
        if embedded:
            d["allOf"] = embedded
        types[m.group(1)] = d
doc = {"swagger": "2.0", "info": {"title": "core", "version": "v1"}, "basePath": "/",
       "consumes": ["application/json"], "produces": ["application/json"],
       "paths": paths, "definitions": types}
open("core.json", "w").write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
"##;

pub const BASE_API: &str = "syntax = \"v1\"\n\ntype BaseIDInfo {\n    Id *uint64 `json:\"id,optional\"`\n}\n\ntype BaseMsgResp {\n    Code int `json:\"code\"`\n    Msg string `json:\"msg\"`\n}\n\ntype IDReq {\n    Id uint64 `json:\"id\"`\n}\n";

pub const CLAUDE_MD: &str = "# CLAUDE.md\n\nHand-written guidance for this repository — doc-sync never touches it.\n\n## Common Commands\n\n<!-- devagents:begin commands -->\n<!-- devagents:end commands -->\n\n## Architecture\n\nSome prose the team wrote.\n\n<!-- devagents:begin architecture -->\n<!-- devagents:end architecture -->\n\n## API\n\n<!-- devagents:begin api -->\n<!-- devagents:end api -->\n\nThe end, also hand-written.\n";

pub const CHANGELOG: &str = "# Changelog\n\nAll notable changes to this project are documented in this file.\n\n## [Unreleased]\n\n## [1.0.0] - 2026-01-01\n\n### Added\n\n- The first release.\n";

pub const DEPARTMENT_PROTO: &str = "syntax = \"proto3\";\n\nmessage DepartmentInfo {\n  optional uint64 id = 1;\n  optional string name = 2;\n}\n\nservice Core {\n  // group: department\n  rpc createDepartment (DepartmentInfo) returns (BaseIDResp);\n}\n";

pub const DEPARTMENT_SCHEMA: &str =
    "package schema\n\nimport \"entgo.io/ent\"\n\ntype Department struct {\n\tent.Schema\n}\n";

/// The department module's `.api` file, in one of its versions.
pub fn department_api(leader: bool, name_required: bool, sort_type: &str, tree: bool) -> String {
    format!(
        "syntax = \"v1\"\n\nimport \"../base.api\"\n\ntype (\n    // The department's data | 部门信息\n    DepartmentInfo {{\n        BaseIDInfo\n\n        // Name | 名称\n        Name *string `json:\"name{}\"`\n{}\n        // Sort | 排序\n        Sort *{sort_type} `json:\"sort,optional\"`\n    }}\n\n    // The department list's filter | 部门列表过滤\n    DepartmentListReq {{\n        Page uint64 `json:\"page\"`\n        Name *string `json:\"name,optional\"`\n    }}\n)\n\n@server(\n    jwt: Auth\n    group: department\n    middleware: Authority\n)\n\nservice Core {{\n    // Create department | 创建部门\n    @handler createDepartment\n    post /department/create (DepartmentInfo) returns (BaseMsgResp)\n\n    // Get department list | 获取部门列表\n    @handler getDepartmentList\n    post /department/list (DepartmentListReq) returns (BaseMsgResp)\n{}}}\n",
        if name_required { "" } else { ",optional" },
        if leader {
            "\n        // Leader | 负责人\n        Leader *string `json:\"leader,optional\"`\n"
        } else {
            ""
        },
        if tree {
            "\n    // Get the department tree | 获取部门树\n    @handler getDepartmentTree\n    post /department/tree (IDReq) returns (BaseMsgResp)\n"
        } else {
            ""
        }
    )
}

pub const POSITION_API: &str = "syntax = \"v1\"\n\nimport \"../base.api\"\n\ntype (\n    // The position's data | 职位信息\n    PositionInfo {\n        BaseIDInfo\n\n        // Name | 名称\n        Name *string `json:\"name,optional\"`\n    }\n)\n\n@server(\n    jwt: Auth\n    group: position\n    middleware: Authority\n)\n\nservice Core {\n    // Create position | 创建职位\n    @handler createPosition\n    post /position/create (PositionInfo) returns (BaseMsgResp)\n}\n";

pub const POSITION_PROTO: &str = "syntax = \"proto3\";\n\nmessage PositionInfo {\n  optional uint64 id = 1;\n  optional string name = 2;\n}\n\nservice Core {\n  // group: position\n  rpc createPosition (PositionInfo) returns (BaseIDResp);\n}\n";

pub const POSITION_SCHEMA: &str =
    "package schema\n\nimport \"entgo.io/ent\"\n\ntype Position struct {\n\tent.Schema\n}\n";

/// The repository before any of the steps.
pub fn repository() -> Vec<(String, String)> {
    let makefile = format!(
        "{MAKEFILE}\n# Generate the Swagger file core.json (goctls api swagger)\ngen-swagger:\n\t@python3 tools/gen_swagger.py\n"
    );
    let files: Vec<(&str, String)> = vec![
        ("go.mod", "module github.com/acme/core\n\ngo 1.22\n".into()),
        ("Makefile", makefile),
        ("tools/merge_proto.py", MERGE_PROTO.into()),
        ("tools/check_locales.py", CHECK_LOCALES.into()),
        ("tools/gen_swagger.py", GEN_SWAGGER.into()),
        ("rpc/desc/base.proto", BASE_PROTO.into()),
        ("rpc/desc/department.proto", DEPARTMENT_PROTO.into()),
        ("rpc/ent/schema/department.go", DEPARTMENT_SCHEMA.into()),
        ("api/desc/base.api", BASE_API.into()),
        (
            "api/desc/all.api",
            "import \"base.api\"\nimport \"core/department.api\"\n".into(),
        ),
        (
            "api/desc/core/department.api",
            department_api(true, false, "string", false),
        ),
        ("CLAUDE.md", CLAUDE_MD.into()),
        ("CHANGELOG.md", CHANGELOG.into()),
        ("README.md", "# core\n".into()),
    ];
    files.into_iter().map(|(p, t)| (p.to_string(), t)).collect()
}

/// One commit of the fixture's history: its message, the files it writes, what doc-sync must
/// find (change kind, level, a word of its subject), and a line its changelog entry must
/// have.
pub struct Step {
    pub name: &'static str,
    pub message: &'static str,
    pub files: Vec<(String, String)>,
    pub expect: Vec<(&'static str, &'static str, &'static str)>,
    pub changelog: Vec<&'static str>,
    /// A line of the endpoint table or the Notion page after the step.
    pub shows: &'static str,
}

/// The steps, in order (each on top of the one before).
pub fn steps() -> Vec<Step> {
    let api = |leader, required, sort: &str, tree| {
        vec![(
            "api/desc/core/department.api".to_string(),
            department_api(leader, required, sort, tree),
        )]
    };
    vec![
        Step {
            name: "endpoint added",
            message: "feat(api): the department tree",
            files: api(true, false, "string", true),
            expect: vec![("endpoint-added", "info", "POST /department/tree")],
            changelog: vec![
                "- endpoint `POST /department/tree`",
                "- api: the department tree",
            ],
            shows: "POST /department/tree",
        },
        Step {
            name: "field removed",
            message: "refactor(api)!: departments have no leader any more",
            files: api(false, false, "string", true),
            expect: vec![("field-removed", "breaking", "leader")],
            changelog: vec!["**Breaking:** field `", "**Breaking:** api: departments have no leader any more"],
            shows: "POST /department/create",
        },
        Step {
            name: "optional to required",
            message: "fix(api): a department needs a name",
            files: api(false, true, "string", true),
            expect: vec![("field-required", "breaking", "name")],
            changelog: vec!["- api: a department needs a name"],
            shows: "POST /department/list",
        },
        Step {
            name: "type changed",
            message: "feat(api): the department sort is a number",
            files: api(false, true, "uint32", true),
            expect: vec![("field-type-changed", "breaking", "sort")],
            changelog: vec!["- api: the department sort is a number"],
            shows: "POST /department/create",
        },
        Step {
            name: "new group",
            message: "feat: positions",
            files: vec![
                ("api/desc/core/position.api".into(), POSITION_API.into()),
                (
                    "api/desc/all.api".into(),
                    "import \"base.api\"\nimport \"core/department.api\"\nimport \"core/position.api\"\n"
                        .into(),
                ),
                ("rpc/desc/position.proto".into(), POSITION_PROTO.into()),
                ("rpc/ent/schema/position.go".into(), POSITION_SCHEMA.into()),
            ],
            expect: vec![
                ("endpoint-added", "info", "POST /position/create"),
                ("rpc-added", "info", "createPosition"),
            ],
            changelog: vec!["- endpoint `POST /position/create`", "- positions"],
            shows: "POST /position/create",
        },
        Step {
            name: "no API change",
            message: "chore: a word in the README",
            files: vec![("README.md".into(), "# core\n\nThe core service.\n".into())],
            expect: vec![],
            changelog: vec![],
            shows: "POST /position/create",
        },
    ]
}

/// The bare repository `<root>/<name>.git`: [`repository`], then the first `n` of [`steps`] as
/// commits on `branch` (`main`, or a new branch from it).
pub fn bare_with_steps(
    root: &Path,
    name: &str,
    branch: &str,
    n: usize,
) -> std::io::Result<PathBuf> {
    let files = repository();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let bare = bare_repo_with(root, name, "main", &files)?;
    for step in steps().into_iter().take(n) {
        commit_files(&bare, branch, "main", &step.files, step.message)?;
    }
    Ok(bare)
}
