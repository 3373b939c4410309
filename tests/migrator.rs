//! The migrator's SQL for each schema change of the fixture (Simple Admin Core layout), its lint
//! labels, and its round trip on a real PostgreSQL (Debian's, started as a local process on a
//! free port): the fromRef schema, forward, rollback, forward again, each compared with the
//! catalog.

use devagents::agents::migrator::{ent, files, sql, validate};
use devagents::api::MigrationFormat;
use devagents::services::postgres::LocalServer;
use devagents::testing::migrator_cases::{Dept, all_changes, cases};

fn schema(d: &Dept) -> sql::Schema {
    ent::schema_of_sources(&d.sources()).unwrap()
}

#[test]
fn every_change_gives_its_sql_and_labels() {
    let from = schema(&Dept::default());
    assert!(cases().len() >= 11);
    for case in cases() {
        let changes = sql::diff(&from, &schema(&case.to));
        let up: Vec<&str> = changes
            .iter()
            .flat_map(|c| c.up.iter().map(|s| s.as_str()))
            .collect();
        assert_eq!(up, case.up, "{}", case.name);
        let lints: Vec<String> = changes
            .iter()
            .flat_map(|c| c.lints.iter().map(|l| format!("{}:{}", l.category, l.code)))
            .collect();
        assert_eq!(lints, case.lints, "{}", case.name);
    }
}

#[test]
fn files_keep_concurrent_index_changes_apart() {
    let changes = sql::diff(&schema(&Dept::default()), &schema(&all_changes()));
    let steps = files::steps(&changes, "add_department", 20261202101500);
    let out = files::render(MigrationFormat::GolangMigrate, &steps, &[]);
    let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names[0], "20261202101500_add_department.up.sql");
    assert_eq!(names[1], "20261202101500_add_department.down.sql");
    let up = &out[0].text;
    assert!(up.starts_with("-- add_department: forward"), "{up}");
    assert!(
        up.contains("BEGIN;\nSET LOCAL lock_timeout = '5s';"),
        "{up}"
    );
    assert!(up.trim_end().ends_with("COMMIT;"), "{up}");
    assert!(!up.contains("CONCURRENTLY"), "{up}");
    assert!(up.contains("[destructive:drop-column]"), "{up}");
    let down = &out[1].text;
    assert!(
        down.contains("-- DATA LOSS: rolling back adds sys_departments.remark again, empty"),
        "{down}"
    );
    // Rollbacks run in reverse: the last forward change is undone first.
    let first_undo = down.find("-- undo:").unwrap();
    assert!(
        down[first_undo..].starts_with("-- undo: users.department_users: new column"),
        "{down}"
    );
    let at = |s: &str| down.find(s).unwrap_or_else(|| panic!("{s}: {down}"));
    assert!(at("-- undo: sys_departments.remark") < at("-- undo: create table sys_positions"));
    assert!(
        down.contains("-- FAILS IF: NULLs were written to sys_departments.phone"),
        "{down}"
    );
    // Each CONCURRENTLY statement alone in a later version.
    let concurrent: Vec<&files::File> = out[2..].iter().collect();
    assert_eq!(concurrent.len(), 2 * 3, "{names:?}");
    for f in &concurrent {
        let statements = f
            .text
            .lines()
            .filter(|l| !l.starts_with("--") && !l.is_empty())
            .count();
        assert_eq!(statements, 1, "{}: {}", f.name, f.text);
        assert!(!f.text.contains("BEGIN"), "{}", f.name);
    }
    assert!(
        names.contains(&"20261202101501_add_department_index_department_phone_dropped.up.sql"),
        "{names:?}"
    );

    let atlas = files::render(
        MigrationFormat::Atlas,
        &steps,
        &[(
            "20250101000000_init.sql".into(),
            b"CREATE TABLE x ();\n".to_vec(),
        )],
    );
    let sum = atlas.iter().find(|f| f.name == "atlas.sum").unwrap();
    let lines: Vec<&str> = sum.text.lines().collect();
    assert!(lines[0].starts_with("h1:"));
    assert!(
        lines[1].starts_with("20250101000000_init.sql h1:"),
        "{}",
        sum.text
    );
    assert_eq!(lines.len(), 1 + 1 + steps.len());
    assert!(
        atlas
            .iter()
            .filter(|f| f.text.starts_with("-- atlas:txmode none"))
            .count()
            == 3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_on_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        LocalServer::start(dir.path()).expect("PostgreSQL (e2e/install-deps.sh installs it)");
    let db = validate::connect(&server.url).await.unwrap();
    let from = schema(&Dept::default());
    let mut all: Vec<(String, Dept)> = cases()
        .into_iter()
        .map(|c| (c.name.to_string(), c.to))
        .collect();
    all.push(("all_changes".into(), all_changes()));
    for (i, (name, to)) in all.iter().enumerate() {
        let to = schema(to);
        let changes = sql::diff(&from, &to);
        let steps = files::steps(&changes, name, 20261202000000 + i as u64 * 100);
        let report = validate::round_trip(&db, &format!("case_{i}"), &from, &to, &steps)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.ok, "{name}: {report:#?}");
        assert_eq!(report.phases.len(), 4);
        assert!(
            report.server_version.starts_with("15"),
            "{}",
            report.server_version
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_statement_fails_with_postgresqls_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path()).unwrap();
    let db = validate::connect(&server.url).await.unwrap();
    let from = schema(&Dept::default());
    let to = schema(
        &cases()
            .into_iter()
            .find(|c| c.name == "type_change")
            .unwrap()
            .to,
    );
    let mut steps = files::steps(&sql::diff(&from, &to), "bad", 1);
    steps[0].up = steps[0]
        .up
        .replace("TYPE bigint USING", "TYPE no_such_type USING");
    let e = validate::round_trip(&db, "refused", &from, &to, &steps)
        .await
        .unwrap_err();
    assert!(
        e.contains("forward step 1_bad: PostgreSQL refused it"),
        "{e}"
    );
    assert!(e.contains("no_such_type"), "{e}");
    // The scratch schema is gone.
    let n: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'refused'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

/// With `foreignKeys: true` an edge also gets its constraint: added NOT VALID in the
/// transaction, validated in a step of its own; removing the edge drops it first. Both
/// directions round-trip on PostgreSQL, the catalog's constraints compared with the model.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_keys_are_added_not_valid_then_validated() {
    let fk = |d: &Dept| ent::schema_of_sources_with(&d.sources(), true).unwrap();
    let (from, to) = (fk(&Dept::default()), fk(&all_changes()));
    let users = &to.tables["users"];
    assert_eq!(users.foreign_keys.len(), 1, "{users:#?}");
    let key = &users.foreign_keys[0];
    assert_eq!(key.name, "users_sys_departments_users");
    assert_eq!(
        (
            key.column.as_str(),
            key.ref_table.as_str(),
            key.on_delete.as_str()
        ),
        ("department_users", "sys_departments", "SET NULL")
    );
    // Off by default: no constraint at all.
    assert!(
        schema(&all_changes()).tables["users"]
            .foreign_keys
            .is_empty()
    );

    let changes = sql::diff(&from, &to);
    let add = changes
        .iter()
        .position(|c| c.up.iter().any(|s| s.contains("FOREIGN KEY")))
        .unwrap();
    assert_eq!(
        changes[add].up,
        vec![
            r#"ALTER TABLE "users" ADD CONSTRAINT "users_sys_departments_users" FOREIGN KEY ("department_users") REFERENCES "sys_departments" ("id") ON DELETE SET NULL NOT VALID;"#
        ]
    );
    assert!(!changes[add].concurrent);
    // The column it constrains comes first.
    let col = changes
        .iter()
        .position(|c| c.summary.starts_with("users.department_users: new column"))
        .unwrap();
    assert!(col < add);
    let validate = changes
        .iter()
        .find(|c| c.up[0].contains("VALIDATE CONSTRAINT"))
        .unwrap();
    assert!(validate.concurrent, "validated outside the transaction");
    assert_eq!(
        validate.lints[0].code, "validate-foreign-key",
        "{validate:?}"
    );
    let steps = files::steps(&changes, "fk", 20261202000000);
    let tx = &steps[0];
    assert!(tx.up.contains("NOT VALID"));
    assert!(!tx.up.contains("VALIDATE CONSTRAINT"), "{}", tx.up);
    assert!(
        steps
            .iter()
            .any(|s| !s.transactional && s.up.contains("VALIDATE CONSTRAINT"))
    );

    // Removing the edge drops the constraint before its column.
    let back = sql::diff(&to, &from);
    assert!(back[0].up[0].contains("DROP CONSTRAINT IF EXISTS \"users_sys_departments_users\""));

    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path()).unwrap();
    let db = validate::connect(&server.url).await.unwrap();
    for (i, (a, b)) in [(&from, &to), (&to, &from)].into_iter().enumerate() {
        let steps = files::steps(&sql::diff(a, b), "fk", 20261202000000);
        let report = validate::round_trip(&db, &format!("fk_{i}"), a, b, &steps)
            .await
            .unwrap_or_else(|e| panic!("{i}: {e}"));
        assert!(report.ok, "{i}: {report:#?}");
    }
}
