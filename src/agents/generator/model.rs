//! The module the generator renders, derived (purely) from the job's parameters: the naming
//! rules of Simple Admin Core (Go/proto type, snake file name, lower-case group, routes,
//! lowerCamel JSON), mixins in place of the fields they provide, and every field's type in
//! Ent, proto and the go-zero `.api` language.

use serde::Serialize;

use crate::api::{EdgeType, EntityField, FieldType, GeneratorParams, Mixin};

/// `DictionaryDetail` → `dictionary_detail`.
pub fn snake(pascal: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = pascal.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// Ent's and Go's initialisms: a snake-case part equal to one of these is written in capitals.
const INITIALISMS: &[&str] = &[
    "api", "ascii", "cpu", "css", "dns", "html", "http", "https", "id", "ip", "json", "sql", "ssh",
    "tcp", "tls", "ttl", "udp", "ui", "uid", "uri", "url", "uuid", "xml",
];

/// `parent_id` → `ParentID` (Ent's Go names: setters `SetParentID`, predicates `ParentIDEQ`).
pub fn ent_pascal(snake: &str) -> String {
    snake
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if INITIALISMS.contains(&p) {
                p.to_ascii_uppercase()
            } else {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// `parent_id` → `ParentId` (protoc-gen-go's and goctl's Go names).
pub fn proto_pascal(snake: &str) -> String {
    snake
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `parent_id` → `parentId` (JSON in the `.api` types).
pub fn lower_camel(snake: &str) -> String {
    let p = proto_pascal(snake);
    let mut c = p.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// A naive English plural for table names (`category` → `categories`).
pub fn plural(s: &str) -> String {
    if let Some(stem) = s.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if s.ends_with('s') || s.ends_with('x') || s.ends_with("ch") || s.ends_with("sh") {
        return format!("{s}es");
    }
    format!("{s}s")
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Field {
    /// snake_case (Ent, proto, database column).
    pub name: String,
    /// Ent's Go name (`ParentID`).
    pub ent_go: String,
    /// protoc-gen-go's and goctl's Go name (`ParentId`).
    pub proto_go: String,
    /// JSON name in the API (`parentId`).
    pub json: String,
    /// Ent field constructor (`String`, `Uint64`, `Time`, `UUID` …).
    pub ent_type: String,
    pub proto_type: String,
    pub api_type: String,
    pub optional: bool,
    pub unique: bool,
    pub default: Option<String>,
    pub comment: String,
    pub validation: Option<String>,
    /// A filter of the list request.
    pub filter: bool,
    /// The Ent predicate suffix of the filter (`Contains` for strings, `EQ` otherwise).
    pub filter_op: String,
    /// The predicate's argument (from the request `in`: `*in.Name`, `uint8(*in.Status)`).
    pub filter_arg: String,
    /// Set from the request on create and update (a tenant or creator comes from the
    /// context, not the request).
    pub settable: bool,
    /// The Ent setter's argument in the RPC logic (from the request `in`).
    pub set_arg: String,
    /// The proto value in the RPC logic (from the Ent row `v`).
    pub get_value: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Edge {
    pub name: String,
    pub to: bool,
    pub target: String,
    pub inverse: Option<String>,
    pub field: Option<String>,
    pub unique: bool,
    pub required: bool,
}

/// Everything the templates need.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Module {
    /// `DictionaryDetail`
    pub name: String,
    /// `dictionary_detail` (files, routes)
    pub snake: String,
    /// `dictionarydetail` (logic/handler group folder)
    pub group: String,
    /// `dictionaryDetail`
    pub camel: String,
    pub table: String,
    pub en: String,
    pub zh: String,
    /// `uuid` or `uint64`
    pub id_type: String,
    /// Go mixin types, in order (`mixins.IDMixin{}` …).
    pub mixins: Vec<String>,
    pub status: bool,
    pub sort: bool,
    /// The fields the mixins give (after id and the times), in mixin order: they appear in
    /// every message and type where Simple Admin Core puts them.
    pub mixin_fields: Vec<Field>,
    pub fields: Vec<Field>,
    /// The list request's filters: own fields first, then the mixins'.
    pub filters: Vec<Field>,
    /// The `.api` Info type carries `Trans` (translated names).
    pub translated: bool,
    pub edges: Vec<Edge>,
}

impl Module {
    pub fn uuid(&self) -> bool {
        self.id_type == "uuid"
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("generator: field {0:?} appears twice")]
    DuplicateField(String),
    #[error("generator: the entity has no fields (give fields, or a description for the LLM)")]
    NoFields,
    #[error("generator: edge {edge:?} is bound to field {field:?}, which the entity does not have")]
    EdgeField { edge: String, field: String },
    #[error(
        "generator: listFilters names {0:?}, which is neither a field of the entity nor of its mixins"
    )]
    UnknownFilter(String),
    #[error(
        "generator: listFilters names {0:?}, a time field; filters are strings, numbers, bools and UUIDs"
    )]
    TimeFilter(String),
}

fn types(t: FieldType) -> (&'static str, &'static str, &'static str, &'static str) {
    // (Ent constructor, proto type, .api type, conversion)
    match t {
        FieldType::String | FieldType::Text => ("String", "string", "string", ""),
        FieldType::Bool => ("Bool", "bool", "bool", ""),
        // Go's int has no proto counterpart: stored as int64.
        FieldType::Int => ("Int64", "int64", "int64", ""),
        FieldType::Int32 => ("Int32", "int32", "int32", ""),
        FieldType::Int64 => ("Int64", "int64", "int64", ""),
        FieldType::Uint8 => ("Uint8", "uint32", "uint32", "uint8"),
        FieldType::Uint32 => ("Uint32", "uint32", "uint32", ""),
        FieldType::Uint64 => ("Uint64", "uint64", "uint64", ""),
        FieldType::Float => ("Float", "double", "float64", ""),
        FieldType::Time => ("Time", "int64", "int64", "time"),
        FieldType::Uuid => ("UUID", "string", "string", "uuid"),
    }
}

fn field(f: &EntityField) -> Field {
    let (ent_type, proto_type, api_type, convert) = types(f.type_);
    Field {
        name: f.name.clone(),
        ent_go: ent_pascal(&f.name),
        proto_go: proto_pascal(&f.name),
        json: lower_camel(&f.name),
        ent_type: if f.type_ == FieldType::Text {
            "Text".into()
        } else {
            ent_type.into()
        },
        proto_type: proto_type.into(),
        api_type: api_type.into(),
        optional: f.optional,
        unique: f.unique,
        default: f.default.clone(),
        comment: f
            .comment
            .clone()
            .unwrap_or_else(|| format!("{} | {}", proto_pascal(&f.name), f.name)),
        validation: f.validation.clone(),
        filter: false,
        filter_op: if matches!(f.type_, FieldType::String | FieldType::Text) {
            "Contains".into()
        } else {
            "EQ".into()
        },
        filter_arg: match convert {
            "uuid" => format!("uuidx.ParseUUIDString(*in.{})", proto_pascal(&f.name)),
            "uint8" => format!("uint8(*in.{})", proto_pascal(&f.name)),
            _ => format!("*in.{}", proto_pascal(&f.name)),
        },
        settable: true,
        set_arg: match convert {
            "time" => format!("pointy.GetTimeMilliPointer(in.{})", proto_pascal(&f.name)),
            "uuid" => format!(
                "uuidx.ParseUUIDStringToPointer(in.{})",
                proto_pascal(&f.name)
            ),
            "uint8" => format!("pointy.GetStatusPointer(in.{})", proto_pascal(&f.name)),
            _ => format!("in.{}", proto_pascal(&f.name)),
        },
        get_value: match convert {
            "time" => format!("pointy.GetPointer(v.{}.UnixMilli())", ent_pascal(&f.name)),
            "uuid" => format!("pointy.GetPointer(v.{}.String())", ent_pascal(&f.name)),
            "uint8" => format!("pointy.GetPointer(uint32(v.{}))", ent_pascal(&f.name)),
            _ => format!("pointy.GetPointer(v.{})", ent_pascal(&f.name)),
        },
    }
}

/// The field a mixin gives (none for the id mixins, whose fields every module has).
fn mixin_field(m: Mixin) -> Option<Field> {
    let (name, t, comment, validation) = match m {
        Mixin::Id | Mixin::Uuid => return None,
        Mixin::Status => (
            "status",
            FieldType::Uint8,
            "Status | 状态",
            Some("omitempty,lt=20"),
        ),
        Mixin::State => (
            "state",
            FieldType::Bool,
            "State true: normal false: ban | 状态 true 正常 false 禁用",
            None,
        ),
        Mixin::Sort => ("sort", FieldType::Uint32, "Sort | 排序", None),
        Mixin::Remark => (
            "remark",
            FieldType::String,
            "Remark | 备注",
            Some("omitempty,max=200"),
        ),
        Mixin::Tenant => ("tenant_id", FieldType::Uint64, "Tenant ID | 租户 ID", None),
        Mixin::CreatedBy => (
            "created_by",
            FieldType::Uint64,
            "Creator ID | 创建者 ID",
            None,
        ),
    };
    let mut f = field(&EntityField {
        name: name.into(),
        type_: t,
        optional: true,
        unique: false,
        default: None,
        comment: Some(comment.into()),
        validation: validation.map(str::to_string),
    });
    // The tenant and the creator come from the caller's context (Ent hooks), never from the
    // request; they are shown, not set.
    f.settable = !matches!(m, Mixin::Tenant | Mixin::CreatedBy);
    if m == Mixin::Sort {
        // SortMixin's setter takes the request's pointer as it is.
        f.set_arg = "in.Sort".into();
    }
    Some(f)
}

/// Build the module from the job's parameters. Fields that a mixin provides (`id`,
/// `created_at`, `updated_at`, `status`, `sort`) become that mixin, never a duplicate field.
pub fn module(p: &GeneratorParams, fields: &[EntityField]) -> Result<Module, ModelError> {
    let mut mixins: Vec<Mixin> = if p.mixins.is_empty() {
        vec![Mixin::Id, Mixin::Status]
    } else {
        p.mixins.clone()
    };
    let mut own = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in fields {
        if !seen.insert(f.name.clone()) {
            return Err(ModelError::DuplicateField(f.name.clone()));
        }
        let provided_by = match f.name.as_str() {
            "id" | "created_at" | "updated_at" => Some(if f.type_ == FieldType::Uuid {
                Mixin::Uuid
            } else {
                Mixin::Id
            }),
            "status" => Some(Mixin::Status),
            "state" => Some(Mixin::State),
            "sort" => Some(Mixin::Sort),
            "remark" if mixins.contains(&Mixin::Remark) => Some(Mixin::Remark),
            "tenant_id" if mixins.contains(&Mixin::Tenant) => Some(Mixin::Tenant),
            "created_by" if mixins.contains(&Mixin::CreatedBy) => Some(Mixin::CreatedBy),
            _ => None,
        };
        match provided_by {
            // A UUID id replaces the default ID mixin.
            Some(Mixin::Uuid) => {
                mixins.retain(|x| *x != Mixin::Id);
                if !mixins.contains(&Mixin::Uuid) {
                    mixins.push(Mixin::Uuid);
                }
            }
            Some(Mixin::Id) if mixins.contains(&Mixin::Uuid) => {}
            Some(m) => {
                if !mixins.contains(&m) {
                    mixins.push(m);
                }
            }
            None => own.push(field(f)),
        }
    }
    if own.is_empty() {
        return Err(ModelError::NoFields);
    }
    // An id mixin always comes first; UUID replaces ID.
    if !mixins.iter().any(|m| matches!(m, Mixin::Id | Mixin::Uuid)) {
        mixins.insert(0, Mixin::Id);
    }
    mixins.sort_by_key(|m| match m {
        Mixin::Id | Mixin::Uuid => 0,
        Mixin::Status => 1,
        Mixin::State => 2,
        Mixin::Sort => 3,
        _ => 4,
    });
    mixins.dedup();
    let uuid = mixins.contains(&Mixin::Uuid);
    let edges = p
        .edges
        .iter()
        .map(|e| Edge {
            name: e.name.clone(),
            to: e.type_ == EdgeType::To,
            target: e.target.clone(),
            inverse: e.inverse.clone(),
            field: e.field.clone(),
            unique: e.unique,
            required: e.required,
        })
        .collect::<Vec<_>>();
    for e in &edges {
        if let Some(f) = &e.field
            && !own.iter().any(|x| &x.name == f)
        {
            return Err(ModelError::EdgeField {
                edge: e.name.clone(),
                field: f.clone(),
            });
        }
    }
    let mixin_fields: Vec<Field> = mixins.iter().filter_map(|m| mixin_field(*m)).collect();
    // The list request's filters: as asked, else the required strings and status/state.
    let wanted: Vec<String> = match &p.list_filters {
        Some(names) => names.clone(),
        None => own
            .iter()
            .filter(|f| f.filter_op == "Contains" && !f.optional)
            .map(|f| f.name.clone())
            .chain(
                mixin_fields
                    .iter()
                    .filter(|f| f.name == "status" || f.name == "state")
                    .map(|f| f.name.clone()),
            )
            .collect(),
    };
    for w in &wanted {
        let Some(f) = own.iter().chain(&mixin_fields).find(|f| &f.name == w) else {
            return Err(ModelError::UnknownFilter(w.clone()));
        };
        if f.ent_type == "Time" {
            return Err(ModelError::TimeFilter(w.clone()));
        }
    }
    for f in own.iter_mut() {
        f.filter = wanted.contains(&f.name);
    }
    let mut mixin_fields = mixin_fields;
    for f in mixin_fields.iter_mut() {
        f.filter = wanted.contains(&f.name);
    }
    let filters: Vec<Field> = own
        .iter()
        .chain(&mixin_fields)
        .filter(|f| f.filter)
        .cloned()
        .collect();
    let name = p.entity.clone();
    let sn = snake(&name);
    let i18n = p.i18n.clone().unwrap_or_default();
    Ok(Module {
        mixin_fields,
        filters,
        translated: p.translated,
        camel: lower_camel(&sn),
        group: p.group.clone().unwrap_or_else(|| name.to_ascii_lowercase()),
        table: p
            .table_name
            .clone()
            .unwrap_or_else(|| format!("sys_{}", plural(&sn))),
        en: i18n.en.unwrap_or_else(|| sn.replace('_', " ")),
        zh: i18n.zh.unwrap_or_else(|| name.clone()),
        id_type: if uuid { "uuid".into() } else { "uint64".into() },
        status: mixins.contains(&Mixin::Status),
        sort: mixins.contains(&Mixin::Sort),
        mixins: mixins
            .iter()
            .map(|m| {
                match m {
                    Mixin::Id => "IDMixin",
                    Mixin::Uuid => "UUIDMixin",
                    Mixin::Status => "StatusMixin",
                    Mixin::State => "StateMixin",
                    Mixin::Sort => "SortMixin",
                    Mixin::Remark => "RemarkMixin",
                    Mixin::Tenant => "TenantMixin",
                    Mixin::CreatedBy => "CreatedByMixin",
                }
                .to_string()
            })
            .collect(),
        fields: own,
        edges,
        snake: sn,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_rules() {
        assert_eq!(snake("Department"), "department");
        assert_eq!(snake("DictionaryDetail"), "dictionary_detail");
        assert_eq!(snake("OauthProvider"), "oauth_provider");
        assert_eq!(snake("APIKey"), "api_key");
        assert_eq!(snake("Api2Key"), "api2_key");
        assert_eq!(ent_pascal("parent_id"), "ParentID");
        assert_eq!(ent_pascal("callback_url"), "CallbackURL");
        assert_eq!(proto_pascal("parent_id"), "ParentId");
        assert_eq!(lower_camel("parent_id"), "parentId");
        assert_eq!(lower_camel("dictionary_detail"), "dictionaryDetail");
        assert_eq!(plural("category"), "categories");
        assert_eq!(plural("key"), "keys");
        assert_eq!(plural("address"), "addresses");
        assert_eq!(plural("department"), "departments");
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

    #[test]
    fn fields_a_mixin_provides_become_the_mixin() {
        // The plan's "name, parent_id, sort, remark": SortMixin plus three fields.
        let p = GeneratorParams {
            entity: "Department".into(),
            ..Default::default()
        };
        let fields = [
            f("name", FieldType::String),
            f("parent_id", FieldType::Uint64),
            f("sort", FieldType::Uint32),
            f("remark", FieldType::String),
            f("created_at", FieldType::Time),
        ];
        let m = module(&p, &fields).unwrap();
        assert_eq!(m.mixins, vec!["IDMixin", "StatusMixin", "SortMixin"]);
        assert_eq!(
            m.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            vec!["name", "parent_id", "remark"]
        );
        assert_eq!(
            (m.table.as_str(), m.group.as_str()),
            ("sys_departments", "department")
        );

        let u = module(
            &GeneratorParams {
                entity: "ApiToken".into(),
                ..Default::default()
            },
            &[f("id", FieldType::Uuid), f("token", FieldType::String)],
        )
        .unwrap();
        assert_eq!(u.mixins, vec!["UUIDMixin", "StatusMixin"]);
        assert!(u.uuid());
        assert_eq!(
            module(&p, &[f("a", FieldType::Bool), f("a", FieldType::Bool)]),
            Err(ModelError::DuplicateField("a".into()))
        );
        assert_eq!(
            module(&p, &[f("id", FieldType::Uint64)]),
            Err(ModelError::NoFields)
        );
    }

    #[test]
    fn mixin_fields_and_list_filters() {
        let p = GeneratorParams {
            entity: "Configuration".into(),
            mixins: vec![Mixin::Id, Mixin::Sort, Mixin::State, Mixin::Tenant],
            ..Default::default()
        };
        let opt = |n: &str| EntityField {
            optional: true,
            ..f(n, FieldType::String)
        };
        let m = module(&p, &[f("name", FieldType::String), opt("remark")]).unwrap();
        let names = |v: &[Field]| v.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&m.mixin_fields), vec!["state", "sort", "tenant_id"]);
        // Default filters: required strings, then status/state.
        assert_eq!(names(&m.filters), vec!["name", "state"]);
        assert!(
            !m.mixin_fields[2].settable,
            "the tenant comes from the context"
        );
        let chosen = GeneratorParams {
            list_filters: Some(vec!["remark".into(), "sort".into()]),
            ..p.clone()
        };
        let m = module(&chosen, &[f("name", FieldType::String), opt("remark")]).unwrap();
        assert_eq!(names(&m.filters), vec!["remark", "sort"]);
        assert_eq!(m.filters[1].filter_op, "EQ");
        let bad = GeneratorParams {
            list_filters: Some(vec!["colour".into()]),
            ..p.clone()
        };
        assert_eq!(
            module(&bad, &[f("name", FieldType::String)]),
            Err(ModelError::UnknownFilter("colour".into()))
        );
        let time = GeneratorParams {
            list_filters: Some(vec!["due".into()]),
            ..p
        };
        assert_eq!(
            module(&time, &[f("due", FieldType::Time)]),
            Err(ModelError::TimeFilter("due".into()))
        );
    }
}
