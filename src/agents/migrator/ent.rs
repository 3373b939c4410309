//! Ent schemas (as [`goparse`] reads them) → the PostgreSQL tables Ent's migration engine
//! creates for them: its type mapping, nullability, literal defaults, identity ids, comments
//! (only where `entsql.WithComments(true)` asks), unique fields as `<table>_<column>_key`
//! indexes, `index.Fields/Edges` as `<type>_<columns>` indexes, and edge columns
//! (`<owner>_<edge>` unless the edge names its field). Simple Admin Core migrates with foreign
//! keys off, so edges give columns, not constraints. A construct not understood fails naming
//! `file:line`.

use std::collections::BTreeMap;

use super::goparse::{self, E, GoFile, K, ParseError, TypeDecl};
use super::sql::{Column, ForeignKey, Index, Schema, Table};

/// simple-admin-common's mixins (`github.com/suyuan32/simple-admin-common/orm/ent/mixins`),
/// as Go, read by the same parser as the repository's own: their fields, defaults and
/// comments as that package declares them.
const COMMON_MIXINS: &str = r#"package mixins

type IDMixin struct{ mixin.Schema }

func (IDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Uint64("id"),
		field.Time("created_at").Immutable().Default(time.Now).Comment("Create Time | 创建日期").Annotations(entsql.WithComments(true)),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).Comment("Update Time | 修改日期").Annotations(entsql.WithComments(true)),
	}
}

type UUIDMixin struct{ mixin.Schema }

func (UUIDMixin) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuidx.NewUUID).Comment("UUID"),
		field.Time("created_at").Immutable().Default(time.Now),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

type StatusMixin struct{ mixin.Schema }

func (StatusMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Uint8("status").Default(1).Optional().Comment("Status 1 : normal 2 : ban | 状态 1 正常 2 禁用").Annotations(entsql.WithComments(true)),
	}
}

type StateMixin struct{ mixin.Schema }

func (StateMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Bool("state").Default(true).Optional().Comment("state true: normal false ban | 状态 true 正常 false 禁用").Annotations(entsql.WithComments(true)),
	}
}

type SortMixin struct{ mixin.Schema }

func (SortMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Uint32("sort").Default(1).Comment("Sort Number | 排序编号").Annotations(entsql.WithComments(true)),
	}
}

type TenantMixin struct{ mixin.Schema }

func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Uint64("tenant_id").Default(1).Immutable().Comment("Tenant ID | 租户 ID"),
	}
}

type RemarkMixin struct{ mixin.Schema }

func (RemarkMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("remark").Optional().Comment("Remark | 备注").Annotations(entsql.WithComments(true)),
	}
}
"#;

/// Ent's threshold past which a string column is `text` (10 MiB).
const MAX_CHAR_SIZE: i128 = 10 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float32,
    Float64,
    String,
    Text,
    Bytes,
    Time,
    Uuid,
    Json,
    Enum,
}

impl FieldType {
    fn of(ctor: &str) -> Option<FieldType> {
        use FieldType::*;
        Some(match ctor {
            "Bool" => Bool,
            "Int" => Int,
            "Int8" => Int8,
            "Int16" => Int16,
            "Int32" => Int32,
            "Int64" => Int64,
            "Uint" => Uint,
            "Uint8" => Uint8,
            "Uint16" => Uint16,
            "Uint32" => Uint32,
            "Uint64" => Uint64,
            "Float" | "Float64" => Float64,
            "Float32" => Float32,
            "String" => String,
            "Text" => Text,
            "Bytes" => Bytes,
            "Time" => Time,
            "UUID" => Uuid,
            "JSON" | "Strings" | "Ints" | "Floats" | "Any" => Json,
            "Enum" => Enum,
            _ => return None,
        })
    }
    fn integer(self) -> bool {
        use FieldType::*;
        matches!(
            self,
            Int | Int8 | Int16 | Int32 | Int64 | Uint | Uint8 | Uint16 | Uint32 | Uint64
        )
    }
    /// Ent's PostgreSQL column type (its `atTypeC`).
    pub fn postgres(self, size: Option<i128>) -> &'static str {
        use FieldType::*;
        match self {
            Bool => "boolean",
            Int8 | Int16 | Uint8 => "smallint",
            Int32 | Uint16 => "integer",
            Int | Int64 | Uint | Uint32 | Uint64 => "bigint",
            Float32 => "real",
            Float64 => "double precision",
            String if size.is_some_and(|s| s > MAX_CHAR_SIZE) => "text",
            String | Enum => "character varying",
            Text => "text",
            Bytes => "bytea",
            Time => "timestamp with time zone",
            Uuid => "uuid",
            Json => "jsonb",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub optional: bool,
    pub unique: bool,
    /// A literal default, as SQL (`1`, `true`, `'x'`); a function default (`time.Now`) is
    /// Ent's, in Go, and gives no column default.
    pub default: Option<String>,
    pub comment: Option<String>,
    pub storage_key: Option<String>,
    /// `SchemaType`'s `dialect.Postgres` entry.
    pub schema_type: Option<String>,
    pub size: Option<i128>,
    /// The field's own `entsql.WithComments`.
    pub with_comments: Option<bool>,
    pub line: usize,
    pub file: String,
}

impl Field {
    /// A field with no modifiers.
    fn plain(name: String, ty: FieldType, line: usize, file: &str) -> Field {
        Field {
            name,
            ty,
            optional: false,
            unique: false,
            default: None,
            comment: None,
            storage_key: None,
            schema_type: None,
            size: (ty == FieldType::Text).then_some(i32::MAX as i128),
            with_comments: None,
            line,
            file: file.to_string(),
        }
    }
    /// Its column's type: the Postgres `SchemaType`, else Ent's mapping.
    pub fn pg_type(&self) -> String {
        match &self.schema_type {
            Some(st) => super::sql::canonical_type(st),
            None => self.ty.postgres(self.size).to_string(),
        }
    }
    pub fn column(&self) -> String {
        self.storage_key
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub name: String,
    /// `edge.To` (the assoc edge); else `edge.From`.
    pub to: bool,
    pub target: String,
    /// `edge.From(…).Ref("x")`.
    pub reference: Option<String>,
    /// `edge.To(…).From("parent")`: the inverse declared inline (same-type trees).
    pub inline_from: Option<String>,
    pub unique: bool,
    /// Unique-ness of the inline inverse (`….From("parent").Unique()`).
    pub inline_unique: bool,
    pub field: Option<String>,
    pub line: usize,
    pub file: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IndexDef {
    pub fields: Vec<String>,
    pub edges: Vec<String>,
    pub unique: bool,
    pub storage_key: Option<String>,
    pub line: usize,
    pub file: String,
}

/// One Ent type, its mixins' parts included.
#[derive(Clone, Debug, PartialEq)]
pub struct EntType {
    pub name: String,
    pub table: Option<String>,
    pub comment: Option<String>,
    pub with_comments: bool,
    pub fields: Vec<Field>,
    pub edges: Vec<Edge>,
    pub indexes: Vec<IndexDef>,
    pub file: String,
    pub line: usize,
}

impl EntType {
    pub fn table(&self) -> String {
        self.table
            .clone()
            .unwrap_or_else(|| pluralize(&snake(&self.name)))
    }
    fn id(&self) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == "id")
    }
}

fn fail(file: &str, line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        path: file.to_string(),
        line,
        message: message.into(),
    }
}

/// A call chain `pkg.Ctor(args).Mod1(a).Mod2()` flattened: the base call, its arguments and
/// line, and the modifiers with theirs.
type Chain = (String, Vec<E>, usize, Vec<(String, Vec<E>, usize)>);

fn chain(e: &E) -> Option<Chain> {
    let mut mods = Vec::new();
    let mut cur = e;
    loop {
        let K::Call(f, args) = &cur.k else {
            return None;
        };
        let K::Sel(operand, name) = &f.k else {
            return None;
        };
        match &operand.k {
            K::Ident(pkg) => {
                mods.reverse();
                return Some((format!("{pkg}.{name}"), args.clone(), cur.line, mods));
            }
            K::Call(..) => {
                mods.push((name.clone(), args.clone(), cur.line));
                cur = operand;
            }
            _ => return None,
        }
    }
}

struct Ctx<'a> {
    file: &'a str,
    consts: &'a BTreeMap<String, E>,
}

impl Ctx<'_> {
    fn err(&self, line: usize, m: impl Into<String>) -> ParseError {
        fail(self.file, line, m)
    }
    /// A literal value (resolving the package's constants).
    fn literal(&self, e: &E) -> Option<K> {
        match &e.k {
            K::Str(_) | K::Int(_) | K::Float(_) | K::Bool(_) => Some(e.k.clone()),
            K::Neg(i) => match self.literal(i)? {
                K::Int(v) => Some(K::Int(-v)),
                K::Float(v) => Some(K::Float(-v)),
                _ => None,
            },
            K::Ident(n) => self.consts.get(n).map(|c| c.k.clone()),
            _ => None,
        }
    }
    fn string(&self, e: &E, what: &str) -> Result<String, ParseError> {
        match self.literal(e) {
            Some(K::Str(s)) => Ok(s),
            _ => Err(self.err(e.line, format!("{what}: expected a string literal"))),
        }
    }
    fn int(&self, e: &E, what: &str) -> Result<i128, ParseError> {
        match self.literal(e) {
            Some(K::Int(v)) => Ok(v),
            _ => Err(self.err(e.line, format!("{what}: expected an integer literal"))),
        }
    }
}

/// Function defaults Ent evaluates in Go (no column default).
const DEFAULT_FUNCS: [&str; 5] = [
    "time.Now",
    "uuid.New",
    "uuid.NewV4",
    "uuidx.NewUUID",
    "uuid2.NewUUID",
];

fn sql_literal(k: &K, ty: FieldType) -> Option<String> {
    Some(match (k, ty) {
        (K::Bool(b), FieldType::Bool) => b.to_string(),
        (K::Int(v), t) if t.integer() => v.to_string(),
        (K::Int(v), FieldType::Float32 | FieldType::Float64) => v.to_string(),
        (K::Float(v), FieldType::Float32 | FieldType::Float64) => v.to_string(),
        (K::Str(s), FieldType::String | FieldType::Text | FieldType::Enum) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        _ => return None,
    })
}

fn field(cx: &Ctx, e: &E) -> Result<Field, ParseError> {
    let Some((ctor, args, at, mods)) = chain(e) else {
        return Err(cx.err(e.line, "a field must be a `field.X(\"name\")…` call chain"));
    };
    let Some(ty) = ctor.strip_prefix("field.").and_then(FieldType::of) else {
        return Err(cx.err(at, format!("unknown field constructor `{ctor}`")));
    };
    let name = args
        .first()
        .ok_or_else(|| cx.err(at, format!("`{ctor}` without a name")))
        .and_then(|a| cx.string(a, &ctor))?;
    let mut f = Field::plain(name, ty, at, cx.file);
    for (m, a, line) in mods {
        let arg = |i: usize| {
            a.get(i)
                .ok_or_else(|| cx.err(line, format!("`{m}` needs an argument")))
        };
        match m.as_str() {
            "Optional" => f.optional = true,
            "Unique" => f.unique = true,
            "Comment" => f.comment = Some(cx.string(arg(0)?, "Comment")?),
            "StorageKey" => f.storage_key = Some(cx.string(arg(0)?, "StorageKey")?),
            "MaxLen" => f.size = Some(cx.int(arg(0)?, "MaxLen")?),
            "Default" => {
                let v = arg(0)?;
                if let Some(p) = v.path()
                    && DEFAULT_FUNCS.contains(&p.as_str())
                {
                    f.default = None;
                    continue;
                }
                let lit = cx.literal(v).ok_or_else(|| {
                    cx.err(
                        v.line,
                        format!(
                            "field {:?}: cannot evaluate this Default (a literal, a constant of the package or a known function is understood)",
                            f.name
                        ),
                    )
                })?;
                f.default = Some(sql_literal(&lit, ty).ok_or_else(|| {
                    cx.err(
                        v.line,
                        format!("field {:?}: a {lit:?} default for a {ty:?} field", f.name),
                    )
                })?);
            }
            "DefaultFunc" | "UpdateDefault" => {}
            "SchemaType" => {
                let v = arg(0)?;
                let K::Composite(_, kv) = &v.k else {
                    return Err(cx.err(v.line, "SchemaType: expected a map literal"));
                };
                for (k, val) in kv {
                    let key = k
                        .as_ref()
                        .and_then(|k| k.path().or(k.str().map(String::from)));
                    if matches!(key.as_deref(), Some("dialect.Postgres") | Some("postgres")) {
                        f.schema_type = Some(cx.string(val, "SchemaType")?);
                    }
                }
            }
            "Annotations" => {
                for ann in &a {
                    match annotation(cx, ann)? {
                        Annotation::WithComments(b) => f.with_comments = Some(b),
                        Annotation::Ignored => {}
                        other => {
                            return Err(cx.err(
                                ann.line,
                                format!(
                                    "field {:?}: annotation {other:?} is not understood on a field",
                                    f.name
                                ),
                            ));
                        }
                    }
                }
            }
            // Go-side only: validators, Go types, struct tags, immutability, enum values.
            "Nillable" | "Immutable" | "Sensitive" | "NotEmpty" | "MinLen" | "Min" | "Max"
            | "Range" | "Positive" | "Negative" | "NonNegative" | "Match" | "Validate"
            | "StructTag" | "GoType" | "ValueScanner" | "Values" | "NamedValues" | "Deprecated"
            | "StorageKeyPrefix" => {}
            other => {
                return Err(cx.err(
                    line,
                    format!("field {:?}: modifier `{other}` is not understood", f.name),
                ));
            }
        }
    }
    Ok(f)
}

#[derive(Debug, PartialEq)]
enum Annotation {
    Table(String),
    WithComments(bool),
    Comment(String),
    /// Annotations that do not change the schema (API generation, GraphQL…).
    Ignored,
}

fn annotation(cx: &Ctx, e: &E) -> Result<Annotation, ParseError> {
    match &e.k {
        K::Composite(ty, kv) if ty == "entsql.Annotation" => {
            let mut table = None;
            for (k, v) in kv {
                match k.as_ref().and_then(|k| k.path()).as_deref() {
                    Some("Table") => table = Some(cx.string(v, "entsql.Annotation.Table")?),
                    Some(other) => {
                        return Err(cx.err(
                            v.line,
                            format!("entsql.Annotation field `{other}` is not understood"),
                        ));
                    }
                    None => return Err(cx.err(v.line, "entsql.Annotation: keyed fields only")),
                }
            }
            Ok(table.map(Annotation::Table).unwrap_or(Annotation::Ignored))
        }
        K::Call(f, args) => match f.path().as_deref() {
            Some("entsql.WithComments") => match args.first().map(|a| &a.k) {
                Some(K::Bool(b)) => Ok(Annotation::WithComments(*b)),
                _ => Err(cx.err(e.line, "entsql.WithComments: expected true or false")),
            },
            Some("schema.Comment") => Ok(Annotation::Comment(
                args.first()
                    .ok_or_else(|| cx.err(e.line, "schema.Comment needs its text"))
                    .and_then(|a| cx.string(a, "schema.Comment"))?,
            )),
            Some(p)
                if p.starts_with("entgql.")
                    || p.starts_with("entproto.")
                    || p == "field.Annotation" =>
            {
                Ok(Annotation::Ignored)
            }
            Some(p) => Err(cx.err(e.line, format!("annotation `{p}(…)` is not understood"))),
            None => Err(cx.err(e.line, "annotation not understood")),
        },
        _ => Err(cx.err(e.line, "annotation not understood")),
    }
}

fn edge(cx: &Ctx, e: &E) -> Result<Edge, ParseError> {
    let Some((ctor, args, at, mods)) = chain(e) else {
        return Err(cx.err(e.line, "an edge must be an `edge.To/From(…)` call chain"));
    };
    let to = match ctor.as_str() {
        "edge.To" => true,
        "edge.From" => false,
        other => return Err(cx.err(e.line, format!("unknown edge constructor `{other}`"))),
    };
    let name = args
        .first()
        .ok_or_else(|| cx.err(at, "an edge without a name"))
        .and_then(|a| cx.string(a, &ctor))?;
    let target = match args.get(1).map(|a| &a.k) {
        Some(K::Sel(t, n)) if n == "Type" => t.path(),
        _ => None,
    }
    .ok_or_else(|| cx.err(at, format!("edge {name:?}: expected `Target.Type`")))?;
    let mut ed = Edge {
        name,
        to,
        target,
        reference: None,
        inline_from: None,
        unique: false,
        inline_unique: false,
        field: None,
        line: at,
        file: cx.file.to_string(),
    };
    let mut after_from = false;
    for (m, a, line) in mods {
        let arg = |what| {
            a.first()
                .ok_or_else(|| cx.err(line, format!("`{m}` needs an argument")))
                .and_then(|x| cx.string(x, what))
        };
        match m.as_str() {
            "Ref" => ed.reference = Some(arg("Ref")?),
            "From" if to => {
                ed.inline_from = Some(arg("From")?);
                after_from = true;
            }
            "Unique" if after_from => ed.inline_unique = true,
            "Unique" => ed.unique = true,
            "Field" if after_from || !to => ed.field = Some(arg("Field")?),
            "Field" => {
                return Err(cx.err(
                    line,
                    format!(
                        "edge {:?}: Field on an assoc edge holds no foreign key",
                        ed.name
                    ),
                ));
            }
            "Required" | "Immutable" | "Comment" | "StructTag" | "Annotations" => {}
            other => {
                return Err(cx.err(
                    line,
                    format!("edge {:?}: modifier `{other}` is not understood", ed.name),
                ));
            }
        }
    }
    Ok(ed)
}

fn index(cx: &Ctx, e: &E) -> Result<IndexDef, ParseError> {
    let Some((ctor, args, at, mods)) = chain(e) else {
        return Err(cx.err(
            e.line,
            "an index must be an `index.Fields/Edges(…)` call chain",
        ));
    };
    let mut ix = IndexDef {
        fields: Vec::new(),
        edges: Vec::new(),
        unique: false,
        storage_key: None,
        line: at,
        file: cx.file.to_string(),
    };
    let names = |a: &[E], what: &str| -> Result<Vec<String>, ParseError> {
        a.iter().map(|x| cx.string(x, what)).collect()
    };
    match ctor.as_str() {
        "index.Fields" => ix.fields = names(&args, "index.Fields")?,
        "index.Edges" => ix.edges = names(&args, "index.Edges")?,
        other => return Err(cx.err(e.line, format!("unknown index constructor `{other}`"))),
    }
    for (m, a, line) in mods {
        match m.as_str() {
            "Unique" => ix.unique = true,
            "Edges" => ix.edges.extend(names(&a, "Edges")?),
            "Fields" => ix.fields.extend(names(&a, "Fields")?),
            "StorageKey" => {
                ix.storage_key = Some(
                    a.first()
                        .ok_or_else(|| cx.err(line, "StorageKey needs a name"))
                        .and_then(|x| cx.string(x, "StorageKey"))?,
                )
            }
            other => {
                return Err(cx.err(line, format!("index modifier `{other}` is not understood")));
            }
        }
    }
    Ok(ix)
}

fn type_of(
    decl: &TypeDecl,
    file: &GoFile,
    mixins: &BTreeMap<String, (TypeDecl, GoFile)>,
) -> Result<EntType, ParseError> {
    let cx = Ctx {
        file: &file.path,
        consts: &file.consts,
    };
    let mut t = EntType {
        name: decl.name.clone(),
        table: None,
        comment: None,
        with_comments: false,
        fields: Vec::new(),
        edges: Vec::new(),
        indexes: Vec::new(),
        file: file.path.clone(),
        line: decl.line,
    };
    // Mixins first (Ent puts their fields before the schema's own).
    if let Some(m) = decl.methods.get("Mixin") {
        for e in &m.elems {
            let K::Composite(ty, _) = &e.k else {
                return Err(cx.err(e.line, "a mixin must be a `pkg.Mixin{}` literal"));
            };
            let short = ty.rsplit('.').next().unwrap_or(ty);
            let Some((md, mf)) = mixins.get(short) else {
                return Err(cx.err(e.line, format!("mixin `{ty}` is not known (not simple-admin-common's, not in the schema directory)")));
            };
            let part = type_of(md, mf, mixins)?;
            t.fields.extend(part.fields);
            t.edges.extend(part.edges);
            t.indexes.extend(part.indexes);
        }
    }
    if let Some(m) = decl.methods.get("Fields") {
        for e in &m.elems {
            let f = field(&cx, e)?;
            if let Some(i) = t.fields.iter().position(|x| x.name == f.name) {
                // A schema may redeclare the id a mixin gives.
                if f.name != "id" {
                    return Err(cx.err(e.line, format!("field {:?} declared twice", f.name)));
                }
                t.fields[i] = f;
            } else {
                t.fields.push(f);
            }
        }
    }
    if let Some(m) = decl.methods.get("Edges") {
        for e in &m.elems {
            t.edges.push(edge(&cx, e)?);
        }
    }
    if let Some(m) = decl.methods.get("Indexes") {
        for e in &m.elems {
            t.indexes.push(index(&cx, e)?);
        }
    }
    if let Some(m) = decl.methods.get("Annotations") {
        for e in &m.elems {
            match annotation(&cx, e)? {
                Annotation::Table(n) => t.table = Some(n),
                Annotation::WithComments(b) => t.with_comments = b,
                Annotation::Comment(c) => t.comment = Some(c),
                Annotation::Ignored => {}
            }
        }
    }
    Ok(t)
}

/// Every Ent type of the files (mixins resolved: the repository's own, then
/// simple-admin-common's).
pub fn types(files: &[GoFile]) -> Result<Vec<EntType>, ParseError> {
    let common = goparse::parse("simple-admin-common/orm/ent/mixins", COMMON_MIXINS)?;
    let mut mixins: BTreeMap<String, (TypeDecl, GoFile)> = BTreeMap::new();
    for t in common.types.iter().filter(|t| t.mixin) {
        mixins.insert(t.name.clone(), (t.clone(), common.clone()));
    }
    for f in files {
        for t in f.types.iter().filter(|t| t.mixin) {
            mixins.insert(t.name.clone(), (t.clone(), f.clone()));
        }
    }
    let mut out = Vec::new();
    for f in files {
        for d in f.types.iter().filter(|t| !t.mixin) {
            out.push(type_of(d, f, &mixins)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Ent's snake case of a Go name (`DictionaryDetail` → `dictionary_detail`, `UserID` → `user_id`).
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (prev_lower || (next_lower && chars[i - 1].is_uppercase())) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// The plural Ent's default table names use (the common English rules).
pub fn pluralize(word: &str) -> String {
    const IRREGULAR: [(&str, &str); 6] = [
        ("person", "people"),
        ("child", "children"),
        ("man", "men"),
        ("woman", "women"),
        ("mouse", "mice"),
        ("data", "data"),
    ];
    let (head, last) = match word.rfind('_') {
        Some(i) => (&word[..=i], &word[i + 1..]),
        None => ("", word),
    };
    if let Some((_, p)) = IRREGULAR.iter().find(|(s, _)| *s == last) {
        return format!("{head}{p}");
    }
    let vowel = |c: char| "aeiou".contains(c);
    let plural =
        if last.ends_with('y') && !last[..last.len() - 1].ends_with(vowel) && last.len() > 1 {
            format!("{}ies", &last[..last.len() - 1])
        } else if ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|s| last.ends_with(s))
        {
            format!("{last}es")
        } else {
            format!("{last}s")
        };
    format!("{head}{plural}")
}

fn column_of(f: &Field, with_comments: bool) -> Column {
    let ty = f.pg_type();
    let comments = f.with_comments.unwrap_or(with_comments);
    Column {
        name: f.column(),
        ty,
        nullable: f.optional,
        default: f.default.clone(),
        identity: false,
        comment: if comments { f.comment.clone() } else { None },
    }
}

/// The tables Ent creates for these types.
pub fn schema(types: &[EntType]) -> Result<Schema, ParseError> {
    schema_with(types, false)
}

/// A foreign key's name as Ent makes it: `<table>_<referenced table>_<edge>`, at most 63
/// bytes (PostgreSQL's identifier length).
pub fn foreign_key_name(table: &str, ref_table: &str, edge: &str) -> String {
    let mut n = format!("{table}_{ref_table}_{edge}");
    while n.len() > 63 {
        n.pop();
    }
    n
}

/// [`schema`], with foreign-key constraints for the edges when `foreign_keys` (Simple Admin
/// Core migrates without them).
pub fn schema_with(types: &[EntType], foreign_keys: bool) -> Result<Schema, ParseError> {
    let by_name: BTreeMap<&str, &EntType> = types.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    // Each type's foreign keys: (column, referenced type, the owner's edge name).
    let mut fks: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    // Edge columns each type's table gets: (column, referenced type, unique).
    let mut fk_cols: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    // (type, edge name) → the FK column that edge's relation uses.
    let mut edge_cols: BTreeMap<(String, String), String> = BTreeMap::new();
    for t in types {
        for e in &t.edges {
            let Some(target) = by_name.get(e.target.as_str()) else {
                return Err(fail(
                    &e.file,
                    e.line,
                    format!("edge {:?}: unknown type {}", e.name, e.target),
                ));
            };
            if e.to {
                if let Some(inv) = &e.inline_from {
                    // A same-type tree: children To, parent From (unique) holding the FK.
                    if target.name != t.name || e.unique || !e.inline_unique {
                        return Err(fail(
                            &e.file,
                            e.line,
                            format!(
                                "edge {:?}: only a same-type O2M tree (`To(…).From(…).Unique()`) is understood inline",
                                e.name
                            ),
                        ));
                    }
                    let col = e
                        .field
                        .clone()
                        .unwrap_or_else(|| format!("{}_{}", snake(&t.name), snake(&e.name)));
                    edge_cols.insert((t.name.clone(), inv.clone()), col.clone());
                    edge_cols.insert((t.name.clone(), e.name.clone()), col.clone());
                    fks.entry(t.name.clone()).or_default().push((
                        col.clone(),
                        t.name.clone(),
                        e.name.clone(),
                    ));
                    if e.field.is_none() {
                        fk_cols.entry(t.name.clone()).or_default().push((
                            col,
                            t.name.clone(),
                            false,
                        ));
                    }
                    continue;
                }
                // The inverse edge on the target, if any.
                let inverse = target.edges.iter().find(|x| {
                    !x.to && x.target == t.name && x.reference.as_deref() == Some(e.name.as_str())
                });
                let Some(inv) = inverse else {
                    return Err(fail(
                        &e.file,
                        e.line,
                        format!(
                            "edge {:?}: an edge without an inverse (edge.From(…).Ref({:?})) on {} is not understood",
                            e.name, e.name, e.target
                        ),
                    ));
                };
                match (e.unique, inv.unique) {
                    // O2M (To not unique, From unique) or O2O: the FK is on the inverse's table.
                    (false, true) | (true, true) => {
                        let col = inv
                            .field
                            .clone()
                            .unwrap_or_else(|| format!("{}_{}", snake(&t.name), snake(&e.name)));
                        edge_cols.insert((target.name.clone(), inv.name.clone()), col.clone());
                        edge_cols.insert((t.name.clone(), e.name.clone()), col.clone());
                        fks.entry(target.name.clone()).or_default().push((
                            col.clone(),
                            t.name.clone(),
                            e.name.clone(),
                        ));
                        if inv.field.is_none() {
                            fk_cols.entry(target.name.clone()).or_default().push((
                                col,
                                t.name.clone(),
                                e.unique,
                            ));
                        }
                    }
                    _ => {
                        return Err(fail(
                            &e.file,
                            e.line,
                            format!("edge {:?}: many-to-many edges are not understood", e.name),
                        ));
                    }
                }
            } else if e.reference.is_none() {
                return Err(fail(
                    &e.file,
                    e.line,
                    format!("edge {:?}: edge.From without Ref", e.name),
                ));
            }
        }
    }
    for t in types {
        let table_name = t.table();
        let mut table = Table {
            name: table_name.clone(),
            comment: if t.with_comments {
                t.comment.clone()
            } else {
                None
            },
            ..Table::default()
        };
        let id = t
            .id()
            .cloned()
            .unwrap_or_else(|| Field::plain("id".into(), FieldType::Int, t.line, &t.file));
        let mut id_col = column_of(&id, t.with_comments);
        id_col.nullable = false;
        id_col.identity = id.ty.integer() && id.schema_type.is_none() && id.default.is_none();
        table.primary_key = vec![id_col.name.clone()];
        table.columns.push(id_col);
        for f in t.fields.iter().filter(|f| f.name != "id") {
            let c = column_of(f, t.with_comments);
            if f.unique {
                table.indexes.push(Index {
                    name: format!("{table_name}_{}_key", c.name),
                    columns: vec![c.name.clone()],
                    unique: true,
                });
            }
            table.columns.push(c);
        }
        for (col, target, unique) in fk_cols.get(&t.name).into_iter().flatten() {
            let ty = by_name
                .get(target.as_str())
                .and_then(|x| x.id())
                .map(Field::pg_type)
                .unwrap_or_else(|| "bigint".into());
            table.columns.push(Column {
                name: col.clone(),
                ty,
                nullable: true,
                default: None,
                identity: false,
                comment: None,
            });
            if *unique {
                table.indexes.push(Index {
                    name: format!("{table_name}_{col}_key"),
                    columns: vec![col.clone()],
                    unique: true,
                });
            }
        }
        if foreign_keys {
            for (col, target, edge) in fks.get(&t.name).into_iter().flatten() {
                let Some(target) = by_name.get(target.as_str()) else {
                    continue;
                };
                let ref_table = target.table();
                table.foreign_keys.push(ForeignKey {
                    name: foreign_key_name(&table_name, &ref_table, &snake(edge)),
                    column: col.clone(),
                    ref_table,
                    ref_column: target
                        .id()
                        .map(Field::column)
                        .unwrap_or_else(|| "id".into()),
                    on_delete: "SET NULL".into(),
                });
            }
            table.foreign_keys.sort();
        }
        for ix in &t.indexes {
            let mut cols = Vec::new();
            for f in &ix.fields {
                let Some(field) = t.fields.iter().find(|x| &x.name == f) else {
                    return Err(fail(
                        &ix.file,
                        ix.line,
                        format!("index: unknown field {f:?} of {}", t.name),
                    ));
                };
                cols.push(field.column());
            }
            for e in &ix.edges {
                let Some(c) = edge_cols.get(&(t.name.clone(), e.clone())) else {
                    return Err(fail(
                        &ix.file,
                        ix.line,
                        format!("index: edge {e:?} of {} holds no column", t.name),
                    ));
                };
                cols.push(c.clone());
            }
            let name = ix.storage_key.clone().unwrap_or_else(|| {
                let mut parts = vec![t.name.to_lowercase()];
                parts.extend(cols.iter().cloned());
                parts.join("_")
            });
            table.indexes.push(Index {
                name,
                columns: cols,
                unique: ix.unique,
            });
        }
        for c in &table.columns {
            if table.columns.iter().filter(|x| x.name == c.name).count() > 1 {
                return Err(fail(
                    &t.file,
                    t.line,
                    format!("{}: column {:?} twice", t.name, c.name),
                ));
            }
        }
        if tables.insert(table_name.clone(), table).is_some() {
            return Err(fail(
                &t.file,
                t.line,
                format!("table {table_name:?} of {} is another type's too", t.name),
            ));
        }
    }
    Ok(Schema { tables })
}

/// Read `*.go` sources (path, text) into the schema Ent would create.
pub fn schema_of_sources(sources: &[(String, String)]) -> Result<Schema, ParseError> {
    schema_of_sources_with(sources, false)
}

/// [`schema_of_sources`], with foreign keys when `foreign_keys`.
pub fn schema_of_sources_with(
    sources: &[(String, String)],
    foreign_keys: bool,
) -> Result<Schema, ParseError> {
    let files = sources
        .iter()
        .map(|(p, s)| goparse::parse(p, s))
        .collect::<Result<Vec<_>, _>>()?;
    schema_with(&types(&files)?, foreign_keys)
}

#[cfg(test)]
mod tests;
