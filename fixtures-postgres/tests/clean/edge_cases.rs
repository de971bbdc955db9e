//! The shapes a schema can take: views, FK cycles, schemas, partitions, inheritance,
//! only/except, hostile names, user triggers and rules.

use fixtures_postgres::clean::{CleanOptions, CleanStrategy};

use crate::support::scratch_database;
use crate::util::*;

/// A fresh database with `ddl`, prepared for `opts` and cleaned once.
async fn database(ddl: &str, opts: &CleanOptions) -> sqlx::PgConnection {
    let (mut conn, _) = scratch_database().await;
    exec(&mut conn, ddl).await;
    prepare(&mut conn, opts).await;
    clean(&mut conn, opts).await;
    conn
}

#[tokio::test]
async fn views_and_materialized_views_are_untouched() {
    const DDL: &str = r#"
        CREATE TABLE t (id serial PRIMARY KEY, v int);
        CREATE VIEW v AS SELECT * FROM t;
        CREATE MATERIALIZED VIEW mv AS SELECT 1 AS one UNION ALL SELECT 2;
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(&mut conn, "INSERT INTO v (v) VALUES (1), (2)").await;
        let report = clean(&mut conn, &opts(strategy)).await;
        assert_eq!(report.tables_considered, 1, "{strategy:?}: {report:?}");
        assert_eq!(count(&mut conn, "t").await, 0, "{strategy:?}");
        assert_eq!(
            count(&mut conn, "mv").await,
            2,
            "{strategy:?}: the matview keeps its rows"
        );
        let views: i64 = scalar(
            &mut conn,
            "SELECT count(*) FROM pg_class WHERE relname IN ('v', 'mv') AND relkind IN ('v', 'm')",
        )
        .await;
        assert_eq!(views, 2, "{strategy:?}");
        let tables = fixtures_postgres::clean::__private::user_tables(&mut conn, &opts(strategy))
            .await
            .unwrap();
        let names: Vec<_> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["t"]);
    }
}

#[tokio::test]
async fn foreign_key_cycles_are_cleaned() {
    const DDL: &str = r#"
        CREATE TABLE a (id serial PRIMARY KEY, b_id int);
        CREATE TABLE b (id serial PRIMARY KEY, a_id int REFERENCES a (id));
        ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b (id);
        CREATE TABLE c (id serial PRIMARY KEY, d_id int);
        CREATE TABLE d (id serial PRIMARY KEY, c_id int REFERENCES c (id) DEFERRABLE INITIALLY DEFERRED);
        ALTER TABLE c ADD FOREIGN KEY (d_id) REFERENCES d (id) DEFERRABLE INITIALLY DEFERRED;
        CREATE TABLE self_ref (id serial PRIMARY KEY, parent_id int REFERENCES self_ref (id));
    "#;
    const ROWS: &str = r#"
        INSERT INTO a (b_id) VALUES (NULL);
        INSERT INTO b (a_id) VALUES (1);
        UPDATE a SET b_id = 1;
        BEGIN;
        INSERT INTO c (id, d_id) VALUES (1, 1);
        INSERT INTO d (id, c_id) VALUES (1, 1);
        COMMIT;
        INSERT INTO self_ref (parent_id) VALUES (NULL);
        INSERT INTO self_ref (parent_id) VALUES (1);
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(&mut conn, ROWS).await;
        clean(&mut conn, &opts(strategy)).await;
        let after = snapshot(&mut conn).await;
        assert!(after.non_empty().is_empty(), "{strategy:?}: {after:?}");
        assert!(after.moved().is_empty(), "{strategy:?}: {after:?}");
        // The constraints still hold after the clean.
        assert!(!try_exec(&mut conn, "INSERT INTO b (a_id) VALUES (7)").await);
    }
}

#[tokio::test]
async fn every_user_schema_is_cleaned() {
    const DDL: &str = r#"
        CREATE SCHEMA billing;
        CREATE SCHEMA "Audit Log";
        CREATE TABLE public.users (id serial PRIMARY KEY);
        CREATE TABLE billing.invoices (id serial PRIMARY KEY, user_id int REFERENCES public.users (id));
        CREATE TABLE billing.users (id serial PRIMARY KEY);
        CREATE TABLE "Audit Log"."Entries" (id bigserial PRIMARY KEY, what text);
        CREATE UNLOGGED TABLE billing.cache (k text PRIMARY KEY);
    "#;
    const ROWS: &str = r#"
        INSERT INTO public.users DEFAULT VALUES;
        INSERT INTO billing.invoices (user_id) VALUES (1);
        INSERT INTO billing.users DEFAULT VALUES;
        INSERT INTO "Audit Log"."Entries" (what) VALUES ('x');
        INSERT INTO billing.cache VALUES ('k');
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(&mut conn, ROWS).await;
        let report = clean(&mut conn, &opts(strategy)).await;
        assert_eq!(report.tables_considered, 5, "{strategy:?}: {report:?}");
        let after = snapshot(&mut conn).await;
        assert!(after.non_empty().is_empty(), "{strategy:?}: {after:?}");
        assert!(after.moved().is_empty(), "{strategy:?}: {after:?}");
    }
}

#[tokio::test]
async fn partitioned_tables_are_cleaned_whichever_way_rows_came_in() {
    const DDL: &str = r#"
        CREATE TABLE events (id bigserial, at int NOT NULL, what text) PARTITION BY RANGE (at);
        CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (10);
        CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10) TO (20)
          PARTITION BY LIST (what);
        CREATE TABLE events_2a PARTITION OF events_2 FOR VALUES IN ('a');
        CREATE TABLE events_2b PARTITION OF events_2 DEFAULT;
        CREATE TABLE events_other PARTITION OF events DEFAULT;
    "#;
    let cases = [
        "INSERT INTO events (at, what) VALUES (1, 'a'), (15, 'a'), (15, 'z'), (99, 'q')",
        "INSERT INTO events_1 (at) VALUES (2)",
        "INSERT INTO events_2b (at, what) VALUES (12, 'b')",
        // Rows inserted into one partition, then moved into another by an UPDATE via the parent.
        "INSERT INTO events_1 (at) VALUES (3); UPDATE events SET at = 50",
    ];
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        for case in cases {
            exec(&mut conn, case).await;
            let report = clean(&mut conn, &opts(strategy)).await;
            assert_eq!(report.tables_considered, 6, "{strategy:?}: {report:?}");
            let after = snapshot(&mut conn).await;
            assert!(
                after.non_empty().is_empty(),
                "{strategy:?} after {case}: {after:?}"
            );
            assert!(
                after.moved().is_empty(),
                "{strategy:?} after {case}: {after:?}"
            );
        }
        let kinds: Vec<_> =
            fixtures_postgres::clean::__private::user_tables(&mut conn, &opts(strategy))
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.name, t.kind))
                .collect();
        use fixtures_postgres::catalog::TableKind::*;
        assert_eq!(
            kinds,
            [
                ("events".to_string(), Partitioned),
                ("events_1".to_string(), Partition),
                ("events_2".to_string(), Partitioned),
                ("events_2a".to_string(), Partition),
                ("events_2b".to_string(), Partition),
                ("events_other".to_string(), Partition),
            ]
        );
    }
}

#[tokio::test]
async fn inheritance_children_are_cleaned() {
    const DDL: &str = r#"
        CREATE TABLE animals (id serial PRIMARY KEY, name text);
        CREATE TABLE dogs (barks boolean) INHERITS (animals);
        CREATE TABLE cats (lives int) INHERITS (animals);
    "#;
    const ROWS: &str = r#"
        INSERT INTO animals (name) VALUES ('generic');
        INSERT INTO dogs (name, barks) VALUES ('rex', true);
        INSERT INTO cats (name, lives) VALUES ('tom', 9);
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(&mut conn, ROWS).await;
        clean(&mut conn, &opts(strategy)).await;
        let after = snapshot(&mut conn).await;
        assert!(after.non_empty().is_empty(), "{strategy:?}: {after:?}");
        assert!(after.moved().is_empty(), "{strategy:?}: {after:?}");
    }
}

#[tokio::test]
async fn only_and_except_are_honoured() {
    const DDL: &str = r#"
        CREATE SCHEMA ref;
        CREATE TABLE ref.countries (code text PRIMARY KEY);
        CREATE TABLE users (id serial PRIMARY KEY, country text REFERENCES ref.countries (code));
        CREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users (id));
        CREATE TABLE settings (id serial PRIMARY KEY, v text);
        CREATE TABLE logs (id serial PRIMARY KEY);
        CREATE TABLE ref.logs (id serial PRIMARY KEY);
    "#;
    const SEED: &str = "INSERT INTO ref.countries VALUES ('fr'), ('de'); \
                        INSERT INTO settings (v) VALUES ('kept');";
    const ROWS: &str = r#"
        INSERT INTO users (country) VALUES ('fr');
        INSERT INTO posts (user_id) VALUES (1);
        INSERT INTO settings (v) VALUES ('test');
        INSERT INTO logs DEFAULT VALUES;
        INSERT INTO ref.logs DEFAULT VALUES;
    "#;
    let cases: Vec<(CleanOptions, &[&str])> = vec![
        // except a table by name, and a whole schema: kept.
        (
            CleanOptions::new().except(["settings", "ref.*"]),
            &["ref.countries", "ref.logs", "settings"],
        ),
        // "logs" names the table in every schema.
        (
            CleanOptions::new().except(["ref.countries", "settings", "logs"]),
            &["logs", "ref.countries", "ref.logs", "settings"],
        ),
        // only: the rest is kept; posts references users, so TRUNCATE users CASCADE empties it.
        (
            CleanOptions::new().only(["users", "public.logs"]),
            &["ref.countries", "ref.logs", "settings"],
        ),
        // An excluded table that references a cleaned one is emptied, as by CASCADE.
        (
            CleanOptions::new().except(["posts", "ref.countries", "settings"]),
            &["ref.countries", "settings"],
        ),
    ];
    for (case, (base, kept)) in cases.into_iter().enumerate() {
        for strategy in STRATEGIES {
            let o = base.clone().strategy(strategy);
            let (mut conn, _) = scratch_database().await;
            exec(&mut conn, DDL).await;
            exec(&mut conn, SEED).await;
            prepare(&mut conn, &o).await;
            clean(&mut conn, &o).await;
            exec(&mut conn, ROWS).await;
            clean(&mut conn, &o).await;
            let after = snapshot(&mut conn).await;
            let mut expected: Vec<String> = kept.iter().map(|t| qualify(t)).collect();
            expected.sort();
            assert_eq!(
                after.non_empty(),
                expected,
                "case {case}, {strategy:?}: {o:?}: {after:?}"
            );
        }
    }
}

fn qualify(t: &str) -> String {
    if t.contains('.') {
        t.to_string()
    } else {
        format!("public.{t}")
    }
}

#[tokio::test]
async fn hostile_names_are_quoted() {
    const DDL: &str = r#"
        CREATE SCHEMA "we""ird; DROP SCHEMA public";
        CREATE TABLE "we""ird; DROP SCHEMA public"."Table With Spaces" (id serial PRIMARY KEY);
        CREATE TABLE "UPPER" (id serial PRIMARY KEY);
        CREATE TABLE "a.b" ("x""y" serial PRIMARY KEY);
        CREATE TABLE "ünïcödé ☃" (id serial PRIMARY KEY, r int REFERENCES "UPPER" (id));
        CREATE TABLE "select" (id serial PRIMARY KEY);
    "#;
    const ROWS: &str = r#"
        INSERT INTO "we""ird; DROP SCHEMA public"."Table With Spaces" DEFAULT VALUES;
        INSERT INTO "UPPER" DEFAULT VALUES;
        INSERT INTO "a.b" DEFAULT VALUES;
        INSERT INTO "ünïcödé ☃" (r) VALUES (1);
        INSERT INTO "select" DEFAULT VALUES;
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(&mut conn, ROWS).await;
        let report = clean(&mut conn, &opts(strategy)).await;
        assert_eq!(report.tables_emptied(), 5, "{strategy:?}: {report:?}");
        let after = snapshot(&mut conn).await;
        assert!(after.non_empty().is_empty(), "{strategy:?}: {after:?}");
        assert!(after.moved().is_empty(), "{strategy:?}: {after:?}");
        let public: bool = scalar(
            &mut conn,
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public')",
        )
        .await;
        assert!(public);
        // only/except name such tables as the catalog stores them.
        let o = opts(strategy).only(["a.b", "we\"ird; DROP SCHEMA public.*"]);
        exec(&mut conn, ROWS).await;
        clean(&mut conn, &o).await;
        let after = snapshot(&mut conn).await;
        assert_eq!(
            after.non_empty(),
            [
                "public.\"UPPER\"",
                "public.\"select\"",
                "public.\"ünïcödé ☃\""
            ],
            "{strategy:?}"
        );
    }
}

#[tokio::test]
async fn user_triggers_and_rules_do_not_get_in_the_way() {
    const DDL: &str = r#"
        CREATE TABLE audit (id serial PRIMARY KEY, what text);
        CREATE TABLE guarded (id serial PRIMARY KEY);
        CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'deleting from % is forbidden', TG_TABLE_NAME; END $$;
        CREATE TRIGGER no_delete BEFORE DELETE ON guarded FOR EACH ROW EXECUTE FUNCTION no_delete();
        CREATE FUNCTION log_delete() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN INSERT INTO audit (what) VALUES ('deleted'); RETURN OLD; END $$;
        CREATE TABLE logged (id serial PRIMARY KEY);
        CREATE TRIGGER log_delete AFTER DELETE ON logged FOR EACH ROW EXECUTE FUNCTION log_delete();
        CREATE TABLE soft (id serial PRIMARY KEY, deleted boolean NOT NULL DEFAULT false);
        CREATE RULE soft_delete AS ON DELETE TO soft DO INSTEAD UPDATE soft SET deleted = true;
        CREATE TABLE always (id serial PRIMARY KEY);
        CREATE TRIGGER no_delete BEFORE DELETE ON always FOR EACH ROW EXECUTE FUNCTION no_delete();
        ALTER TABLE always ENABLE ALWAYS TRIGGER no_delete;
        CREATE TABLE always_rule (id serial PRIMARY KEY);
        CREATE RULE keep AS ON DELETE TO always_rule DO INSTEAD NOTHING;
        ALTER TABLE always_rule ENABLE ALWAYS RULE keep;
    "#;
    const ROWS: &str = r#"
        INSERT INTO guarded DEFAULT VALUES;
        INSERT INTO logged DEFAULT VALUES;
        INSERT INTO soft DEFAULT VALUES;
        INSERT INTO always DEFAULT VALUES;
        INSERT INTO always_rule DEFAULT VALUES;
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(&mut conn, ROWS).await;
        let report = clean(&mut conn, &opts(strategy)).await;
        let after = snapshot(&mut conn).await;
        assert!(
            after.non_empty().is_empty(),
            "{strategy:?}: {after:?} {report:?}"
        );
        assert!(after.moved().is_empty(), "{strategy:?}: {after:?}");
        if strategy == CleanStrategy::Auto {
            // A DELETE that would fire on replicas is not tried: those tables are truncated.
            assert_eq!(
                report.truncated,
                ["public.always", "public.always_rule"],
                "{report:?}"
            );
        }
    }
}

#[tokio::test]
async fn tables_of_extensions_and_temporary_tables_are_left_alone() {
    const DDL: &str = r#"
        CREATE TABLE app (id serial PRIMARY KEY);
        -- A table that belongs to an extension (as PostGIS' spatial_ref_sys does).
        CREATE TABLE ext_data (code int PRIMARY KEY);
        ALTER EXTENSION plpgsql ADD TABLE ext_data;
        INSERT INTO ext_data VALUES (4326);
    "#;
    for strategy in STRATEGIES {
        let mut conn = database(DDL, &opts(strategy)).await;
        exec(
            &mut conn,
            "CREATE TEMPORARY TABLE mine (v int); INSERT INTO mine VALUES (1);
             INSERT INTO app DEFAULT VALUES; INSERT INTO ext_data VALUES (3857);",
        )
        .await;
        let report = clean(&mut conn, &opts(strategy)).await;
        assert_eq!(report.tables_considered, 1, "{strategy:?}: {report:?}");
        assert_eq!(count(&mut conn, "app").await, 0, "{strategy:?}");
        assert_eq!(count(&mut conn, "ext_data").await, 2, "{strategy:?}");
        assert_eq!(count(&mut conn, "pg_temp.mine").await, 1, "{strategy:?}");
    }
}
