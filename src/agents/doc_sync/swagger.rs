//! The Swagger 2.0 JSON the repository's own command generates (goctls `api swagger` in Simple
//! Admin Core's `make gen-api`), diffed before and after as a second source: its endpoint and
//! field changes must agree with the `.api` diff, and where they do not, doc-sync says so
//! instead of documenting either.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::api_diff::{BodyField, Change, Level, body_changes, change};

/// Endpoint (`POST /department/create`) → (request definition, response definition).
fn endpoints(doc: &Value) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let base = doc["basePath"].as_str().unwrap_or("").trim_end_matches('/');
    let def = |v: &Value| {
        v["$ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .map(str::to_string)
    };
    let mut out = BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            if !["get", "post", "put", "patch", "delete", "head", "options"]
                .contains(&method.as_str())
            {
                continue;
            }
            let req = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["in"] == "body")
                .and_then(|p| def(&p["schema"]));
            let resp = def(&op["responses"]["200"]["schema"]);
            out.insert(
                format!("{} {base}{path}", method.to_ascii_uppercase()),
                (req, resp),
            );
        }
    }
    out
}

/// A definition's properties: name → (type, required), with `allOf` parts flattened.
fn properties(doc: &Value, name: &str, depth: usize) -> BTreeMap<String, (String, bool)> {
    let d = &doc["definitions"][name];
    let mut out = BTreeMap::new();
    let required: BTreeSet<&str> = d["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (k, v) in d["properties"].as_object().into_iter().flatten() {
        let ty = match (v["type"].as_str(), v["$ref"].as_str()) {
            (Some("array"), _) => format!(
                "array of {}",
                v["items"]["type"]
                    .as_str()
                    .or_else(|| v["items"]["$ref"]
                        .as_str()
                        .and_then(|r| r.rsplit('/').next()))
                    .unwrap_or("?")
            ),
            (Some(t), _) => t.to_string(),
            (None, Some(r)) => r.rsplit('/').next().unwrap_or(r).to_string(),
            _ => "object".into(),
        };
        out.insert(k.clone(), (ty, required.contains(k.as_str())));
    }
    if depth < 8 {
        for part in d["allOf"].as_array().into_iter().flatten() {
            if let Some(r) = part["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                out.extend(properties(doc, r, depth + 1));
            }
        }
    }
    out
}

/// The changes from `old` to `new` Swagger documents, in the `.api` diff's terms.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let (oe, ne) = (endpoints(old), endpoints(new));
    let mut out = Vec::new();
    for k in oe.keys().filter(|k| !ne.contains_key(*k)) {
        out.push(change(
            Level::Breaking,
            "endpoint-removed",
            k.clone(),
            String::new(),
        ));
    }
    for (k, (nreq, nresp)) in &ne {
        let Some((oreq, oresp)) = oe.get(k) else {
            out.push(change(
                Level::Info,
                "endpoint-added",
                k.clone(),
                String::new(),
            ));
            continue;
        };
        for (side, o, n) in [("request", oreq, nreq), ("response", oresp, nresp)] {
            let (Some(o), Some(n)) = (o, n) else {
                continue;
            };
            let body = |doc, name| -> BTreeMap<String, BodyField> {
                properties(doc, name, 0)
                    .into_iter()
                    .map(|(f, (ty, required))| {
                        (
                            f,
                            BodyField {
                                shape: ty.clone(),
                                ty,
                                required,
                            },
                        )
                    })
                    .collect()
            };
            let subject = |f: &str| format!("{k} {side} {n}.{f}");
            out.extend(body_changes(side, &subject, &body(old, o), &body(new, n)));
        }
    }
    out
}

/// Where the two sources disagree: changes one saw and the other did not (by kind and
/// subject; types are named differently in Go and Swagger, so only their change is compared).
pub fn disagreements(api: &[Change], swagger: &[Change]) -> Vec<String> {
    let key = |c: &Change| (c.kind.clone(), c.subject.clone());
    // Authentication and middleware changes have no counterpart in goctls' swagger.
    let a: BTreeSet<(String, String)> = api
        .iter()
        .filter(|c| c.kind != "auth-changed" && c.kind != "middleware-changed")
        .map(key)
        .collect();
    let s: BTreeSet<(String, String)> = swagger.iter().map(key).collect();
    let mut out = Vec::new();
    for (k, subj) in a.difference(&s) {
        out.push(format!(
            "the .api files show {k} {subj}; the swagger does not"
        ));
    }
    for (k, subj) in s.difference(&a) {
        out.push(format!(
            "the swagger shows {k} {subj}; the .api files do not"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::api_diff;
    use super::super::api_file::parse;
    use super::*;
    use serde_json::json;

    fn swagger(extra_prop: bool, with_list: bool) -> Value {
        let mut info = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "code": {"type": "string"}
        }});
        if extra_prop {
            info["properties"]["remark"] = json!({"type": "string"});
        }
        let mut paths = json!({
            "/x/create": {"post": {"parameters": [{"in": "body", "name": "body", "schema": {"$ref": "#/definitions/Info"}}],
                                    "responses": {"200": {"schema": {"$ref": "#/definitions/Resp"}}}}}
        });
        if with_list {
            paths["/x/list"] = json!({"post": {"responses": {"200": {"description": "ok"}}}});
        }
        json!({"swagger": "2.0", "paths": paths, "definitions": {
            "Info": info, "Resp": {"type": "object", "properties": {"msg": {"type": "string"}}}
        }})
    }

    fn api(extra_field: bool, with_list: bool) -> Vec<super::super::api_file::ApiFile> {
        let text = format!(
            "type Info {{\n    Name *string `json:\"name,optional\"`\n    Code *string `json:\"code,optional\"`\n{}}}\ntype Resp {{\n    Msg string `json:\"msg\"`\n}}\nservice Core {{\n    @handler create\n    post /x/create (Info) returns (Resp)\n{}}}\n",
            if extra_field {
                "    Remark *string `json:\"remark,optional\"`\n"
            } else {
                ""
            },
            if with_list {
                "    @handler list\n    post /x/list\n"
            } else {
                ""
            }
        );
        vec![parse("x.api", &text).unwrap()]
    }

    #[test]
    fn the_swagger_diff_agrees_with_the_api_diff_or_says_where_not() {
        let s = diff(&swagger(false, false), &swagger(true, true));
        let kinds: Vec<(&str, &str)> = s
            .iter()
            .map(|c| (c.kind.as_str(), c.subject.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("optional-field-added", "POST /x/create request Info.remark"),
                ("endpoint-added", "POST /x/list"),
            ]
        );
        let a = api_diff::diff(&api(false, false), &api(true, true));
        assert!(
            disagreements(&a, &s).is_empty(),
            "{:?}",
            disagreements(&a, &s)
        );
        // The swagger was not regenerated: the sources disagree, and say how.
        let stale = diff(&swagger(false, false), &swagger(false, false));
        let d = disagreements(&a, &stale);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("the swagger does not"), "{d:?}");
    }
}
