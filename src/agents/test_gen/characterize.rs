//! Characterization tests, for runs without an LLM: the current outputs of chosen inputs,
//! recorded by running the code, pinned in a test labelled as such — they say what the code
//! does today, not that it is right. Only functions whose parameters and results are basic
//! types (numbers, strings, bools; an `error` result compared by nil-ness and message) get
//! them.

use super::gosrc::Func;

/// A marker in every characterization file (and in the pull request that carries it).
pub const LABEL: &str = "Characterization tests: they pin what the code does today for chosen inputs (written by devagents test-gen without an LLM); they do not say it is right.";

const RECORD_TEST: &str = "TestDevagentsRecord";

fn inputs_of(t: &str) -> Option<Vec<&'static str>> {
    Some(match t {
        "int" | "int8" | "int16" | "int32" | "int64" => vec!["0", "1", "-1", "100"],
        "uint" | "uint8" | "uint16" | "uint32" | "uint64" | "byte" => vec!["0", "1", "100"],
        "float32" | "float64" => vec!["0", "1.5", "-2.25"],
        "string" => vec!["\"\"", "\"a\"", "\"Hello World\""],
        "bool" => vec!["false", "true"],
        _ => return None,
    })
}

fn basic_result(t: &str) -> bool {
    t == "error" || inputs_of(t).is_some()
}

/// Whether `f` can be characterized: a plain function (no receiver) of basic parameters and
/// results.
pub fn eligible(f: &Func) -> bool {
    f.receiver.is_none()
        && !f.results.is_empty()
        && f.params.iter().all(|p| inputs_of(p).is_some())
        && f.results.iter().all(|r| basic_result(r))
}

/// Up to `max` argument lists for `f`: every parameter walks its inputs, offset so that the
/// lists differ (not the whole cartesian product).
pub fn argument_lists(f: &Func, max: usize) -> Vec<Vec<&'static str>> {
    let per: Vec<Vec<&'static str>> = f
        .params
        .iter()
        .map(|p| inputs_of(p).unwrap_or_default())
        .collect();
    if per.is_empty() {
        return vec![Vec::new()];
    }
    let n = per.iter().map(Vec::len).max().unwrap_or(1).max(1) * 2;
    let mut out: Vec<Vec<&'static str>> = Vec::new();
    for i in 0..n {
        let args: Vec<&'static str> = per
            .iter()
            .enumerate()
            .map(|(k, vals)| vals[(i + k * (i / vals.len().max(1))) % vals.len()])
            .collect();
        if !out.contains(&args) {
            out.push(args);
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

fn result_vars(f: &Func) -> Vec<String> {
    (0..f.results.len()).map(|i| format!("r{i}")).collect()
}

/// A test that prints every output of `funcs` for their argument lists, one
/// `DEVAGENTS <func> <case> <result> <value>` line each.
pub fn recorder(package: &str, funcs: &[(&Func, Vec<Vec<&'static str>>)]) -> String {
    let mut body = String::new();
    for (f, lists) in funcs {
        for (case, args) in lists.iter().enumerate() {
            let vars = result_vars(f);
            let mut prints = String::new();
            for (i, (v, t)) in vars.iter().zip(&f.results).enumerate() {
                if t == "error" {
                    prints.push_str(&format!(
                        "\t\tif {v} == nil {{\n\t\t\tfmt.Printf(\"DEVAGENTS {name} {case} {i} nil\\n\")\n\t\t}} else {{\n\t\t\tfmt.Printf(\"DEVAGENTS {name} {case} {i} err %q\\n\", {v}.Error())\n\t\t}}\n",
                        name = f.name
                    ));
                } else {
                    prints.push_str(&format!(
                        "\t\tfmt.Printf(\"DEVAGENTS {name} {case} {i} val %#v\\n\", {v})\n",
                        name = f.name
                    ));
                }
            }
            body.push_str(&format!(
                "\tfunc() {{\n\t\tdefer func() {{ _ = recover() }}()\n\t\t{} := {}({})\n{prints}\t}}()\n",
                vars.join(", "),
                f.name,
                args.join(", ")
            ));
        }
    }
    format!(
        "package {package}\n\nimport (\n\t\"fmt\"\n\t\"testing\"\n)\n\nfunc {RECORD_TEST}(t *testing.T) {{\n{body}}}\n"
    )
}

/// The run pattern of the recorder.
pub fn recorder_pattern() -> String {
    format!("^{RECORD_TEST}$")
}

/// One recorded output: `Some(("val", literal))`, `Some(("err", quoted message))`,
/// `Some(("nil", ""))`; the key is (function, case, result).
pub fn parse_record(
    output: &str,
) -> std::collections::BTreeMap<(String, usize, usize), (String, String)> {
    let mut out = std::collections::BTreeMap::new();
    for l in output.lines() {
        let Some(rest) = l.strip_prefix("DEVAGENTS ") else {
            continue;
        };
        let mut p = rest.splitn(5, ' ');
        let (Some(name), Some(case), Some(i), Some(kind)) =
            (p.next(), p.next(), p.next(), p.next())
        else {
            continue;
        };
        let (Ok(case), Ok(i)) = (case.parse(), i.parse()) else {
            continue;
        };
        out.insert(
            (name.to_string(), case, i),
            (kind.to_string(), p.next().unwrap_or_default().to_string()),
        );
    }
    out
}

/// The characterization test of `f` from what the recorder printed (cases that panicked or
/// printed nothing are left out). None: nothing recorded.
pub fn test_file(
    package: &str,
    f: &Func,
    lists: &[Vec<&'static str>],
    recorded: &std::collections::BTreeMap<(String, usize, usize), (String, String)>,
) -> Option<String> {
    let mut checks = String::new();
    'cases: for (case, args) in lists.iter().enumerate() {
        let vars = result_vars(f);
        let mut conds = Vec::new();
        for (i, v) in vars.iter().enumerate() {
            let Some((kind, value)) = recorded.get(&(f.name.clone(), case, i)) else {
                // It panicked, or printed nothing: no case.
                continue 'cases;
            };
            conds.push(match kind.as_str() {
                "nil" => format!("{v} != nil"),
                "err" => format!("{v} == nil || {v}.Error() != {value}"),
                _ => format!("{v} != {value}"),
            });
        }
        checks.push_str(&format!(
            "\t{{\n\t\t{} := {}({})\n\t\tif {} {{\n\t\t\tt.Errorf(\"{}({}) = %v, which is not what it returned when recorded\", []any{{{}}})\n\t\t}}\n\t}}\n",
            vars.join(", "),
            f.name,
            args.join(", "),
            conds
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" || "),
            f.name,
            args.join(", ").replace('"', "\\\""),
            vars.join(", ")
        ));
    }
    if checks.is_empty() {
        return None;
    }
    Some(format!(
        "package {package}\n\n// {LABEL}\n\nimport \"testing\"\n\nfunc Test{}Characterization(t *testing.T) {{\n{checks}}}\n",
        f.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn func(name: &str, params: &[&str], results: &[&str]) -> Func {
        Func {
            name: name.into(),
            receiver: None,
            signature: String::new(),
            results: results.iter().map(|s| s.to_string()).collect(),
            params: params.iter().map(|s| s.to_string()).collect(),
            file: "a.go".into(),
            line: 1,
            body: (0, 0),
        }
    }

    #[test]
    fn inputs_recorder_and_test() {
        let f = func("Discount", &["int", "string"], &["int", "error"]);
        assert!(eligible(&f));
        assert!(!eligible(&func("Price", &["Store", "string"], &["int"])));
        let lists = argument_lists(&f, 6);
        assert!(lists.len() >= 4 && lists.len() <= 6, "{lists:?}");
        assert_eq!(
            lists
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            lists.len()
        );
        let rec = recorder("pricing", &[(&f, lists.clone())]);
        assert!(rec.contains("r0, r1 := Discount(0, \"\")"), "{rec}");
        let out = "DEVAGENTS Discount 0 0 val 0\nDEVAGENTS Discount 0 1 nil\nDEVAGENTS Discount 1 0 val 0\nDEVAGENTS Discount 1 1 err \"unknown code a\"\n";
        let recorded = parse_record(out);
        let t = test_file("pricing", &f, &lists[..2], &recorded).unwrap();
        assert!(t.contains(LABEL));
        assert!(t.contains("if (r0 != 0) || (r1 != nil) {"), "{t}");
        assert!(
            t.contains("(r1 == nil || r1.Error() != \"unknown code a\")"),
            "{t}"
        );
        // A case with no record (it panicked) is left out; no case at all, no test.
        let t3 = test_file("pricing", &f, &lists[..3], &recorded).unwrap();
        assert_eq!(t3.matches(":= Discount(").count(), 2);
        assert!(test_file("pricing", &f, &lists, &Default::default()).is_none());
    }
}
