//! go-zero's `.api` language, parsed: `syntax`, `info(...)`, `import` lines and groups, `type`
//! declarations (single and grouped `type ( … )`, with embedded types, pointer/slice/map
//! field types and struct tags — `json:"name,optional"`), `@server(...)` blocks (group,
//! prefix, middleware, jwt …) and the `service` blocks that follow them, with `@doc`,
//! `@handler` and routes (`post /path (Req) returns (Resp)`). Comments (`//` and `/* */`) are
//! kept as the doc of what follows. Anything not understood is an error naming file and line.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Empty for an embedded type.
    pub name: String,
    /// `string`, `*string`, `[]DepartmentInfo`, `map[string]int64` …
    pub ty: String,
    /// The `json` tag's name (`-` ignored; empty: none).
    pub json: String,
    /// `,optional` in the json tag.
    pub optional: bool,
    pub tag: String,
    pub comment: String,
    pub line: usize,
}

impl Field {
    pub fn embedded(&self) -> bool {
        self.name.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeDef {
    pub name: String,
    pub fields: Vec<Field>,
    pub comment: String,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Lower case (`post`).
    pub method: String,
    /// With the server block's prefix.
    pub path: String,
    pub request: Option<String>,
    pub response: Option<String>,
    pub handler: String,
    pub doc: String,
    pub group: Option<String>,
    pub jwt: bool,
    pub middleware: Vec<String>,
    pub line: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApiFile {
    pub imports: Vec<String>,
    pub info: BTreeMap<String, String>,
    pub types: Vec<TypeDef>,
    /// Service name → routes.
    pub routes: Vec<Route>,
    pub services: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {message}")]
pub struct ApiError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A line with its number, comments taken out (their text kept apart).
struct Line {
    n: usize,
    code: String,
    comment: String,
}

fn lines(src: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (i, raw) in src.lines().enumerate() {
        let mut code = String::new();
        let mut comment = String::new();
        let mut rest = raw;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(e) => {
                        comment.push_str(rest[..e].trim());
                        rest = &rest[e + 2..];
                        in_block = false;
                    }
                    None => {
                        comment.push_str(rest.trim());
                        break;
                    }
                }
            }
            // A `//` or `/*` outside a backquoted tag or a string.
            let mut cut = None;
            let mut quote: Option<char> = None;
            let b = rest.as_bytes();
            for (j, c) in rest.char_indices() {
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == '`' || c == '"' => quote = Some(c),
                    None if c == '/' && b.get(j + 1) == Some(&b'/') => {
                        cut = Some((j, false));
                        break;
                    }
                    None if c == '/' && b.get(j + 1) == Some(&b'*') => {
                        cut = Some((j, true));
                        break;
                    }
                    None => {}
                }
            }
            match cut {
                None => {
                    code.push_str(rest);
                    break;
                }
                Some((j, false)) => {
                    code.push_str(&rest[..j]);
                    comment.push_str(rest[j + 2..].trim());
                    break;
                }
                Some((j, true)) => {
                    code.push_str(&rest[..j]);
                    rest = &rest[j + 2..];
                    in_block = true;
                }
            }
        }
        out.push(Line {
            n: i + 1,
            code: code.trim().to_string(),
            comment,
        });
    }
    out
}

/// `json:"name,optional" validate:"…"` → (json name, optional).
fn json_tag(tag: &str) -> (String, bool) {
    let Some(i) = tag.find("json:\"") else {
        return (String::new(), false);
    };
    let rest = &tag[i + 6..];
    let v = &rest[..rest.find('"').unwrap_or(rest.len())];
    let mut parts = v.split(',');
    let name = parts.next().unwrap_or_default().to_string();
    let optional = parts.any(|p| p.trim() == "optional" || p.trim() == "omitempty");
    (name, optional)
}

fn ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Parse one `.api` file.
pub fn parse(file: &str, src: &str) -> Result<ApiFile, ApiError> {
    let err = |line: usize, message: String| ApiError {
        file: file.into(),
        line,
        message,
    };
    let ls = lines(src);
    let mut out = ApiFile::default();
    let mut i = 0;
    let mut doc = String::new();
    let mut server: BTreeMap<String, String> = BTreeMap::new();
    while i < ls.len() {
        let l = &ls[i];
        if l.code.is_empty() {
            if l.comment.is_empty() {
                doc.clear();
            } else {
                if !doc.is_empty() {
                    doc.push(' ');
                }
                doc.push_str(&l.comment);
            }
            i += 1;
            continue;
        }
        let code = l.code.as_str();
        if code.starts_with("syntax") {
            i += 1;
        } else if let Some(rest) = code.strip_prefix("import") {
            let rest = rest.trim();
            if rest == "(" {
                i += 1;
                while i < ls.len() && ls[i].code != ")" {
                    if !ls[i].code.is_empty() {
                        out.imports.push(ls[i].code.trim_matches('"').to_string());
                    }
                    i += 1;
                }
                if i >= ls.len() {
                    return Err(err(l.n, "an import group without its closing )".into()));
                }
            } else {
                out.imports.push(rest.trim_matches('"').to_string());
            }
            i += 1;
        } else if code.starts_with("info") || code.starts_with("@server") {
            let is_server = code.starts_with("@server");
            let start = l.n;
            let mut kv = BTreeMap::new();
            let inner = code
                .split_once('(')
                .map(|(_, r)| r.to_string())
                .ok_or_else(|| err(start, format!("{code:?}: expected (")))?;
            let mut body: Vec<(usize, String)> = vec![(start, inner)];
            if !body[0].1.contains(')') {
                i += 1;
                while i < ls.len() && !ls[i].code.starts_with(')') {
                    body.push((ls[i].n, ls[i].code.clone()));
                    i += 1;
                }
                if i >= ls.len() {
                    return Err(err(start, "a block without its closing )".into()));
                }
            }
            for (n, b) in body {
                let b = b.trim_end_matches(')').trim();
                if b.is_empty() {
                    continue;
                }
                let (k, v) = b
                    .split_once(':')
                    .ok_or_else(|| err(n, format!("{b:?}: expected key: value")))?;
                kv.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
            }
            if is_server {
                server = kv;
            } else {
                out.info = kv;
            }
            doc.clear();
            i += 1;
        } else if let Some(rest) = code.strip_prefix("type") {
            let rest = rest.trim();
            if rest == "(" {
                i += 1;
                let mut tdoc = String::new();
                while i < ls.len() && ls[i].code != ")" {
                    let t = &ls[i];
                    if t.code.is_empty() {
                        tdoc = t.comment.clone();
                        i += 1;
                        continue;
                    }
                    let (td, next) = type_body(file, &ls, i, &t.code, &tdoc)?;
                    out.types.push(td);
                    tdoc.clear();
                    i = next;
                }
                if i >= ls.len() {
                    return Err(err(l.n, "a type group without its closing )".into()));
                }
                i += 1;
            } else {
                let (td, next) = type_body(file, &ls, i, rest, &doc)?;
                out.types.push(td);
                i = next;
            }
            doc.clear();
        } else if let Some(rest) = code.strip_prefix("service") {
            let name = rest.trim().trim_end_matches('{').trim().to_string();
            if !ident(&name.replace('-', "_")) {
                return Err(err(
                    l.n,
                    format!("service {name:?}: expected a name and {{"),
                ));
            }
            out.services.push(name.clone());
            let group = server.get("group").cloned();
            let prefix = server.get("prefix").cloned().unwrap_or_default();
            let jwt = server.contains_key("jwt");
            let middleware: Vec<String> = server
                .get("middleware")
                .map(|m| m.split(',').map(|x| x.trim().to_string()).collect())
                .unwrap_or_default();
            i += 1;
            let (mut handler, mut rdoc) = (String::new(), String::new());
            while i < ls.len() && ls[i].code != "}" {
                let r = &ls[i];
                if r.code.is_empty() {
                    if !r.comment.is_empty() {
                        rdoc = r.comment.clone();
                    }
                } else if let Some(h) = r.code.strip_prefix("@handler") {
                    handler = h.trim().to_string();
                } else if let Some(d) = r.code.strip_prefix("@doc") {
                    rdoc = d
                        .trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .trim()
                        .trim_matches('"')
                        .to_string();
                } else {
                    let route = route(&r.code).ok_or_else(|| {
                        err(
                            r.n,
                            format!("{:?}: expected `method /path (Req) returns (Resp)`", r.code),
                        )
                    })?;
                    if handler.is_empty() {
                        return Err(err(r.n, format!("{}: a route without @handler", r.code)));
                    }
                    out.routes.push(Route {
                        method: route.0,
                        path: format!("{}{}", prefix.trim_end_matches('/'), route.1),
                        request: route.2,
                        response: route.3,
                        handler: std::mem::take(&mut handler),
                        doc: std::mem::take(&mut rdoc),
                        group: group.clone(),
                        jwt,
                        middleware: middleware.clone(),
                        line: r.n,
                    });
                }
                i += 1;
            }
            if i >= ls.len() {
                return Err(err(l.n, format!("service {name}: no closing }}")));
            }
            server.clear();
            doc.clear();
            i += 1;
        } else {
            return Err(err(
                l.n,
                format!("{code:?} is not go-zero .api syntax this parser knows"),
            ));
        }
    }
    Ok(out)
}

/// `post /department/create (DepartmentInfo) returns (BaseMsgResp)`.
fn route(code: &str) -> Option<(String, String, Option<String>, Option<String>)> {
    let (method, rest) = code.split_once(char::is_whitespace)?;
    let method = method.to_ascii_lowercase();
    if !["get", "post", "put", "patch", "delete", "head", "options"].contains(&method.as_str()) {
        return None;
    }
    let rest = rest.trim();
    let (path, rest) = match rest.find([' ', '(']) {
        Some(p) => (&rest[..p], rest[p..].trim()),
        None => (rest, ""),
    };
    if !path.starts_with('/') {
        return None;
    }
    let paren = |s: &str| -> Option<(Option<String>, String)> {
        let s = s.trim();
        if !s.starts_with('(') {
            return Some((None, s.to_string()));
        }
        let e = s.find(')')?;
        let inner = s[1..e].trim();
        Some((
            (!inner.is_empty()).then(|| inner.to_string()),
            s[e + 1..].trim().to_string(),
        ))
    };
    let (req, rest) = paren(rest)?;
    let resp = match rest.strip_prefix("returns") {
        Some(r) => paren(r)?.0,
        None if rest.is_empty() => None,
        None => return None,
    };
    Some((method, path.to_string(), req, resp))
}

/// A type's body from line `i` (`Name {`, `Name struct {`, or a one-line `Name {}`).
fn type_body(
    file: &str,
    ls: &[Line],
    i: usize,
    head: &str,
    doc: &str,
) -> Result<(TypeDef, usize), ApiError> {
    let err = |line: usize, message: String| ApiError {
        file: file.into(),
        line,
        message,
    };
    let head_n = ls[i].n;
    let (name, rest) = head
        .split_once('{')
        .ok_or_else(|| err(head_n, format!("{head:?}: expected `Name {{`")))?;
    let name = name.trim().trim_end_matches("struct").trim().to_string();
    if !ident(&name) {
        return Err(err(head_n, format!("type {name:?}: not a type name")));
    }
    let mut td = TypeDef {
        name,
        fields: Vec::new(),
        comment: doc.to_string(),
        line: head_n,
    };
    if rest.trim() == "}" {
        return Ok((td, i + 1));
    }
    let mut j = i + 1;
    let mut fdoc = String::new();
    while j < ls.len() && ls[j].code != "}" {
        let l = &ls[j];
        if l.code.is_empty() {
            if !l.comment.is_empty() {
                fdoc = l.comment.clone();
            }
            j += 1;
            continue;
        }
        let (decl, tag) = match l.code.find('`') {
            Some(t) => (
                l.code[..t].trim(),
                l.code[t..].trim_matches('`').to_string(),
            ),
            None => (l.code.as_str(), String::new()),
        };
        let parts: Vec<&str> = decl.split_whitespace().collect();
        let (name, ty) = match parts.as_slice() {
            [embedded] => (String::new(), embedded.to_string()),
            [name, ty] => (name.to_string(), ty.to_string()),
            _ => {
                return Err(err(
                    l.n,
                    format!("{:?}: expected `Name Type `tag``", l.code),
                ));
            }
        };
        let (json, optional) = json_tag(&tag);
        let comment = if l.comment.is_empty() {
            std::mem::take(&mut fdoc)
        } else {
            fdoc.clear();
            l.comment.clone()
        };
        td.fields.push(Field {
            name,
            ty,
            json,
            optional,
            tag,
            comment,
            line: l.n,
        });
        j += 1;
    }
    if j >= ls.len() {
        return Err(err(head_n, format!("type {}: no closing }}", td.name)));
    }
    Ok((td, j + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = r#"syntax = "v1"

info(
    title: "department"
    version: "v1.0"
)

import "../base.api"

type (
    // The data of department information | 部门信息
    DepartmentInfo {
        BaseIDInfo

        // Name | 名称
        Name *string `json:"name,optional" validate:"omitempty,max=50"`
        Leader string `json:"leader"` // the leader
        Tags []string `json:"tags,optional"`
    }

    DepartmentListReq {
        PageInfo
        Name *string `json:"name,optional"`
    }
)

type Empty {}

@server(
    jwt: Auth
    group: department
    middleware: Authority,Log
    prefix: /sys
)

service Core {
    // Create department | 创建部门
    @handler createDepartment
    post /department/create (DepartmentInfo) returns (BaseMsgResp)

    @doc "Get department list"
    @handler getDepartmentList
    post /department/list (DepartmentListReq) returns (DepartmentListResp)

    /* health */
    @handler ping
    get /ping
}
"#;

    #[test]
    fn types_servers_and_routes() {
        let a = parse("api/desc/core/department.api", API).unwrap();
        assert_eq!(a.imports, vec!["../base.api"]);
        assert_eq!(a.info["title"], "department");
        let names: Vec<&str> = a.types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["DepartmentInfo", "DepartmentListReq", "Empty"]);
        let info = &a.types[0];
        assert_eq!(
            info.comment,
            "The data of department information | 部门信息"
        );
        assert!(info.fields[0].embedded() && info.fields[0].ty == "BaseIDInfo");
        let name = &info.fields[1];
        assert_eq!(
            (
                name.name.as_str(),
                name.ty.as_str(),
                name.json.as_str(),
                name.optional
            ),
            ("Name", "*string", "name", true)
        );
        assert_eq!(name.comment, "Name | 名称");
        assert_eq!(
            (info.fields[2].optional, info.fields[2].comment.as_str()),
            (false, "the leader")
        );
        assert_eq!(a.routes.len(), 3);
        let r = &a.routes[0];
        assert_eq!(
            (
                r.method.as_str(),
                r.path.as_str(),
                r.request.as_deref(),
                r.response.as_deref(),
                r.handler.as_str()
            ),
            (
                "post",
                "/sys/department/create",
                Some("DepartmentInfo"),
                Some("BaseMsgResp"),
                "createDepartment"
            )
        );
        assert_eq!(r.doc, "Create department | 创建部门");
        assert_eq!(r.group.as_deref(), Some("department"));
        assert!(r.jwt);
        assert_eq!(r.middleware, vec!["Authority", "Log"]);
        assert_eq!(a.routes[1].doc, "Get department list");
        assert_eq!(
            (a.routes[2].method.as_str(), a.routes[2].request.as_deref()),
            ("get", None)
        );
        assert_eq!(a.routes[2].doc, "health");
    }

    #[test]
    fn what_is_not_understood_names_file_and_line() {
        let e = parse("x.api", "syntax = \"v1\"\n\nenum Colour { Red }\n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("x.api", 3));
        let e = parse("x.api", "service Core {\n  @handler a\n  fly /x\n}\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("x.api", "type A {\n  Name string `json:\"name\"`\n").unwrap_err();
        assert!(e.message.contains("no closing"), "{e}");
        let e = parse("x.api", "service Core {\n  post /x\n}\n").unwrap_err();
        assert!(e.message.contains("without @handler"), "{e}");
    }
}
