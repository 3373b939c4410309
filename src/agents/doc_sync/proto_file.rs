//! The RPC side of a Simple Admin Core service: the messages and rpcs of its `.proto` files
//! (`rpc/desc/*.proto`, merged by `make gen-rpc`), and how they changed — an rpc removed or a
//! field removed or retyped or renumbered is breaking, an rpc or a field added is info.

use std::collections::BTreeMap;

use serde::Serialize;

use super::api_diff::{Change, Level, change};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtoField {
    pub name: String,
    /// `optional uint64`, `repeated DepartmentInfo`, `string` …
    pub ty: String,
    pub number: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtoFile {
    /// Message → fields.
    pub messages: BTreeMap<String, Vec<ProtoField>>,
    /// `Service.rpc` → (request, response).
    pub rpcs: BTreeMap<String, (String, String)>,
}

fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find('/') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(r) = after.strip_prefix("//") {
            rest = r.find('\n').map_or("", |e| &r[e..]);
        } else if let Some(r) = after.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |e| &r[e + 2..]);
        } else {
            out.push('/');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Parse a `.proto` file's top-level messages (nested ones are named `Outer.Inner`) and
/// services. Errors name the file and what was not understood.
pub fn parse(file: &str, src: &str) -> Result<ProtoFile, String> {
    let text = strip_comments(src);
    // Tokens: words, braces, semicolons, parentheses, `=`.
    let mut toks: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    for c in text.chars() {
        if in_str {
            cur.push(c);
            if c == '"' {
                in_str = false;
                toks.push(std::mem::take(&mut cur));
            }
            continue;
        }
        match c {
            '"' => {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
                in_str = true;
                cur.push(c);
            }
            '{' | '}' | ';' | '(' | ')' | '=' | '<' | '>' | ',' => {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
                toks.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    toks.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        toks.push(cur);
    }
    let mut out = ProtoFile::default();
    let mut i = 0;
    let mut scope: Vec<(String, String)> = Vec::new(); // (kind, name)
    let bad = |what: &str| format!("{file}: {what}");
    while i < toks.len() {
        let t = toks[i].as_str();
        match t {
            "message" | "service" | "enum" | "oneof" => {
                let name = toks
                    .get(i + 1)
                    .ok_or_else(|| bad("a declaration without a name"))?;
                if toks.get(i + 2).map(String::as_str) != Some("{") {
                    return Err(bad(&format!("{t} {name}: expected {{")));
                }
                scope.push((t.to_string(), name.clone()));
                if t == "message" {
                    let full: Vec<&str> = scope
                        .iter()
                        .filter(|(k, _)| k == "message")
                        .map(|(_, n)| n.as_str())
                        .collect();
                    out.messages.entry(full.join(".")).or_default();
                }
                i += 3;
            }
            "}" => {
                scope.pop();
                i += 1;
            }
            "rpc" => {
                let service = scope
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "service")
                    .map(|(_, n)| n.clone())
                    .ok_or_else(|| bad("an rpc outside a service"))?;
                // rpc name ( [stream] Req ) returns ( [stream] Resp ) ; | { … }
                let name = toks
                    .get(i + 1)
                    .cloned()
                    .ok_or_else(|| bad("rpc without a name"))?;
                let close =
                    |from: usize| toks[from..].iter().position(|t| t == ")").map(|p| from + p);
                let (Some(e1), true) = (close(i + 2), toks.get(i + 2).is_some_and(|t| t == "("))
                else {
                    return Err(bad(&format!("rpc {name}: expected (Request)")));
                };
                let req = toks[i + 3..e1].join(" ");
                if toks.get(e1 + 1).map(String::as_str) != Some("returns") {
                    return Err(bad(&format!("rpc {name}: expected returns")));
                }
                let Some(e2) = close(e1 + 2) else {
                    return Err(bad(&format!("rpc {name}: expected (Response)")));
                };
                let resp = toks[e1 + 3..e2].join(" ");
                out.rpcs.insert(format!("{service}.{name}"), (req, resp));
                i = e2 + 1;
                if toks.get(i).map(String::as_str) == Some("{") {
                    let depth_end = toks[i..].iter().position(|t| t == "}").map(|p| i + p + 1);
                    i = depth_end.unwrap_or(toks.len());
                } else if toks.get(i).map(String::as_str) == Some(";") {
                    i += 1;
                }
            }
            _ if scope
                .last()
                .is_some_and(|(k, _)| k == "message" || k == "oneof") =>
            {
                // [optional|repeated] type name = number [options] ;
                let end = toks[i..]
                    .iter()
                    .position(|t| t == ";")
                    .map(|p| i + p)
                    .ok_or_else(|| bad("a field without ;"))?;
                let stmt = &toks[i..end];
                if let Some(eq) = stmt.iter().position(|t| t == "=")
                    && eq >= 2
                    && !matches!(stmt[0].as_str(), "option" | "reserved" | "extensions")
                {
                    let name = stmt[eq - 1].clone();
                    let ty = stmt[..eq - 1]
                        .join(" ")
                        .replace(" < ", "<")
                        .replace(" , ", ",")
                        .replace(" >", ">");
                    let number = stmt
                        .get(eq + 1)
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| bad(&format!("field {name}: no number")))?;
                    let msg: Vec<&str> = scope
                        .iter()
                        .filter(|(k, _)| k == "message")
                        .map(|(_, n)| n.as_str())
                        .collect();
                    out.messages
                        .entry(msg.join("."))
                        .or_default()
                        .push(ProtoField { name, ty, number });
                }
                i = end + 1;
            }
            _ => {
                // syntax, package, import, option … up to their `;`.
                match toks[i..]
                    .iter()
                    .position(|t| t == ";" || t == "{" || t == "}")
                {
                    Some(p) if toks[i + p] == ";" => i += p + 1,
                    _ => i += 1,
                }
            }
        }
    }
    Ok(out)
}

/// How the RPC side changed.
pub fn diff(old: &ProtoFile, new: &ProtoFile) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, (req, resp)) in &old.rpcs {
        match new.rpcs.get(k) {
            None => out.push(change(
                Level::Breaking,
                "rpc-removed",
                format!("rpc {k}"),
                format!("({req}) returns ({resp})"),
            )),
            Some((r2, s2)) if (r2, s2) != (req, resp) => out.push(change(
                Level::Breaking,
                "rpc-signature-changed",
                format!("rpc {k}"),
                format!("({req}) returns ({resp}) → ({r2}) returns ({s2})"),
            )),
            _ => {}
        }
    }
    for (k, (req, resp)) in &new.rpcs {
        if !old.rpcs.contains_key(k) {
            out.push(change(
                Level::Info,
                "rpc-added",
                format!("rpc {k}"),
                format!("({req}) returns ({resp})"),
            ));
        }
    }
    for (m, fields) in &old.messages {
        let Some(nf) = new.messages.get(m) else {
            continue;
        };
        for f in fields {
            match nf.iter().find(|g| g.name == f.name) {
                None => out.push(change(
                    Level::Breaking,
                    "field-removed",
                    format!("message {m}.{}", f.name),
                    f.ty.clone(),
                )),
                Some(g) if g.ty != f.ty => out.push(change(
                    Level::Breaking,
                    "field-type-changed",
                    format!("message {m}.{}", f.name),
                    format!("{} → {}", f.ty, g.ty),
                )),
                Some(g) if g.number != f.number => out.push(change(
                    Level::Breaking,
                    "field-renumbered",
                    format!("message {m}.{}", f.name),
                    format!("{} → {}", f.number, g.number),
                )),
                _ => {}
            }
        }
        for g in nf
            .iter()
            .filter(|g| !fields.iter().any(|f| f.name == g.name))
        {
            out.push(change(
                Level::Info,
                "field-added",
                format!("message {m}.{}", g.name),
                g.ty.clone(),
            ));
        }
    }
    out.sort_by(|a, b| (a.level, &a.subject).cmp(&(b.level, &b.subject)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"syntax = "proto3";
// Department message
message DepartmentInfo {
  optional uint64 id = 1;
  optional string name = 2; // the name
  optional string code = 3;
  map<string, string> labels = 4;
}
message DepartmentListResp {
  uint64 total = 1;
  repeated DepartmentInfo data = 2;
}
service Core {
  // group: department
  rpc createDepartment (DepartmentInfo) returns (BaseIDResp);
  rpc getDepartmentList (DepartmentListReq) returns (DepartmentListResp);
}
"#;

    #[test]
    fn messages_rpcs_and_their_changes() {
        let o = parse("rpc/desc/department.proto", OLD).unwrap();
        assert_eq!(o.messages["DepartmentInfo"].len(), 4);
        assert_eq!(o.messages["DepartmentInfo"][3].ty, "map<string,string>");
        assert_eq!(
            o.messages["DepartmentListResp"][1].ty,
            "repeated DepartmentInfo"
        );
        assert_eq!(
            o.rpcs["Core.createDepartment"],
            ("DepartmentInfo".into(), "BaseIDResp".into())
        );
        let new = OLD
            .replace("  optional string code = 3;\n", "")
            .replace("optional string name = 2;", "optional string name = 5;")
            .replace(
                "uint64 total = 1;",
                "uint32 total = 1;\n  optional string note = 3;",
            )
            .replace(
                "  rpc getDepartmentList (DepartmentListReq) returns (DepartmentListResp);\n",
                "  rpc getDepartmentTree (IDReq) returns (DepartmentListResp);\n",
            );
        let n = parse("rpc/desc/department.proto", &new).unwrap();
        let got: Vec<(Level, String, String)> = diff(&o, &n)
            .into_iter()
            .map(|c| (c.level, c.kind, c.subject))
            .collect();
        let want: Vec<(Level, String, String)> = [
            (
                Level::Breaking,
                "field-removed",
                "message DepartmentInfo.code",
            ),
            (
                Level::Breaking,
                "field-renumbered",
                "message DepartmentInfo.name",
            ),
            (
                Level::Breaking,
                "field-type-changed",
                "message DepartmentListResp.total",
            ),
            (Level::Breaking, "rpc-removed", "rpc Core.getDepartmentList"),
            (
                Level::Info,
                "field-added",
                "message DepartmentListResp.note",
            ),
            (Level::Info, "rpc-added", "rpc Core.getDepartmentTree"),
        ]
        .into_iter()
        .map(|(l, k, s)| (l, k.to_string(), s.to_string()))
        .collect();
        assert_eq!(got, want);
        assert!(parse("x.proto", "service Core {\n  rpc a b;\n}\n").is_err());
    }
}
