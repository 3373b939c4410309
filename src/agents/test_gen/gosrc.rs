//! The Go a test generator needs to know, read with tree-sitter-go: every function and method
//! of a package file with its signature, receiver, parameters whose types are interfaces the
//! package declares, and the byte range of its body — and the mutant of a function whose body
//! only returns zero values (`*new(T)` for every result, whatever `T` is), used to prove that a
//! test asserts something.

use serde::Serialize;
use tree_sitter::Node;

/// A function or method of a package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Func {
    /// `Discount`, or `GetItemLogic.GetItem` for a method.
    pub name: String,
    /// The receiver's type without `*` (methods only).
    pub receiver: Option<String>,
    /// The declaration's first line, up to the body (`func Discount(total int) (int, error)`).
    pub signature: String,
    /// The result types (`["int", "error"]`).
    pub results: Vec<String>,
    /// Parameter types (receiver excluded).
    pub params: Vec<String>,
    /// The file (relative to the module root) and the declaration's line (1-based).
    pub file: String,
    pub line: u32,
    /// Byte range of the body, braces included.
    #[serde(skip)]
    pub body: (usize, usize),
}

/// What a package file declares.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GoFile {
    pub package: String,
    pub funcs: Vec<Func>,
    /// Interface types declared in the file: name → its method lines.
    pub interfaces: Vec<(String, Vec<String>)>,
    /// Struct types declared in the file.
    pub structs: Vec<String>,
    pub imports: Vec<String>,
}

fn text<'a>(n: Node<'_>, src: &'a str) -> &'a str {
    &src[n.byte_range()]
}

/// Read one Go file; a file with syntax errors is an error naming its first bad line.
pub fn parse(file: &str, src: &str) -> Result<GoFile, String> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_go::LANGUAGE.into())
        .map_err(|e| format!("the Go grammar: {e}"))?;
    let tree = parser
        .parse(src, None)
        .ok_or_else(|| format!("{file}: the parser gave no tree"))?;
    let root = tree.root_node();
    if root.has_error() {
        let line = first_error(root).map_or(0, |n| n.start_position().row + 1);
        return Err(format!("{file}:{line}: Go syntax error"));
    }
    let mut out = GoFile::default();
    let mut cursor = root.walk();
    for n in root.children(&mut cursor) {
        match n.kind() {
            "package_clause" => {
                if let Some(id) = n.named_child(0) {
                    out.package = text(id, src).to_string();
                }
            }
            "import_declaration" => {
                let mut c = n.walk();
                collect_imports(n, src, &mut out.imports, &mut c);
            }
            "type_declaration" => {
                let mut c = n.walk();
                for spec in n.named_children(&mut c) {
                    if spec.kind() != "type_spec" {
                        continue;
                    }
                    let (Some(name), Some(ty)) = (
                        spec.child_by_field_name("name"),
                        spec.child_by_field_name("type"),
                    ) else {
                        continue;
                    };
                    match ty.kind() {
                        "interface_type" => {
                            let mut mc = ty.walk();
                            let methods = ty
                                .named_children(&mut mc)
                                .map(|m| text(m, src).trim().to_string())
                                .collect();
                            out.interfaces.push((text(name, src).to_string(), methods));
                        }
                        "struct_type" => out.structs.push(text(name, src).to_string()),
                        _ => {}
                    }
                }
            }
            "function_declaration" | "method_declaration" => {
                if let Some(f) = func(n, src, file) {
                    out.funcs.push(f);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn collect_imports<'t>(
    n: Node<'t>,
    src: &str,
    out: &mut Vec<String>,
    c: &mut tree_sitter::TreeCursor<'t>,
) {
    for ch in n.named_children(c) {
        match ch.kind() {
            "import_spec" => {
                if let Some(p) = ch.child_by_field_name("path") {
                    out.push(text(p, src).trim_matches('"').to_string());
                }
            }
            "import_spec_list" => {
                let mut c2 = ch.walk();
                collect_imports(ch, src, out, &mut c2);
            }
            _ => {}
        }
    }
}

fn first_error(n: Node<'_>) -> Option<Node<'_>> {
    if n.is_error() || n.is_missing() {
        return Some(n);
    }
    let mut c = n.walk();
    n.children(&mut c).find_map(first_error)
}

/// The types of a parameter or result list (one per declared name).
fn types_of(list: Node<'_>, src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = list.walk();
    for p in list.named_children(&mut c) {
        match p.kind() {
            "parameter_declaration" | "variadic_parameter_declaration" => {
                let Some(t) = p.child_by_field_name("type") else {
                    continue;
                };
                let mut nc = p.walk();
                let names = p.children_by_field_name("name", &mut nc).count().max(1);
                let ty = if p.kind() == "variadic_parameter_declaration" {
                    format!("[]{}", text(t, src))
                } else {
                    text(t, src).to_string()
                };
                out.extend(std::iter::repeat_n(ty, names));
            }
            _ => {}
        }
    }
    out
}

fn func(n: Node<'_>, src: &str, file: &str) -> Option<Func> {
    let name = text(n.child_by_field_name("name")?, src).to_string();
    let body = n.child_by_field_name("body")?;
    let receiver = n.child_by_field_name("receiver").and_then(|r| {
        types_of(r, src)
            .first()
            .map(|t| t.trim_start_matches('*').to_string())
    });
    let params = n
        .child_by_field_name("parameters")
        .map(|p| types_of(p, src))
        .unwrap_or_default();
    let results = match n.child_by_field_name("result") {
        None => Vec::new(),
        Some(r) if r.kind() == "parameter_list" => types_of(r, src),
        Some(r) => vec![text(r, src).to_string()],
    };
    Some(Func {
        name: match &receiver {
            Some(r) => format!("{r}.{name}"),
            None => name,
        },
        receiver,
        signature: src[n.start_byte()..body.start_byte()].trim().to_string(),
        results,
        params,
        file: file.to_string(),
        line: n.start_position().row as u32 + 1,
        body: (body.start_byte(), body.end_byte()),
    })
}

/// The file with `f` returning the zero value of every result at once: a `return` put before
/// its body (the body stays, unreachable, so every import and variable it uses stays used and
/// the mutant compiles whatever the function did).
pub fn zero_body_mutant(src: &str, f: &Func) -> String {
    let zeros: Vec<String> = f.results.iter().map(|t| format!("*new({t})")).collect();
    let ret = if zeros.is_empty() {
        "return".to_string()
    } else {
        format!("return {}", zeros.join(", "))
    };
    format!("{}{{\n\t{ret}\n{}", &src[..f.body.0], &src[f.body.0 + 1..])
}

/// The interfaces of the package a function takes as parameters (its dependencies to fake).
pub fn interface_params<'a>(f: &Func, interfaces: &'a [(String, Vec<String>)]) -> Vec<&'a str> {
    interfaces
        .iter()
        .filter(|(name, _)| f.params.iter().any(|p| p.trim_start_matches('*') == name))
        .map(|(name, _)| name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"package pricing

import (
	"context"
	"errors"
)

// Store finds items.
type Store interface {
	Get(id string) (Item, error)
}

type Item struct{ Price int }

func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	return v
}

func Price(s Store, id string, qty int) (int, error) {
	it, err := s.Get(id)
	if err != nil {
		return 0, err
	}
	return it.Price * qty, nil
}

func (l *GetItemLogic) GetItem(ctx context.Context, ids ...string) (*Item, error) {
	return nil, errors.New("x")
}

func log(msg string) {}
"#;

    #[test]
    fn functions_signatures_interfaces_and_the_zero_mutant() {
        let g = parse("pkg/pricing/pricing.go", SRC).unwrap();
        assert_eq!(g.package, "pricing");
        assert_eq!(g.imports, vec!["context", "errors"]);
        assert_eq!(g.interfaces[0].0, "Store");
        assert_eq!(g.structs, vec!["Item"]);
        let names: Vec<&str> = g.funcs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["Clamp", "Price", "GetItemLogic.GetItem", "log"]);
        assert_eq!(g.funcs[0].params, vec!["int", "int", "int"]);
        assert_eq!(g.funcs[1].results, vec!["int", "error"]);
        assert_eq!(
            g.funcs[1].signature,
            "func Price(s Store, id string, qty int) (int, error)"
        );
        assert_eq!(g.funcs[2].receiver.as_deref(), Some("GetItemLogic"));
        assert_eq!(g.funcs[2].params, vec!["context.Context", "[]string"]);
        assert_eq!(g.funcs[0].line, 15);
        assert_eq!(interface_params(&g.funcs[1], &g.interfaces), vec!["Store"]);
        let m = zero_body_mutant(SRC, &g.funcs[1]);
        assert!(m.contains("func Price(s Store, id string, qty int) (int, error) {\n\treturn *new(int), *new(error)\n\n\tit, err := s.Get(id)"), "{m}");
        let m = zero_body_mutant(SRC, &g.funcs[3]);
        assert!(m.contains("func log(msg string) {\n\treturn\n}"), "{m}");
        assert!(
            parse("x.go", "package x\nfunc (")
                .unwrap_err()
                .contains("x.go:")
        );
    }
}
