//! The change between two versions of a service's `.api` files, classified the way oasdiff
//! classifies OpenAPI changes: **breaking** (an endpoint removed, a field removed, a field
//! made required, a field's type changed, a required request field added), **potentially
//! breaking** (an endpoint's authentication or middleware changed), or **info** (an endpoint
//! added, an optional field added, a response field added).

use std::collections::BTreeMap;

use serde::Serialize;

use super::api_file::{ApiFile, Field, Route, TypeDef};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Breaking,
    PotentiallyBreaking,
    Info,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub level: Level,
    /// `endpoint-added`, `endpoint-removed`, `field-removed`, `field-required`,
    /// `field-type-changed`, `required-field-added`, `optional-field-added`,
    /// `response-field-added`, `auth-changed`, `middleware-changed`.
    pub kind: String,
    /// `POST /sys/department/create`, or `DepartmentInfo.name` for a field.
    pub subject: String,
    pub detail: String,
}

fn key(r: &Route) -> String {
    format!("{} {}", r.method.to_ascii_uppercase(), r.path)
}

/// Every type of a set of files by name (the later file wins on a duplicate).
fn types(files: &[ApiFile]) -> BTreeMap<&str, &TypeDef> {
    files
        .iter()
        .flat_map(|f| &f.types)
        .map(|t| (t.name.as_str(), t))
        .collect()
}

/// The fields of a type with its embedded types' fields flattened (as the JSON has them),
/// by JSON name (the Go name when there is no json tag).
fn fields<'a>(
    t: &'a TypeDef,
    all: &BTreeMap<&str, &'a TypeDef>,
    depth: usize,
) -> BTreeMap<String, &'a Field> {
    let mut out = BTreeMap::new();
    for f in &t.fields {
        if f.embedded() {
            if depth < 8
                && let Some(e) = all.get(f.ty.trim_start_matches('*'))
            {
                out.extend(fields(e, all, depth + 1));
            }
            continue;
        }
        let name = if f.json.is_empty() {
            f.name.clone()
        } else {
            f.json.clone()
        };
        if name != "-" {
            out.insert(name, f);
        }
    }
    out
}

pub(super) fn change(level: Level, kind: &str, subject: String, detail: String) -> Change {
    Change {
        level,
        kind: kind.into(),
        subject,
        detail,
    }
}

/// A body field as a source describes it: its type as written, the part of it compared (a
/// pointer and its value are the same JSON), and whether a request must carry it.
pub(super) struct BodyField {
    pub ty: String,
    pub shape: String,
    pub required: bool,
}

/// The changes between two versions of one request or response body (`side`), fields by their
/// JSON name; `subject` names a field. The `.api` and Swagger diffs both judge bodies here.
pub(super) fn body_changes(
    side: &str,
    subject: &dyn Fn(&str) -> String,
    old: &BTreeMap<String, BodyField>,
    new: &BTreeMap<String, BodyField>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, f) in old {
        let Some(g) = new.get(name) else {
            out.push(change(
                Level::Breaking,
                "field-removed",
                subject(name),
                f.ty.clone(),
            ));
            continue;
        };
        if f.shape != g.shape {
            out.push(change(
                Level::Breaking,
                "field-type-changed",
                subject(name),
                format!("{} → {}", f.ty, g.ty),
            ));
        }
        if side == "request" && !f.required && g.required {
            out.push(change(
                Level::Breaking,
                "field-required",
                subject(name),
                "optional → required".into(),
            ));
        }
    }
    for (name, g) in new.iter().filter(|(n, _)| !old.contains_key(*n)) {
        let (level, kind) = match (side, g.required) {
            ("request", true) => (Level::Breaking, "required-field-added"),
            ("request", false) => (Level::Info, "optional-field-added"),
            _ => (Level::Info, "response-field-added"),
        };
        out.push(change(level, kind, subject(name), g.ty.clone()));
    }
    out
}

/// What changed from `old` to `new` (the files of each version).
pub fn diff(old: &[ApiFile], new: &[ApiFile]) -> Vec<Change> {
    let (ot, nt) = (types(old), types(new));
    let routes = |fs: &[ApiFile]| -> BTreeMap<String, Route> {
        fs.iter()
            .flat_map(|f| &f.routes)
            .map(|r| (key(r), r.clone()))
            .collect()
    };
    let (or, nr) = (routes(old), routes(new));
    let mut out = Vec::new();
    for (k, r) in &or {
        if !nr.contains_key(k) {
            out.push(change(
                Level::Breaking,
                "endpoint-removed",
                k.clone(),
                format!("handler {}", r.handler),
            ));
        }
    }
    for (k, r) in &nr {
        let Some(o) = or.get(k) else {
            out.push(change(
                Level::Info,
                "endpoint-added",
                k.clone(),
                format!("handler {}", r.handler),
            ));
            continue;
        };
        if o.jwt != r.jwt {
            out.push(change(
                Level::PotentiallyBreaking,
                "auth-changed",
                k.clone(),
                format!("jwt {} → {}", o.jwt, r.jwt),
            ));
        }
        if o.middleware != r.middleware {
            out.push(change(
                Level::PotentiallyBreaking,
                "middleware-changed",
                k.clone(),
                format!("{} → {}", o.middleware.join(","), r.middleware.join(",")),
            ));
        }
        // The request and response bodies, field by field.
        for (side, ot_name, nt_name) in [
            ("request", &o.request, &r.request),
            ("response", &o.response, &r.response),
        ] {
            let (Some(on), Some(nn)) = (ot_name, nt_name) else {
                continue;
            };
            let (Some(otd), Some(ntd)) = (ot.get(on.as_str()), nt.get(nn.as_str())) else {
                continue;
            };
            let body = |t, all| -> BTreeMap<String, BodyField> {
                fields(t, all, 0)
                    .into_iter()
                    .map(|(n, f)| {
                        let shape = f.ty.trim_start_matches('*').to_string();
                        (
                            n,
                            BodyField {
                                ty: f.ty.clone(),
                                shape,
                                required: !f.optional,
                            },
                        )
                    })
                    .collect()
            };
            let subject = |f: &str| format!("{k} {side} {nn}.{f}");
            out.extend(body_changes(
                side,
                &subject,
                &body(otd, &ot),
                &body(ntd, &nt),
            ));
        }
    }
    out.sort_by(|a, b| (a.level, &a.subject, &a.kind).cmp(&(b.level, &b.subject, &b.kind)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::super::api_file::parse;
    use super::*;

    const BASE: &str = "type BaseIDInfo {\n    Id *uint64 `json:\"id,optional\"`\n}\n";

    fn api(body: &str) -> Vec<ApiFile> {
        vec![
            parse("base.api", BASE).unwrap(),
            parse("x.api", body).unwrap(),
        ]
    }

    #[test]
    fn changes_are_classified_like_oasdiff() {
        let old = api(r#"
type Info {
    BaseIDInfo
    Name *string `json:"name,optional"`
    Code *string `json:"code,optional"`
    Level *uint32 `json:"level,optional"`
}
type Resp {
    Msg string `json:"msg"`
}
@server(
    jwt: Auth
    group: x
)
service Core {
    @handler create
    post /x/create (Info) returns (Resp)
    @handler remove
    post /x/delete (Info) returns (Resp)
}
"#);
        let new = api(r#"
type Info {
    BaseIDInfo
    Name string `json:"name"`
    Level *string `json:"level,optional"`
    Remark *string `json:"remark,optional"`
    Owner string `json:"owner"`
}
type Resp {
    Msg string `json:"msg"`
    Code int `json:"code"`
}
@server(
    group: x
)
service Core {
    @handler create
    post /x/create (Info) returns (Resp)
    @handler list
    post /x/list (Info) returns (Resp)
}
"#);
        let got: Vec<(Level, String, String)> = diff(&old, &new)
            .into_iter()
            .map(|c| (c.level, c.kind, c.subject))
            .collect();
        let want: Vec<(Level, String, String)> = [
            (
                Level::Breaking,
                "field-removed",
                "POST /x/create request Info.code".to_string(),
            ),
            (
                Level::Breaking,
                "field-required",
                "POST /x/create request Info.name".to_string(),
            ),
            (
                Level::Breaking,
                "field-type-changed",
                "POST /x/create request Info.level".to_string(),
            ),
            (
                Level::Breaking,
                "required-field-added",
                "POST /x/create request Info.owner".to_string(),
            ),
            (
                Level::Breaking,
                "endpoint-removed",
                "POST /x/delete".to_string(),
            ),
            (
                Level::PotentiallyBreaking,
                "auth-changed",
                "POST /x/create".to_string(),
            ),
            (
                Level::Info,
                "optional-field-added",
                "POST /x/create request Info.remark".to_string(),
            ),
            (
                Level::Info,
                "response-field-added",
                "POST /x/create response Resp.code".to_string(),
            ),
            (Level::Info, "endpoint-added", "POST /x/list".to_string()),
        ]
        .into_iter()
        .map(|(l, k, s)| (l, k.to_string(), s))
        .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "{got:#?}");
        // The embedded BaseIDInfo's id is compared too, unchanged: no change for it.
        assert!(!got.iter().any(|(_, _, s)| s.ends_with(".id")));
        assert!(diff(&old, &old).is_empty());
    }
}
