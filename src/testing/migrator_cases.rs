//! Ent schema changes in the Simple Admin Core layout, each with the forward SQL and the lint
//! labels the migrator must give for it: the migrator's tests, its benchmark and its demo
//! repository use them.

/// The schema files of one state of the fixture (`rpc/ent/schema/<name>.go`, text).
pub type Sources = Vec<(String, String)>;

#[derive(Clone, Debug)]
pub struct Dept {
    pub fields: Vec<&'static str>,
    pub indexes: Vec<&'static str>,
    pub edges: Vec<&'static str>,
    pub user_fields: Vec<&'static str>,
    pub user_edges: Vec<&'static str>,
    pub user_indexes: Vec<&'static str>,
    pub position: bool,
}

impl Default for Dept {
    fn default() -> Dept {
        Dept {
            fields: vec![
                r#"field.String("name").Comment("Department name | 部门名称")"#,
                r#"field.String("leader").Default("").Comment("Leader | 负责人")"#,
                r#"field.String("phone").Comment("Phone | 电话")"#,
                r#"field.String("email").Comment("Email | 邮箱")"#,
                r#"field.String("remark").Default("none").Comment("Remark | 备注")"#,
                r#"field.Int32("headcount").Default(0).Comment("Headcount | 人数")"#,
            ],
            indexes: vec![
                r#"index.Fields("name", "leader")"#,
                r#"index.Fields("phone")"#,
            ],
            edges: vec![],
            user_fields: vec![
                r#"field.String("username").Unique().Comment("User name | 用户名")"#,
                r#"field.String("nickname").Optional()"#,
            ],
            user_edges: vec![],
            user_indexes: vec![],
            position: false,
        }
    }
}

fn list(items: &[&str]) -> String {
    items.iter().map(|i| format!("\t\t{i},\n")).collect()
}

impl Dept {
    pub fn sources(&self) -> Sources {
        let department = format!(
            r#"package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

// Department holds the schema definition for the Department entity.
type Department struct {{
	ent.Schema
}}

// Fields of the Department.
func (Department) Fields() []ent.Field {{
	return []ent.Field{{
{}	}}
}}

func (Department) Mixin() []ent.Mixin {{
	return []ent.Mixin{{
		mixins.IDMixin{{}},
		mixins.StatusMixin{{}},
		mixins.SortMixin{{}},
	}}
}}

// Edges of the Department.
func (Department) Edges() []ent.Edge {{
	return []ent.Edge{{
{}	}}
}}

func (Department) Indexes() []ent.Index {{
	return []ent.Index{{
{}	}}
}}

func (Department) Annotations() []schema.Annotation {{
	return []schema.Annotation{{
		entsql.WithComments(true),
		schema.Comment("Department Table | 部门信息表"),
		entsql.Annotation{{Table: "sys_departments"}},
	}}
}}
"#,
            list(&self.fields),
            list(&self.edges),
            list(&self.indexes)
        );
        let user = format!(
            r#"package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

type User struct {{
	ent.Schema
}}

func (User) Fields() []ent.Field {{
	return []ent.Field{{
{}	}}
}}

func (User) Mixin() []ent.Mixin {{
	return []ent.Mixin{{
		mixins.UUIDMixin{{}},
		mixins.StatusMixin{{}},
	}}
}}

func (User) Edges() []ent.Edge {{
	return []ent.Edge{{
{}	}}
}}

func (User) Indexes() []ent.Index {{
	return []ent.Index{{
{}	}}
}}
"#,
            list(&self.user_fields),
            list(&self.user_edges),
            list(&self.user_indexes)
        );
        let mut out = vec![
            ("rpc/ent/schema/department.go".to_string(), department),
            ("rpc/ent/schema/user.go".to_string(), user),
        ];
        if self.position {
            out.push((
                "rpc/ent/schema/position.go".to_string(),
                POSITION.to_string(),
            ));
        }
        out
    }
}

const POSITION: &str = r#"package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

type Position struct {
	ent.Schema
}

func (Position) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Comment("Position Name | 职位名称"),
		field.String("code").Comment("The code of position | 职位编码"),
	}
}

func (Position) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.IDMixin{},
		mixins.SortMixin{},
	}
}

func (Position) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("name"),
	}
}

func (Position) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("Position Table | 职位信息表"),
		entsql.Annotation{Table: "sys_positions"},
	}
}
"#;

/// One schema change and what the migrator must make of it.
pub struct Case {
    pub name: &'static str,
    pub to: Dept,
    /// The forward statements, in order.
    pub up: Vec<&'static str>,
    /// `category:code` of every lint, in order.
    pub lints: Vec<&'static str>,
}

fn with(f: impl FnOnce(&mut Dept)) -> Dept {
    let mut d = Dept::default();
    f(&mut d);
    d
}

/// The changes, each from [`Dept::default`].
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "add_optional_time_with_comment",
            to: with(|d| {
                d.fields
                    .push(r#"field.Time("founded_at").Optional().Comment("Founded | 成立时间")"#)
            }),
            up: vec![
                r#"ALTER TABLE "sys_departments" ADD COLUMN "founded_at" timestamp with time zone NULL;"#,
                r#"COMMENT ON COLUMN "sys_departments"."founded_at" IS 'Founded | 成立时间';"#,
            ],
            lints: vec![],
        },
        Case {
            name: "add_bool_with_default",
            to: with(|d| {
                d.fields
                    .push(r#"field.Bool("visible").Default(true).Comment("Visible | 可见")"#)
            }),
            up: vec![
                r#"ALTER TABLE "sys_departments" ADD COLUMN "visible" boolean NOT NULL DEFAULT true;"#,
                r#"COMMENT ON COLUMN "sys_departments"."visible" IS 'Visible | 可见';"#,
            ],
            lints: vec![],
        },
        Case {
            name: "drop_column_with_default",
            to: with(|d| d.fields.retain(|f| !f.contains("\"remark\""))),
            up: vec![r#"ALTER TABLE "sys_departments" DROP COLUMN "remark";"#],
            lints: vec!["destructive:drop-column"],
        },
        Case {
            name: "unique_index_on_existing_column",
            to: with(|d| d.fields[3] = r#"field.String("email").Unique().Comment("Email | 邮箱")"#),
            up: vec![
                r#"CREATE UNIQUE INDEX CONCURRENTLY "sys_departments_email_key" ON "sys_departments" ("email");"#,
            ],
            lints: vec!["data-dependent:unique-index"],
        },
        Case {
            name: "drop_index",
            to: with(|d| d.indexes.retain(|i| !i.contains("\"phone\""))),
            up: vec![r#"DROP INDEX CONCURRENTLY "department_phone";"#],
            lints: vec![],
        },
        Case {
            name: "fields_made_optional",
            to: with(|d| {
                d.fields[2] = r#"field.String("phone").Optional().Comment("Phone | 电话")"#;
                d.fields[3] = r#"field.String("email").Optional().Comment("Email | 邮箱")"#;
            }),
            up: vec![
                r#"ALTER TABLE "sys_departments" ALTER COLUMN "phone" DROP NOT NULL;"#,
                r#"ALTER TABLE "sys_departments" ALTER COLUMN "email" DROP NOT NULL;"#,
            ],
            lints: vec![],
        },
        Case {
            name: "drop_default",
            to: with(|d| d.fields[1] = r#"field.String("leader").Comment("Leader | 负责人")"#),
            up: vec![r#"ALTER TABLE "sys_departments" ALTER COLUMN "leader" DROP DEFAULT;"#],
            lints: vec![],
        },
        Case {
            name: "new_table_with_identity_and_index",
            to: with(|d| d.position = true),
            up: vec![
                "CREATE TABLE \"sys_positions\" (\n  \"id\" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY,\n  \"created_at\" timestamp with time zone NOT NULL,\n  \"updated_at\" timestamp with time zone NOT NULL,\n  \"sort\" bigint NOT NULL DEFAULT 1,\n  \"name\" character varying NOT NULL,\n  \"code\" character varying NOT NULL,\n  PRIMARY KEY (\"id\")\n);",
                r#"CREATE INDEX "position_name" ON "sys_positions" ("name");"#,
                r#"COMMENT ON TABLE "sys_positions" IS 'Position Table | 职位信息表';"#,
                r#"COMMENT ON COLUMN "sys_positions"."created_at" IS 'Create Time | 创建日期';"#,
                r#"COMMENT ON COLUMN "sys_positions"."updated_at" IS 'Update Time | 修改日期';"#,
                r#"COMMENT ON COLUMN "sys_positions"."sort" IS 'Sort Number | 排序编号';"#,
                r#"COMMENT ON COLUMN "sys_positions"."name" IS 'Position Name | 职位名称';"#,
                r#"COMMENT ON COLUMN "sys_positions"."code" IS 'The code of position | 职位编码';"#,
            ],
            lints: vec![],
        },
        Case {
            name: "index_and_fields_only_reordered",
            to: with(|d| {
                d.indexes.reverse();
                d.fields.swap(0, 5);
            }),
            up: vec![],
            lints: vec![],
        },
        Case {
            name: "new_edge",
            to: with(|d| {
                d.edges.push(r#"edge.To("users", User.Type)"#);
                d.user_edges
                    .push(r#"edge.From("department", Department.Type).Ref("users").Unique()"#);
                d.user_indexes.push(r#"index.Edges("department")"#);
            }),
            up: vec![
                r#"ALTER TABLE "users" ADD COLUMN "department_users" bigint NULL;"#,
                r#"CREATE INDEX CONCURRENTLY "user_department_users" ON "users" ("department_users");"#,
            ],
            lints: vec![],
        },
        Case {
            name: "type_change",
            to: with(|d| {
                d.fields[5] = r#"field.Int64("headcount").Default(0).Comment("Headcount | 人数")"#
            }),
            up: vec![
                r#"ALTER TABLE "sys_departments" ALTER COLUMN "headcount" TYPE bigint USING "headcount"::bigint;"#,
            ],
            lints: vec!["locking:change-column-type"],
        },
        Case {
            name: "field_made_required",
            to: with(|d| d.user_fields[1] = r#"field.String("nickname")"#),
            up: vec![r#"ALTER TABLE "users" ALTER COLUMN "nickname" SET NOT NULL;"#],
            lints: vec!["data-dependent:set-not-null"],
        },
    ]
}

/// Every change at once (the demo's and the agent tests' feature branch).
pub fn all_changes() -> Dept {
    Dept {
        fields: vec![
            r#"field.Int64("headcount").Default(0).Comment("Headcount | 人数")"#,
            r#"field.String("leader").Comment("Leader | 负责人")"#,
            r#"field.String("phone").Optional().Comment("Phone | 电话")"#,
            r#"field.String("email").Unique().Comment("Email | 邮箱")"#,
            r#"field.String("name").Comment("Department name | 部门名称")"#,
            r#"field.Time("founded_at").Optional().Comment("Founded | 成立时间")"#,
            r#"field.Bool("visible").Default(true).Comment("Visible | 可见")"#,
        ],
        indexes: vec![r#"index.Fields("name", "leader")"#],
        edges: vec![r#"edge.To("users", User.Type)"#],
        user_edges: vec![r#"edge.From("department", Department.Type).Ref("users").Unique()"#],
        user_indexes: vec![r#"index.Edges("department")"#],
        position: true,
        ..Dept::default()
    }
}

/// The fixture repository of the migrator's tests and demo (`acme/hr`): `main` holds
/// [`Dept::default`], each branch one state of the schema, committed on top of `main`.
pub const REPOSITORY: &str = "acme/hr";

/// `main`'s files.
pub fn repository_main() -> Sources {
    let mut files = vec![
        (
            "go.mod".to_string(),
            "module github.com/acme/hr\n\ngo 1.22\n".to_string(),
        ),
        (
            "rpc/migrations/20250101000000_init.up.sql".to_string(),
            "-- the tables of main, created by Ent's auto-migration\n".to_string(),
        ),
    ];
    files.extend(Dept::default().sources());
    files
}

/// The branches of the fixture repository: name and the whole of `rpc/ent/schema` there.
pub fn repository_branches() -> Vec<(&'static str, Sources)> {
    let case = |name: &str| {
        cases()
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.to.sources())
            .unwrap_or_default()
    };
    let mut unparseable = Dept::default().sources();
    unparseable[0].1 = unparseable[0].1.replace(
        "func (Department) Indexes()",
        "func (Department) Indexes( {",
    );
    let mut unknown = Dept::default().sources();
    unknown[0].1 = unknown[0].1.replace(
        "mixins.StatusMixin{},",
        "mixins.StatusMixin{},\n\t\taudit.Mixin{},",
    );
    vec![
        ("feature/department", all_changes().sources()),
        ("feature/add-column", case("add_optional_time_with_comment")),
        ("feature/drop-column", case("drop_column_with_default")),
        ("feature/reordered", case("index_and_fields_only_reordered")),
        ("bad/unparseable", unparseable),
        ("bad/unknown-construct", unknown),
        (
            "bad/refused",
            with(|d| {
                d.fields[5] = r#"field.Time("headcount").Optional().Comment("Headcount | 人数")"#
            })
            .sources(),
        ),
    ]
}

/// Eleven schemas the size of Simple Admin Core's own (API, Configuration, Department,
/// Dictionary, DictionaryDetail, Menu, OauthProvider, Position, Role, Token, User: their field
/// counts and mixins), before (`changed: false`) and after a change to each: one new optional
/// field, one default changed, one new index. The migrator's benchmark reads them.
pub fn core_sized(changed: bool) -> Sources {
    const TYPES: [(&str, &str, usize, &str); 11] = [
        ("API", "sys_apis", 6, "IDMixin"),
        ("Configuration", "sys_configurations", 6, "IDMixin"),
        ("Department", "sys_departments", 7, "IDMixin"),
        ("Dictionary", "sys_dictionaries", 4, "IDMixin"),
        ("DictionaryDetail", "sys_dictionary_details", 5, "IDMixin"),
        ("Menu", "sys_menus", 22, "IDMixin"),
        ("OauthProvider", "sys_oauth_providers", 10, "IDMixin"),
        ("Position", "sys_positions", 4, "IDMixin"),
        ("Role", "sys_roles", 5, "IDMixin"),
        ("Token", "sys_tokens", 5, "UUIDMixin"),
        ("User", "sys_users", 12, "UUIDMixin"),
    ];
    let kinds = [
        ("String", ""),
        ("Uint32", ".Default(0)"),
        ("String", ".Optional().Default(\"\")"),
        ("Bool", ".Default(false)"),
        ("Uint64", ".Optional()"),
        ("Time", ".Optional()"),
    ];
    let mut out = Vec::new();
    for (n, (name, table, count, id)) in TYPES.iter().enumerate() {
        let mut fields = String::new();
        for i in 0..*count {
            let (ty, modifiers) = kinds[(i + n) % kinds.len()];
            let mut m = modifiers.to_string();
            if changed && i == 1 && ty == "Uint32" {
                m = ".Default(1)".into();
            }
            fields.push_str(&format!(
                "\t\tfield.{ty}(\"f{i}_{}\"){m}.Comment(\"Field {i} | 字段{i}\"),\n",
                ty.to_lowercase()
            ));
        }
        let mut indexes = format!(
            "\t\tindex.Fields(\"f0_{}\"),\n",
            kinds[n % kinds.len()].0.to_lowercase()
        );
        if changed {
            fields.push_str("\t\tfield.String(\"extra\").Optional().Comment(\"Extra | 额外\"),\n");
            indexes.push_str("\t\tindex.Fields(\"extra\"),\n");
        }
        let text = format!(
            r#"package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

type {name} struct {{
	ent.Schema
}}

func ({name}) Fields() []ent.Field {{
	return []ent.Field{{
{fields}	}}
}}

func ({name}) Mixin() []ent.Mixin {{
	return []ent.Mixin{{
		mixins.{id}{{}},
		mixins.StatusMixin{{}},
	}}
}}

func ({name}) Indexes() []ent.Index {{
	return []ent.Index{{
{indexes}	}}
}}

func ({name}) Annotations() []schema.Annotation {{
	return []schema.Annotation{{
		entsql.WithComments(true),
		schema.Comment("{name} Table"),
		entsql.Annotation{{Table: "{table}"}},
	}}
}}
"#
        );
        out.push((format!("rpc/ent/schema/{}.go", name.to_lowercase()), text));
    }
    out
}

/// The fixture repository as the bare repository `<root>/acme/hr.git`: `main` and every
/// branch of [`repository_branches`].
pub fn bare_repository(root: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use super::git_server::{bare_repo_with, push_branch};
    let main = repository_main();
    let files: Vec<(&str, &str)> = main.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let bare = bare_repo_with(root, REPOSITORY, "main", &files)?;
    for (branch, sources) in repository_branches() {
        push_branch(&bare, "main", branch, "rpc/ent/schema", &sources, branch)?;
    }
    Ok(bare)
}
