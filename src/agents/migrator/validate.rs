//! The migration proven on a real PostgreSQL, in a scratch schema of its own (dropped after):
//! create the `from` schema, apply every forward step, read the catalog back and compare with
//! the `to` model; apply the rollbacks in reverse and compare with `from`; apply forward again
//! and diff once more, which must give nothing. A statement PostgreSQL refuses ends it with
//! PostgreSQL's error.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio_postgres::{Client, NoTls};

use super::files::Step;
use super::sql::{self, Column, ForeignKey, Index, Schema, Table};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub server_version: String,
    /// Each phase and what it found (`ok`, or the differences).
    pub phases: Vec<Phase>,
    pub ok: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

/// Connects to `url` (TLS-less: a local server, or one reached through the cluster network).
pub async fn connect(url: &str) -> Result<Client, String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to the validation database: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn pg_error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Normalise a default as the catalog prints it (`'x'::character varying`, `'-3'::integer`)
/// or as the model writes it (`'x'`, `-3`).
fn norm_default(d: &str) -> String {
    let mut s = d.trim().to_string();
    loop {
        let t = s.trim();
        if t.starts_with('(') && t.ends_with(')') {
            s = t[1..t.len() - 1].to_string();
            continue;
        }
        // Strip a trailing cast outside quotes.
        match t.rfind("::") {
            Some(i) if !t[i..].contains('\'') => s = t[..i].to_string(),
            _ => break,
        }
    }
    let t = s.trim();
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
        let inner = &t[1..t.len() - 1];
        if inner.parse::<f64>().is_ok() {
            return inner.to_string();
        }
    }
    t.to_string()
}

/// The tables of `schema` as the catalog describes them.
pub async fn introspect(db: &Client, schema: &str) -> Result<Schema, String> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let rows = db
        .query(
            "SELECT c.relname::text, obj_description(c.oid, 'pg_class') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .await
        .map_err(pg_error)?;
    for r in rows {
        let name: String = r.get(0);
        tables.insert(
            name.clone(),
            Table {
                name,
                comment: r.get(1),
                ..Table::default()
            },
        );
    }
    let rows = db
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
             NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, \
             col_description(c.oid, a.attnum) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
             WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .await
        .map_err(pg_error)?;
    for r in rows {
        let table: String = r.get(0);
        let default: Option<String> = r.get(4);
        let identity: String = r.get(5);
        if let Some(t) = tables.get_mut(&table) {
            t.columns.push(Column {
                name: r.get(1),
                ty: r.get(2),
                nullable: r.get(3),
                default: default.map(|d| norm_default(&d)),
                identity: !identity.is_empty(),
                comment: r.get(6),
            });
        }
    }
    let rows = db
        .query(
            "SELECT t.relname::text, i.relname::text, ix.indisunique, ix.indisprimary, ix.indisvalid, \
             ARRAY(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord) \
                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord) \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = $1",
            &[&schema],
        )
        .await
        .map_err(pg_error)?;
    for r in rows {
        let table: String = r.get(0);
        let name: String = r.get(1);
        let valid: bool = r.get(4);
        if !valid {
            return Err(format!(
                "index {name} on {table} is INVALID (a CONCURRENTLY build failed)"
            ));
        }
        let columns: Vec<String> = r.get(5);
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        if r.get::<_, bool>(3) {
            t.primary_key = columns;
        } else {
            t.indexes.push(Index {
                name,
                columns,
                unique: r.get(2),
            });
        }
    }
    let rows = db
        .query(
            "SELECT t.relname::text, c.conname::text, a.attname::text, rt.relname::text, \
             ra.attname::text, c.confdeltype::text, c.convalidated \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_class rt ON rt.oid = c.confrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] \
             WHERE c.contype = 'f' AND n.nspname = $1",
            &[&schema],
        )
        .await
        .map_err(pg_error)?;
    for r in rows {
        let table: String = r.get(0);
        let name: String = r.get(1);
        if !r.get::<_, bool>(6) {
            return Err(format!(
                "foreign key {name} on {table} is NOT VALID (it was never validated)"
            ));
        }
        let on_delete = match r.get::<_, String>(5).as_str() {
            "n" => "SET NULL",
            "c" => "CASCADE",
            "r" => "RESTRICT",
            "d" => "SET DEFAULT",
            _ => "NO ACTION",
        };
        if let Some(t) = tables.get_mut(&table) {
            t.foreign_keys.push(ForeignKey {
                name,
                column: r.get(2),
                ref_table: r.get(3),
                ref_column: r.get(4),
                on_delete: on_delete.into(),
            });
        }
    }
    for t in tables.values_mut() {
        t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        t.foreign_keys.sort();
    }
    Ok(Schema { tables })
}

/// The model as the catalog would show it (defaults normalised, indexes sorted, column order
/// ignored) — what introspection is compared with.
fn comparable(s: &Schema) -> Schema {
    let mut s = s.clone();
    for t in s.tables.values_mut() {
        for c in &mut t.columns {
            c.default = c.default.as_deref().map(norm_default);
        }
        t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        t.foreign_keys.sort();
    }
    s
}

/// What differs between the database and the model, one line each.
pub fn differences(db: &Schema, model: &Schema) -> Vec<String> {
    let (db, model) = (comparable(db), comparable(model));
    let mut out = Vec::new();
    for (name, m) in &model.tables {
        let Some(d) = db.tables.get(name) else {
            out.push(format!("table {name}: missing"));
            continue;
        };
        for c in &m.columns {
            match d.column(&c.name) {
                None => out.push(format!("{name}.{}: missing", c.name)),
                Some(dc) if dc != c => out.push(format!(
                    "{name}.{}: database has {dc:?}, the schema says {c:?}",
                    c.name
                )),
                _ => {}
            }
        }
        for c in &d.columns {
            if m.column(&c.name).is_none() {
                out.push(format!("{name}.{}: not in the schema", c.name));
            }
        }
        if d.primary_key != m.primary_key {
            out.push(format!(
                "{name}: primary key {:?}, the schema says {:?}",
                d.primary_key, m.primary_key
            ));
        }
        if d.indexes != m.indexes {
            out.push(format!(
                "{name}: indexes {:?}, the schema says {:?}",
                d.indexes, m.indexes
            ));
        }
        if d.foreign_keys != m.foreign_keys {
            out.push(format!(
                "{name}: foreign keys {:?}, the schema says {:?}",
                d.foreign_keys, m.foreign_keys
            ));
        }
        if d.comment != m.comment {
            out.push(format!(
                "{name}: comment {:?}, the schema says {:?}",
                d.comment, m.comment
            ));
        }
    }
    for name in db.tables.keys() {
        if !model.tables.contains_key(name) {
            out.push(format!("table {name}: not in the schema"));
        }
    }
    out
}

async fn exec(db: &Client, what: &str, text: &str) -> Result<(), String> {
    match db.batch_execute(text).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // Leave the failed transaction, so the scratch schema can still be dropped.
            let _ = db.batch_execute("ROLLBACK").await;
            Err(format!("{what}: PostgreSQL refused it: {}", pg_error(e)))
        }
    }
}

/// Run the round trip in a scratch schema `schema` (created, and dropped at the end).
pub async fn round_trip(
    db: &Client,
    schema: &str,
    from: &Schema,
    to: &Schema,
    steps: &[Step],
) -> Result<Report, String> {
    let version: String = db
        .query_one("SHOW server_version", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    let s = sql::ident(schema);
    exec(
        db,
        "creating the scratch schema",
        &format!("DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}; SET search_path TO {s}"),
    )
    .await?;
    let result = phases(db, schema, from, to, steps).await;
    let _ = db
        .batch_execute(&format!(
            "SET search_path TO DEFAULT; DROP SCHEMA IF EXISTS {s} CASCADE"
        ))
        .await;
    let phases = result?;
    Ok(Report {
        server_version: version,
        ok: phases.iter().all(|p| p.ok),
        phases,
    })
}

async fn phases(
    db: &Client,
    schema: &str,
    from: &Schema,
    to: &Schema,
    steps: &[Step],
) -> Result<Vec<Phase>, String> {
    let mut out = Vec::new();
    let check = |name: &str, diffs: Vec<String>| Phase {
        name: name.to_string(),
        ok: diffs.is_empty(),
        differences: diffs,
    };
    // The starting point: the `from` schema as Ent would have created it.
    for c in sql::diff(&Schema::default(), from) {
        for st in &c.up {
            exec(db, "creating the fromRef schema", st).await?;
        }
    }
    out.push(check(
        "fromRef schema created",
        differences(&introspect(db, schema).await?, from),
    ));
    for st in steps {
        exec(
            db,
            &format!("forward step {}_{}", st.version, st.label),
            &st.up,
        )
        .await?;
    }
    out.push(check(
        "forward: database = toRef schema",
        differences(&introspect(db, schema).await?, to),
    ));
    for st in steps.iter().rev() {
        exec(
            db,
            &format!("rollback step {}_{}", st.version, st.label),
            &st.down,
        )
        .await?;
    }
    out.push(check(
        "rollback: database = fromRef schema",
        differences(&introspect(db, schema).await?, from),
    ));
    for st in steps {
        exec(
            db,
            &format!("forward step {}_{} (again)", st.version, st.label),
            &st.up,
        )
        .await?;
    }
    let again = introspect(db, schema).await?;
    let mut diffs = differences(&again, to);
    let rest = sql::diff(&again, to);
    diffs.extend(rest.iter().map(|c| format!("still to do: {}", c.summary)));
    out.push(check("forward again: nothing left to migrate", diffs));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compare_as_the_catalog_prints_them() {
        assert_eq!(norm_default("'abc'::character varying"), "'abc'");
        assert_eq!(norm_default("'-3'::integer"), "-3");
        assert_eq!(norm_default("(-3)"), "-3");
        assert_eq!(norm_default("true"), "true");
        assert_eq!(norm_default("'a::b'::text"), "'a::b'");
    }
}
