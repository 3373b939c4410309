//! The generator's rendering (no cluster, no LLM): the Department example from
//! `examples/agentjobs/`, checked with the real tools (Debian's gofmt and protoc), and
//! snapshots of three entities that pin the naming rules. `UPDATE_SNAPSHOTS=1` rewrites the
//! snapshots after an intended change (then read the diff).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use devagents::agents::generator::{i18n, model, render};
use devagents::api::{AgentJob, EntityField, FieldType, GeneratorParams, I18nNames, Mixin};

fn example_params() -> GeneratorParams {
    let text = std::fs::read_to_string("examples/agentjobs/generator.yaml").unwrap();
    let job: AgentJob = serde_yaml::from_str(&text).unwrap();
    *job.spec.generator.unwrap()
}

fn render_module(p: &GeneratorParams) -> BTreeMap<String, String> {
    let m = model::module(p, &p.fields).unwrap();
    render::render(&m, &render::Target::default(), &[], None).unwrap()
}

fn write_all(dir: &Path, files: &BTreeMap<String, String>) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run `just setup`)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Real gofmt lists no file: every Go file is formatted as gofmt would.
fn assert_gofmt_clean(files: &BTreeMap<String, String>) {
    let d = tempfile::tempdir().unwrap();
    write_all(d.path(), files);
    let listed = run(Command::new("gofmt").arg("-l").arg(d.path()));
    if !listed.trim().is_empty() {
        let diff = Command::new("gofmt")
            .arg("-d")
            .arg(d.path())
            .output()
            .unwrap();
        panic!(
            "gofmt would change:\n{listed}\n{}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
}

/// A base.proto like Simple Admin Core's (package, the shared messages, the service).
const BASE_PROTO: &str = r#"syntax = "proto3";

package core;
option go_package="./core";

message Empty {}
message IDReq { uint64 id = 1; }
message IDsReq { repeated uint64 ids = 1; }
message UUIDReq { string id = 1; }
message UUIDsReq { repeated string ids = 1; }
message BaseResp { string msg = 1; }
message BaseIDResp { uint64 id = 1; string msg = 2; }
message BaseUUIDResp { string id = 1; string msg = 2; }
message PageInfoReq { uint64 page = 1; uint64 page_size = 2; }

service Core {
  // group: base
  rpc initDatabase (Empty) returns (BaseResp);
}
"#;

/// What `make gen-rpc` does first: merge rpc/desc/*.proto into one core.proto — the
/// messages appended, the rpcs moved into the one service.
fn merge_proto(base: &str, module: &str) -> String {
    let (msgs, service) = module.split_once("service Core {").unwrap();
    let rpcs = service.trim_end().strip_suffix('}').unwrap();
    let msgs = msgs.replace("syntax = \"proto3\";", "");
    let base = base.trim_end().strip_suffix('}').unwrap();
    let (head, svc) = base.split_once("service Core {").unwrap();
    format!("{head}{msgs}\nservice Core {{{svc}{rpcs}}}\n")
}

fn assert_proto_compiles(files: &BTreeMap<String, String>, snake: &str) {
    let d = tempfile::tempdir().unwrap();
    let merged = merge_proto(BASE_PROTO, &files[&format!("rpc/desc/{snake}.proto")]);
    std::fs::write(d.path().join("core.proto"), &merged).unwrap();
    run(Command::new("protoc")
        .arg(format!("--proto_path={}", d.path().display()))
        .arg("--descriptor_set_out=/dev/null")
        .arg("core.proto"));
}

#[test]
fn the_department_example_renders_every_file_and_real_tools_accept_them() {
    let p = example_params();
    let files = render_module(&p);
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "api/desc/core/department.api",
            "rpc/desc/department.proto",
            "rpc/ent/schema/department.go",
            "rpc/internal/logic/department/create_department_logic.go",
            "rpc/internal/logic/department/delete_department_logic.go",
            "rpc/internal/logic/department/get_department_by_id_logic.go",
            "rpc/internal/logic/department/get_department_list_logic.go",
            "rpc/internal/logic/department/update_department_logic.go",
        ]
    );
    assert_gofmt_clean(&files);
    assert_proto_compiles(&files, "department");

    // The schema: mixins instead of duplicate fields, the tree edge, the table.
    let schema = &files["rpc/ent/schema/department.go"];
    for want in [
        "mixins.IDMixin{},",
        "mixins.StatusMixin{},",
        "mixins.SortMixin{},",
        "field.Uint64(\"parent_id\").Optional().Default(0).",
        "edge.To(\"children\", Department.Type).From(\"parent\").Unique().Field(\"parent_id\"),",
        "entsql.Annotation{Table: \"sys_departments\"},",
        "Comment(\"Department name | 部门名称\"),",
    ] {
        assert!(schema.contains(want), "schema lacks {want}:\n{schema}");
    }
    assert!(
        !schema.contains("field.Uint32(\"sort\")"),
        "sort must come from SortMixin"
    );

    // The .api file: the five routes and the types the conventions name.
    let api = &files["api/desc/core/department.api"];
    for want in [
        "post /department/create (DepartmentInfo) returns (BaseMsgResp)",
        "post /department/update (DepartmentInfo) returns (BaseMsgResp)",
        "post /department/delete (IDsReq) returns (BaseMsgResp)",
        "post /department/list (DepartmentListReq) returns (DepartmentListResp)",
        "post /department (IDReq) returns (DepartmentInfoResp)",
        "    DepartmentInfo {",
        "    DepartmentListResp {",
        "    DepartmentListInfo {",
        "    DepartmentListReq {",
        "    DepartmentInfoResp {",
        "ParentId *uint64 `json:\"parentId,optional\"`",
        "group: department",
    ] {
        assert!(api.contains(want), ".api lacks {want}:\n{api}");
    }
    assert_eq!(api.matches("@handler ").count(), 5);

    // The logic calls Ent with Ent's names and reads the request with proto's.
    let create = &files["rpc/internal/logic/department/create_department_logic.go"];
    assert!(
        create.contains("SetNotNilParentID(in.ParentId)."),
        "{create}"
    );
    assert!(create.contains("\"github.com/suyuan32/simple-admin-core/rpc/types/core\""));
    let list = &files["rpc/internal/logic/department/get_department_list_logic.go"];
    assert!(list.contains("department.NameContains(*in.Name)"), "{list}");
    assert!(list.contains("\"github.com/suyuan32/simple-admin-core/rpc/ent/predicate\""));
}

#[test]
fn locale_files_get_every_key_and_keep_identical_key_sets() {
    let p = example_params();
    let m = model::module(&p, &p.fields).unwrap();
    let en = "{\n  \"common\": {\n    \"createSuccess\": \"Created successfully\"\n  },\n  \"apiDesc\": {\n    \"createUser\": \"Create user\"\n  }\n}\n";
    let zh = "{\n  \"common\": {\n    \"createSuccess\": \"创建成功\"\n  },\n  \"apiDesc\": {\n    \"createUser\": \"创建用户\"\n  }\n}\n";
    let entries = i18n::entries(&m);
    let (en2, n_en) = i18n::add_keys(
        "en.json",
        en,
        &entries
            .iter()
            .map(|(k, e, _)| (k.clone(), e.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let (zh2, n_zh) = i18n::add_keys(
        "zh.json",
        zh,
        &entries
            .iter()
            .map(|(k, _, z)| (k.clone(), z.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!((n_en, n_zh), (7, 7));
    assert_eq!(i18n::key_set(&en2).unwrap(), i18n::key_set(&zh2).unwrap());
    assert!(zh2.contains("\"createDepartment\": \"创建部门\""), "{zh2}");
    assert!(
        zh2.contains("\"departmentManagement\": \"部门管理\""),
        "{zh2}"
    );
    assert!(
        en2.starts_with("{\n  \"common\": {\n    \"createSuccess\""),
        "order and indent kept:\n{en2}"
    );
    // Running again adds nothing.
    let (_, again) = i18n::add_keys(
        "en.json",
        &en2,
        &[("apiDesc.createDepartment".into(), "x".into())],
    )
    .unwrap();
    assert_eq!(again, 0);
    assert_eq!(
        render::add_api_import(
            "import \"base.api\"\nimport \"core/user.api\"\n",
            "department"
        ),
        "import \"base.api\"\nimport \"core/user.api\"\nimport \"core/department.api\"\n"
    );
}

fn f(name: &str, t: FieldType) -> EntityField {
    EntityField {
        name: name.into(),
        type_: t,
        optional: false,
        unique: false,
        default: None,
        comment: None,
        validation: None,
    }
}

fn snapshot(name: &str, files: &BTreeMap<String, String>) {
    let dir = PathBuf::from("tests/snapshots/generator").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        write_all(&dir, files);
        return;
    }
    for (path, text) in files {
        let want = std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| {
            panic!("snapshot {name}/{path}: {e} (UPDATE_SNAPSHOTS=1 writes it)")
        });
        assert_eq!(text, &want, "{name}/{path} differs from its snapshot");
    }
}

#[test]
fn snapshots_pin_the_naming_rules() {
    // Multi-word name.
    let dictionary_detail = GeneratorParams {
        entity: "DictionaryDetail".into(),
        mixins: vec![Mixin::Id, Mixin::Status, Mixin::Sort],
        fields: vec![
            EntityField {
                comment: Some("Title | 显示名称".into()),
                ..f("title", FieldType::String)
            },
            EntityField {
                comment: Some("Key | 键".into()),
                ..f("key", FieldType::String)
            },
            EntityField {
                comment: Some("Value | 值".into()),
                ..f("value", FieldType::String)
            },
            EntityField {
                optional: true,
                comment: Some("Dictionary ID | 字典ID".into()),
                ..f("dictionary_id", FieldType::Uint64)
            },
        ],
        i18n: Some(I18nNames {
            en: Some("Dictionary detail".into()),
            zh: Some("字典明细".into()),
        }),
        ..Default::default()
    };
    // A UUID id.
    let api_token = GeneratorParams {
        entity: "ApiToken".into(),
        fields: vec![
            f("id", FieldType::Uuid),
            EntityField {
                unique: true,
                ..f("token", FieldType::String)
            },
            f("expires_at", FieldType::Time),
            f("owner_uuid", FieldType::Uuid),
        ],
        ..Default::default()
    };
    // Unique and defaulted fields, a uint8 and a bool.
    let warehouse = GeneratorParams {
        entity: "Warehouse".into(),
        table_name: Some("wms_warehouses".into()),
        fields: vec![
            EntityField {
                unique: true,
                validation: Some("omitempty,min=1,max=50".into()),
                ..f("name", FieldType::String)
            },
            EntityField {
                default: Some("\"cn\"".into()),
                ..f("region", FieldType::String)
            },
            EntityField {
                default: Some("1".into()),
                ..f("level", FieldType::Uint8)
            },
            EntityField {
                default: Some("true".into()),
                ..f("active", FieldType::Bool)
            },
            EntityField {
                optional: true,
                ..f("capacity", FieldType::Float)
            },
        ],
        ..Default::default()
    };
    // StateMixin (Simple Admin Core's Configuration): `state` in every message and type, a
    // filter by default with the required strings; an optional string is no filter.
    let configuration = GeneratorParams {
        entity: "Configuration".into(),
        mixins: vec![Mixin::Id, Mixin::Sort, Mixin::State],
        fields: vec![
            f("name", FieldType::String),
            f("key", FieldType::String),
            f("value", FieldType::String),
            f("category", FieldType::String),
            EntityField {
                optional: true,
                ..f("remark", FieldType::String)
            },
        ],
        ..Default::default()
    };
    // Chosen list filters (a string, a bool, a UUID and the status), translated names, and
    // the tenant and creator mixins (shown, never set from the request).
    let dictionary = GeneratorParams {
        entity: "Dictionary".into(),
        mixins: vec![Mixin::Id, Mixin::Status, Mixin::Tenant, Mixin::CreatedBy],
        fields: vec![
            f("title", FieldType::String),
            EntityField {
                unique: true,
                ..f("name", FieldType::String)
            },
            f("is_public", FieldType::Bool),
            EntityField {
                optional: true,
                ..f("owner_uuid", FieldType::Uuid)
            },
            EntityField {
                optional: true,
                ..f("desc", FieldType::String)
            },
        ],
        list_filters: Some(vec![
            "name".into(),
            "is_public".into(),
            "owner_uuid".into(),
            "status".into(),
        ]),
        translated: true,
        ..Default::default()
    };
    for (name, p) in [
        ("dictionary_detail", dictionary_detail),
        ("api_token", api_token),
        ("warehouse", warehouse),
        ("configuration", configuration),
        ("dictionary", dictionary),
    ] {
        let files = render_module(&p);
        assert_gofmt_clean(&files);
        assert_proto_compiles(&files, name);
        snapshot(name, &files);
    }
}

#[test]
fn a_template_in_the_target_repository_wins() {
    let p = example_params();
    let m = model::module(&p, &p.fields).unwrap();
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join(render::OVERRIDE_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("proto.jinja"),
        "syntax = \"proto3\";\n// house style for {{ m.name }} ({{ m.table }})\n",
    )
    .unwrap();
    let files = render::render(&m, &render::Target::default(), &[], Some(&dir)).unwrap();
    assert_eq!(
        files["rpc/desc/department.proto"],
        "syntax = \"proto3\";\n// house style for Department (sys_departments)\n"
    );
    // The others still come from the built-in templates.
    assert!(files["rpc/ent/schema/department.go"].contains("mixins.SortMixin{},"));
    // A broken override is a clear error naming the template.
    std::fs::write(dir.join("api.jinja"), "{% if %}").unwrap();
    let e = render::render(&m, &render::Target::default(), &[], Some(&dir)).unwrap_err();
    assert!(e.to_string().starts_with("template api.jinja:"), "{e}");
    // Only the kinds asked for.
    let only = render::render(
        &m,
        &render::Target::default(),
        &[devagents::api::GeneratedFileKind::Ent],
        None,
    )
    .unwrap();
    assert_eq!(
        only.keys().collect::<Vec<_>>(),
        vec!["rpc/ent/schema/department.go"]
    );
}
