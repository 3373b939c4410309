//! Go source → the few expressions an Ent schema is made of, with tree-sitter-go (a real Go
//! parser, no pattern matching over the text). A file gives its schema and mixin types (a struct
//! embedding `ent.Schema` or `mixin.Schema`), the element lists their `Fields()`, `Edges()`,
//! `Indexes()`, `Mixin()` and `Annotations()` methods return, and its constants. Everything
//! carries its line, so whoever reads it can fail naming `file:line`.

use std::collections::BTreeMap;

use tree_sitter::Node;

/// An expression, as far as schemas use them.
#[derive(Clone, Debug, PartialEq)]
pub enum K {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Nil,
    Ident(String),
    /// `operand.name`
    Sel(Box<E>, String),
    /// `function(args…)`
    Call(Box<E>, Vec<E>),
    /// `Type{elements}`: (key, value) pairs; the type as written.
    Composite(String, Vec<(Option<E>, E)>),
    Neg(Box<E>),
    /// Anything else, as written (an error names it).
    Other(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct E {
    /// 1-based.
    pub line: usize,
    pub k: K,
}

impl E {
    /// `a.b.c` as text when the expression is a plain (qualified) name.
    pub fn path(&self) -> Option<String> {
        match &self.k {
            K::Ident(n) => Some(n.clone()),
            K::Sel(o, n) => o.path().map(|p| format!("{p}.{n}")),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match &self.k {
            K::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One method's returned elements.
#[derive(Clone, Debug, Default)]
pub struct Method {
    pub line: usize,
    pub elems: Vec<E>,
}

/// A schema (embeds `ent.Schema`) or mixin (embeds `mixin.Schema`) type and its methods.
#[derive(Clone, Debug, Default)]
pub struct TypeDecl {
    pub name: String,
    pub line: usize,
    pub mixin: bool,
    pub methods: BTreeMap<String, Method>,
}

#[derive(Clone, Debug, Default)]
pub struct GoFile {
    pub path: String,
    pub package: String,
    pub types: Vec<TypeDecl>,
    /// Package-level constants with a literal value.
    pub consts: BTreeMap<String, E>,
}

/// Where and why a file cannot be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct ParseError {
    pub path: String,
    pub line: usize,
    pub message: String,
}

/// The methods whose returned lists make a schema.
pub const METHODS: [&str; 5] = ["Fields", "Edges", "Indexes", "Mixin", "Annotations"];

pub fn parse(path: &str, src: &str) -> Result<GoFile, ParseError> {
    let err = |line: usize, message: String| ParseError {
        path: path.to_string(),
        line,
        message,
    };
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_go::LANGUAGE.into())
        .map_err(|e| err(0, format!("the Go grammar: {e}")))?;
    let tree = parser
        .parse(src, None)
        .ok_or_else(|| err(0, "the parser gave no tree".into()))?;
    let root = tree.root_node();
    if root.has_error() {
        let at = first_error(root).unwrap_or(root);
        return Err(err(
            line_of(at),
            format!(
                "not valid Go near `{}`",
                text(at, src).chars().take(40).collect::<String>()
            ),
        ));
    }
    let mut file = GoFile {
        path: path.to_string(),
        ..GoFile::default()
    };
    let mut methods: Vec<(String, String, Method)> = Vec::new();
    let mut cursor = root.walk();
    for node in root.named_children(&mut cursor) {
        match node.kind() {
            "package_clause" => {
                if let Some(n) = node.named_child(0) {
                    file.package = text(n, src).to_string();
                }
            }
            "type_declaration" => {
                let mut c = node.walk();
                for spec in node.named_children(&mut c) {
                    if spec.kind() != "type_spec" {
                        continue;
                    }
                    if let Some(t) = schema_type(spec, src) {
                        file.types.push(t);
                    }
                }
            }
            "const_declaration" => {
                let mut c = node.walk();
                for spec in node.named_children(&mut c) {
                    if spec.kind() != "const_spec" {
                        continue;
                    }
                    let names: Vec<String> = {
                        let mut c2 = spec.walk();
                        spec.children_by_field_name("name", &mut c2)
                            .map(|n| text(n, src).to_string())
                            .collect()
                    };
                    if let Some(values) = spec.child_by_field_name("value") {
                        let mut c3 = values.walk();
                        let vals: Vec<Node> = values.named_children(&mut c3).collect();
                        for (n, v) in names.iter().zip(vals) {
                            let e = expr(v, src);
                            if matches!(e.k, K::Str(_) | K::Int(_) | K::Float(_) | K::Bool(_)) {
                                file.consts.insert(n.clone(), e);
                            }
                        }
                    }
                }
            }
            "method_declaration" => {
                let Some(name) = node.child_by_field_name("name").map(|n| text(n, src)) else {
                    continue;
                };
                if !METHODS.contains(&name) {
                    continue;
                }
                let Some(recv) = node.child_by_field_name("receiver").and_then(receiver_type)
                else {
                    continue;
                };
                let recv = text(recv, src).to_string();
                let body = node.child_by_field_name("body");
                let m = returned_list(body, src)
                    .map_err(|(line, m)| err(line, format!("{recv}.{name}(): {m}")))?;
                methods.push((recv, name.to_string(), m));
            }
            _ => {}
        }
    }
    for (recv, name, m) in methods {
        if let Some(t) = file.types.iter_mut().find(|t| t.name == recv) {
            t.methods.insert(name, m);
        }
    }
    Ok(file)
}

fn first_error(node: Node) -> Option<Node> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut c = node.walk();
    for ch in node.children(&mut c) {
        if ch.has_error()
            && let Some(e) = first_error(ch)
        {
            return Some(e);
        }
    }
    None
}

fn line_of(n: Node) -> usize {
    n.start_position().row + 1
}

fn text<'a>(n: Node, src: &'a str) -> &'a str {
    n.utf8_text(src.as_bytes()).unwrap_or("")
}

/// `type X struct { ent.Schema }` (a schema) or `{ mixin.Schema }` (a mixin).
fn schema_type(spec: Node, src: &str) -> Option<TypeDecl> {
    let name = text(spec.child_by_field_name("name")?, src).to_string();
    let st = spec.child_by_field_name("type")?;
    if st.kind() != "struct_type" {
        return None;
    }
    let mut c = st.walk();
    let list = st
        .named_children(&mut c)
        .find(|n| n.kind() == "field_declaration_list")?;
    let mut c2 = list.walk();
    for f in list.named_children(&mut c2) {
        if f.kind() != "field_declaration" || f.child_by_field_name("name").is_some() {
            continue;
        }
        let ty = f.child_by_field_name("type").map(|t| text(t, src));
        let mixin = match ty {
            Some("ent.Schema") => false,
            Some("mixin.Schema") => true,
            _ => continue,
        };
        return Some(TypeDecl {
            name,
            line: line_of(spec),
            mixin,
            methods: BTreeMap::new(),
        });
    }
    None
}

fn receiver_type(params: Node) -> Option<Node> {
    let mut c = params.walk();
    let p = params
        .named_children(&mut c)
        .find(|n| n.kind() == "parameter_declaration")?;
    let t = p.child_by_field_name("type")?;
    if t.kind() == "pointer_type" {
        t.named_child(0)
    } else {
        Some(t)
    }
}

/// The body must be `return []T{…}` (or `return nil`): anything computed is not understood.
fn returned_list(body: Option<Node>, src: &str) -> Result<Method, (usize, String)> {
    let Some(body) = body else {
        return Err((0, "no body".into()));
    };
    let mut stmts = Vec::new();
    collect_statements(body, &mut stmts);
    let [ret] = stmts.as_slice() else {
        return Err((
            line_of(body),
            "only a body of one `return []…{…}` statement is understood".into(),
        ));
    };
    if ret.kind() != "return_statement" {
        return Err((
            line_of(*ret),
            "only a body of one `return []…{…}` statement is understood".into(),
        ));
    }
    let Some(list) = ret.named_child(0) else {
        return Ok(Method {
            line: line_of(*ret),
            elems: Vec::new(),
        });
    };
    let value = if list.kind() == "expression_list" {
        list.named_child(0)
    } else {
        Some(list)
    };
    let Some(value) = value else {
        return Err((line_of(*ret), "empty return".into()));
    };
    let e = expr(value, src);
    match e.k {
        K::Nil => Ok(Method {
            line: e.line,
            elems: Vec::new(),
        }),
        K::Composite(ty, elems) if ty.starts_with("[]") => Ok(Method {
            line: e.line,
            elems: elems.into_iter().map(|(_, v)| v).collect(),
        }),
        _ => Err((
            e.line,
            format!(
                "returns `{}`, only a slice literal is understood",
                text(value, src)
            ),
        )),
    }
}

fn collect_statements<'a>(n: Node<'a>, out: &mut Vec<Node<'a>>) {
    let mut c = n.walk();
    for ch in n.named_children(&mut c) {
        match ch.kind() {
            "statement_list" => collect_statements(ch, out),
            "comment" => {}
            _ => out.push(ch),
        }
    }
}

/// One expression node → [`E`].
pub fn expr(n: Node, src: &str) -> E {
    let line = line_of(n);
    let k = match n.kind() {
        "interpreted_string_literal" => K::Str(unquote(text(n, src))),
        "raw_string_literal" => K::Str(text(n, src).trim_matches('`').to_string()),
        "int_literal" => parse_int(text(n, src))
            .map(K::Int)
            .unwrap_or_else(|| K::Other(text(n, src).to_string())),
        "float_literal" => text(n, src)
            .replace('_', "")
            .parse()
            .map(K::Float)
            .unwrap_or_else(|_| K::Other(text(n, src).to_string())),
        "true" => K::Bool(true),
        "false" => K::Bool(false),
        "nil" => K::Nil,
        "identifier" | "field_identifier" | "type_identifier" | "package_identifier" => {
            K::Ident(text(n, src).to_string())
        }
        "selector_expression" | "qualified_type" => {
            let (operand, field) = if n.kind() == "qualified_type" {
                (
                    n.child_by_field_name("package"),
                    n.child_by_field_name("name"),
                )
            } else {
                (
                    n.child_by_field_name("operand"),
                    n.child_by_field_name("field"),
                )
            };
            match (operand, field) {
                (Some(o), Some(f)) => K::Sel(Box::new(expr(o, src)), text(f, src).to_string()),
                _ => K::Other(text(n, src).to_string()),
            }
        }
        "call_expression" => {
            let f = n.child_by_field_name("function");
            // A chained call is where its method's name is (`.Optional()` on its own line).
            let line = f
                .filter(|f| f.kind() == "selector_expression")
                .and_then(|f| f.child_by_field_name("field"))
                .map(line_of)
                .unwrap_or(line);
            let args = n.child_by_field_name("arguments");
            match f {
                Some(f) => {
                    let mut v = Vec::new();
                    if let Some(a) = args {
                        let mut c = a.walk();
                        for x in a.named_children(&mut c) {
                            if x.kind() != "comment" {
                                v.push(expr(x, src));
                            }
                        }
                    }
                    return E {
                        line,
                        k: K::Call(Box::new(expr(f, src)), v),
                    };
                }
                None => K::Other(text(n, src).to_string()),
            }
        }
        "composite_literal" => {
            let ty = n
                .child_by_field_name("type")
                .map(|t| text(t, src).to_string())
                .unwrap_or_default();
            let elems = n
                .child_by_field_name("body")
                .map(|b| literal_elements(b, src))
                .unwrap_or_default();
            K::Composite(ty, elems)
        }
        "literal_value" => K::Composite(String::new(), literal_elements(n, src)),
        "unary_expression" => {
            let op = n.child_by_field_name("operator").map(|o| text(o, src));
            match (op, n.child_by_field_name("operand")) {
                (Some("-"), Some(o)) => K::Neg(Box::new(expr(o, src))),
                (Some("&"), Some(o)) => return expr(o, src),
                _ => K::Other(text(n, src).to_string()),
            }
        }
        "parenthesized_expression" => match n.named_child(0) {
            Some(i) => return expr(i, src),
            None => K::Other(text(n, src).to_string()),
        },
        "literal_element" => match n.named_child(0) {
            Some(i) => return expr(i, src),
            None => K::Other(text(n, src).to_string()),
        },
        _ => K::Other(text(n, src).to_string()),
    };
    E { line, k }
}

fn literal_elements(body: Node, src: &str) -> Vec<(Option<E>, E)> {
    let mut out = Vec::new();
    let mut c = body.walk();
    for el in body.named_children(&mut c) {
        match el.kind() {
            "comment" => {}
            "keyed_element" => {
                let mut c2 = el.walk();
                let parts: Vec<Node> = el
                    .named_children(&mut c2)
                    .filter(|p| p.kind() != "comment")
                    .collect();
                if let [k, v] = parts.as_slice() {
                    out.push((Some(expr(*k, src)), expr(*v, src)));
                } else {
                    out.push((None, expr(el, src)));
                }
            }
            _ => out.push((None, expr(el, src))),
        }
    }
    out
}

fn parse_int(t: &str) -> Option<i128> {
    let t = t.replace('_', "");
    let lower = t.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse().ok()
    }
}

/// A Go interpreted string literal's value (the common escapes).
fn unquote(lit: &str) -> String {
    let inner = lit
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(lit);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('\\') => out.push('\\'),
            Some('u') => {
                let h: String = chars.by_ref().take(4).collect();
                if let Some(ch) = u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

const maxName = 64

// Warehouse holds the schema definition.
type Warehouse struct {
	ent.Schema
}

func (Warehouse) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Comment("Name | 名称").MaxLen(maxName),
		field.Int("count").Default(-3),
	}
}

func (Warehouse) Edges() []ent.Edge { return nil }

func (Warehouse) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Annotation{Table: "sys_warehouses"},
	}
}
"#;

    #[test]
    fn reads_types_methods_and_consts() {
        let f = parse("warehouse.go", SRC).unwrap();
        assert_eq!(f.package, "schema");
        assert_eq!(f.consts["maxName"].k, K::Int(64));
        let t = &f.types[0];
        assert_eq!((t.name.as_str(), t.mixin, t.line), ("Warehouse", false, 11));
        let fields = &t.methods["Fields"];
        assert_eq!(fields.elems.len(), 2);
        assert_eq!(fields.elems[1].line, 18);
        let K::Call(f0, args) = &fields.elems[0].k else {
            panic!("{:?}", fields.elems[0])
        };
        assert_eq!(args[0].path().as_deref(), Some("maxName"));
        assert!(matches!(&f0.k, K::Sel(_, n) if n == "MaxLen"));
        assert!(t.methods["Edges"].elems.is_empty());
        let K::Composite(ty, kv) = &t.methods["Annotations"].elems[0].k else {
            panic!()
        };
        assert_eq!(ty, "entsql.Annotation");
        assert_eq!(kv[0].1.str(), Some("sys_warehouses"));
    }

    #[test]
    fn invalid_go_names_the_line() {
        let e = parse("x.go", "package schema\n\nfunc (X) Fields() []ent.Field {\n\treturn []ent.Field{ field.String(\"a\". }\n}\n")
            .unwrap_err();
        assert_eq!(e.path, "x.go");
        assert_eq!(e.line, 4, "{e}");
    }

    #[test]
    fn computed_bodies_are_refused() {
        let src = "package schema\ntype X struct{ ent.Schema }\nfunc (X) Fields() []ent.Field {\n\tf := []ent.Field{}\n\treturn f\n}\n";
        let e = parse("x.go", src).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("X.Fields()"), "{e}");
    }

    #[test]
    fn unquotes_go_strings() {
        assert_eq!(unquote(r#""a\"b\n\u4e2d""#), "a\"b\n中");
    }
}
