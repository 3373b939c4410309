use super::*;
use crate::agents::migrator::sql;

fn schema_of(files: &[(&str, &str)]) -> Result<Schema, ParseError> {
    let v: Vec<(String, String)> = files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    schema_of_sources(&v)
}

const DEPARTMENT: &str = r#"package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/suyuan32/simple-admin-common/orm/ent/mixins"
)

type Department struct {
	ent.Schema
}

func (Department) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Comment("Department name | 部门名称"),
		field.String("leader").Optional().Comment("Leader | 负责人"),
		field.Uint64("parent_id").Optional().Default(0).Comment("Parent ID | 父级 ID"),
		field.Float("budget").SchemaType(map[string]string{dialect.MySQL: "decimal(10,2)", dialect.Postgres: "numeric(10,2)"}),
		field.String("code").Unique(),
		field.Text("notes").Optional(),
	}
}

func (Department) Mixin() []ent.Mixin {
	return []ent.Mixin{
		mixins.IDMixin{},
		mixins.StatusMixin{},
		mixins.SortMixin{},
	}
}

func (Department) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", Department.Type).From("parent").Unique().Field("parent_id"),
		edge.To("users", User.Type),
	}
}

func (Department) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("name", "leader"),
	}
}

func (Department) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.WithComments(true),
		schema.Comment("Department Table | 部门信息表"),
		entsql.Annotation{Table: "sys_departments"},
	}
}
"#;

const USER: &str = r#"package schema

type User struct {
	ent.Schema
}

func (User) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New),
		field.String("username"),
		field.Bool("active").Default(true),
	}
}

func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("department", Department.Type).Ref("users").Unique(),
	}
}

func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Edges("department"),
	}
}
"#;

#[test]
fn maps_like_ent() {
    let s = schema_of(&[("department.go", DEPARTMENT), ("user.go", USER)]).unwrap();
    let d = &s.tables["sys_departments"];
    let col = |t: &sql::Table, n: &str| t.column(n).cloned().unwrap();
    let id = col(d, "id");
    assert_eq!(
        (id.ty.as_str(), id.identity, id.nullable),
        ("bigint", true, false)
    );
    let created = col(d, "created_at");
    assert_eq!(created.ty, "timestamp with time zone");
    assert_eq!(created.default, None, "time.Now is Ent's, not the column's");
    assert_eq!(created.comment.as_deref(), Some("Create Time | 创建日期"));
    let status = col(d, "status");
    assert_eq!((status.ty.as_str(), status.nullable), ("smallint", true));
    assert_eq!(status.default.as_deref(), Some("1"));
    assert_eq!(col(d, "sort").ty, "bigint", "uint32 is bigint");
    assert_eq!(
        col(d, "budget").ty,
        "numeric(10,2)",
        "the Postgres SchemaType wins"
    );
    assert_eq!(col(d, "notes").ty, "text");
    assert_eq!(col(d, "name").ty, "character varying");
    assert!(!col(d, "name").nullable);
    assert_eq!(col(d, "parent_id").default.as_deref(), Some("0"));
    assert_eq!(d.comment.as_deref(), Some("Department Table | 部门信息表"));
    // Column order: the mixins' fields first.
    let names: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        &names[..5],
        ["id", "created_at", "updated_at", "status", "sort"]
    );
    let ix: Vec<(&str, bool)> = d
        .indexes
        .iter()
        .map(|i| (i.name.as_str(), i.unique))
        .collect();
    assert!(ix.contains(&("sys_departments_code_key", true)), "{ix:?}");
    assert!(ix.contains(&("department_name_leader", false)), "{ix:?}");

    let u = &s.tables["users"];
    let uid = col(u, "id");
    assert_eq!((uid.ty.as_str(), uid.identity), ("uuid", false));
    // The O2M edge's column: <owner>_<edge>, the owner's id type, NULL, no constraint.
    let fk = col(u, "department_users");
    assert_eq!((fk.ty.as_str(), fk.nullable), ("bigint", true));
    assert_eq!(col(u, "active").default.as_deref(), Some("true"));
    assert!(u.column("comment").is_none());
    assert_eq!(col(u, "username").comment, None, "no WithComments on User");
    assert!(
        u.indexes
            .iter()
            .any(|i| i.name == "user_department_users" && i.columns == ["department_users"]),
        "{:?}",
        u.indexes
    );
}

#[test]
fn default_table_names_are_plural_snake() {
    assert_eq!(pluralize(&snake("DictionaryDetail")), "dictionary_details");
    assert_eq!(pluralize(&snake("Category")), "categories");
    assert_eq!(pluralize(&snake("Box")), "boxes");
    assert_eq!(pluralize(&snake("Key")), "keys");
    assert_eq!(snake("UserID"), "user_id");
    assert_eq!(snake("APIKey"), "api_key");
}

#[test]
fn local_mixins_are_read_from_the_repository() {
    let mixin = r#"package mixins

type SoftDeleteMixin struct {
	mixin.Schema
}

func (SoftDeleteMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("deleted_at").Optional().Comment("Delete Time | 删除日期"),
	}
}

func (d SoftDeleteMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			return nil
		}),
	}
}
"#;
    let token = r#"package schema
type Token struct{ ent.Schema }
func (Token) Mixin() []ent.Mixin { return []ent.Mixin{ mixins.UUIDMixin{}, mixins.StateMixin{}, mixins2.SoftDeleteMixin{} } }
func (Token) Fields() []ent.Field { return []ent.Field{ field.String("token").Unique() } }
"#;
    let s = schema_of(&[("mixins/soft_delete.go", mixin), ("token.go", token)]).unwrap();
    let t = &s.tables["tokens"];
    let d = t.column("deleted_at").unwrap();
    assert!(d.nullable);
    assert_eq!(t.column("state").unwrap().default.as_deref(), Some("true"));
    assert_eq!(t.column("id").unwrap().ty, "uuid");
}

#[test]
fn what_is_not_understood_fails_naming_the_line() {
    let bad_mod = "package schema\ntype A struct{ ent.Schema }\nfunc (A) Fields() []ent.Field {\n\treturn []ent.Field{\n\t\tfield.String(\"a\").\n\t\t\tFrobnicate(),\n\t}\n}\n";
    let e = schema_of(&[("a.go", bad_mod)]).unwrap_err();
    assert_eq!((e.path.as_str(), e.line), ("a.go", 6), "{e}");
    assert!(e.message.contains("Frobnicate"), "{e}");

    let bad_default = "package schema\ntype A struct{ ent.Schema }\nfunc (A) Fields() []ent.Field {\n\treturn []ent.Field{\n\t\tfield.Int(\"a\").Default(compute()),\n\t}\n}\n";
    let e = schema_of(&[("a.go", bad_default)]).unwrap_err();
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("Default"), "{e}");

    let unknown_mixin = "package schema\ntype A struct{ ent.Schema }\nfunc (A) Mixin() []ent.Mixin {\n\treturn []ent.Mixin{ other.Thing{} }\n}\n";
    let e = schema_of(&[("a.go", unknown_mixin)]).unwrap_err();
    assert_eq!(e.line, 4, "{e}");

    let m2m = "package schema\ntype A struct{ ent.Schema }\ntype B struct{ ent.Schema }\nfunc (A) Edges() []ent.Edge {\n\treturn []ent.Edge{ edge.To(\"bs\", B.Type) }\n}\nfunc (B) Edges() []ent.Edge {\n\treturn []ent.Edge{ edge.From(\"as\", A.Type).Ref(\"bs\") }\n}\n";
    let e = schema_of(&[("a.go", m2m)]).unwrap_err();
    assert!(e.message.contains("many-to-many"), "{e}");
    assert_eq!(e.line, 5);
}
