//! Generates the app's migration: 200 tables of the shape of `bench-suite`'s `wide_schema`
//! (identity keys, a tree of nullable foreign keys — table `i` refers to table `i / 2` — and
//! an index on each key), written to `$OUT_DIR/migrations/0001_wide_schema.sql`, where the
//! tests' `Databases::migrations_dir` reads it.

use std::fmt::Write as _;
use std::path::PathBuf;

/// How many tables the schema has (`w001` … `w200`).
const TABLES: usize = 200;

/// The statements of the schema (as `bench_suite::wide_schema(n)`).
fn wide_schema(n: usize) -> String {
    let mut sql = String::new();
    for i in 1..=n {
        let parent = if i > 1 {
            format!(" parent_id bigint REFERENCES w{:03} (id),", i / 2)
        } else {
            String::new()
        };
        let _ = writeln!(
            sql,
            "CREATE TABLE w{i:03} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,{parent} \
             name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
        );
        if i > 1 {
            let _ = writeln!(sql, "CREATE INDEX ON w{i:03} (parent_id);");
        }
    }
    sql
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let dir = PathBuf::from(out).join("migrations");
    std::fs::create_dir_all(&dir).expect("creating the migrations folder");
    std::fs::write(dir.join("0001_wide_schema.sql"), wide_schema(TABLES))
        .expect("writing the migration");
}
