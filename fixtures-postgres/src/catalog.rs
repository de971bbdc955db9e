//! Listing the tables to clean from the catalog.
//!
//! The tables are read from `pg_class`, never from a list kept by the framework, so a table a
//! migration, a seed or a test created is found like any other (the cleaning function keeps
//! what it read only until the next DDL command in the database).
//!
//! What counts as a user table:
//! - ordinary tables, partitioned tables and their partitions (`relkind` `r` and `p`), logged or
//!   unlogged, in every schema except `pg_catalog`, `information_schema`, `pg_toast`, the
//!   temporary schemas and `_fixtures` (the framework's own);
//! - not sqlx's migrations table `_sqlx_migrations` (in any schema);
//! - not the tables an extension owns (PostGIS' `spatial_ref_sys`, for example): they hold
//!   the extension's data, not the test's;
//! - not views, materialized views, foreign tables, sequences or temporary tables. A
//!   materialized view keeps whatever it held when it was last refreshed: refresh it in the
//!   test that needs it.
//!
//! # Selecting tables: `only` and `except`
//! An entry of [`CleanOptions::only`](crate::clean::CleanOptions::only) or
//! [`CleanOptions::except`](crate::clean::CleanOptions::except) names a table as the catalog
//! stores it, without quotes and case-sensitively (what `\dt` shows): `"table"` matches that
//! table in every schema, `"schema.table"` only in that schema, and `"schema.*"` every table
//! of the schema. An entry that matches a partitioned table or an inheritance parent also
//! matches its partitions and children. A table is listed when `only` is empty or matches it,
//! and `except` does not.

use sqlx::PgConnection;

use crate::sql::quote_literal;

pub use crate::sql::quote_ident;

/// A table found in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    /// Its schema, as the catalog stores it (unquoted).
    pub schema: String,
    /// Its name, as the catalog stores it (unquoted).
    pub name: String,
    /// What kind of table it is.
    pub kind: TableKind,
}

/// The kinds of table the cleaning handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    /// An ordinary table (also an inheritance parent or child).
    Table,
    /// A partitioned table: it holds no rows itself, its partitions do. A partition that is
    /// itself partitioned is listed as `Partitioned`.
    Partitioned,
    /// A partition of a partitioned table.
    Partition,
}

impl TableRef {
    /// The table's name for SQL: `"schema"."name"`, both parts quoted.
    ///
    /// # Examples
    ///
    /// ```
    /// use fixtures_postgres::catalog::{TableKind, TableRef};
    ///
    /// let t = TableRef { schema: "app".into(), name: "Order Items".into(), kind: TableKind::Table };
    /// assert_eq!(t.qualified(), r#""app"."Order Items""#);
    /// ```
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// The schemas never cleaned, besides those starting with `pg_` (which users cannot create).
pub(crate) const SKIPPED_SCHEMAS: [&str; 2] = ["information_schema", "_fixtures"];

/// The tables never cleaned, in any schema.
pub(crate) const SKIPPED_TABLES: [&str; 1] = ["_sqlx_migrations"];

/// The CTEs (for a `WITH RECURSIVE`) that select the user tables: `tbl` lists them all (`oid`,
/// `nspname`, `relname`), `sel` holds the `oid`s that `only` / `except` select. `only` and
/// `except` are SQL expressions of type `text[]` (a bind parameter, a PL/pgSQL variable).
///
/// The same text is used by [`user_tables`] and by the cleaning function the framework
/// installs, so both agree on what a user table is.
pub(crate) fn selection_ctes(only: &str, except: &str) -> String {
    let skipped_schemas = sql_string_list(&SKIPPED_SCHEMAS);
    let skipped_tables = sql_string_list(&SKIPPED_TABLES);
    let matches = |list: &str| {
        format!(
            "bool_or(a.relname = ANY ({list}) OR a.nspname || '.' || a.relname = ANY ({list}) \
             OR a.nspname || '.*' = ANY ({list}))"
        )
    };
    format!(
        "tbl AS (
    SELECT c.oid, n.nspname::text AS nspname, c.relname::text AS relname
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
      AND n.nspname !~ '^pg_' AND n.nspname NOT IN ({skipped_schemas})
      AND c.relname NOT IN ({skipped_tables})
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        AND d.objid = c.oid AND d.deptype = 'e')
  ),
  up (oid, anc) AS (
    SELECT t.oid, t.oid FROM tbl t
    WHERE pg_catalog.cardinality({only}) + pg_catalog.cardinality({except}) > 0
    UNION
    SELECT u.oid, i.inhparent FROM up u JOIN pg_catalog.pg_inherits i ON i.inhrelid = u.anc
  ),
  hit (oid, only_hit, except_hit) AS (
    SELECT u.oid, {only_hit}, {except_hit}
    FROM up u JOIN tbl a ON a.oid = u.anc GROUP BY u.oid
  ),
  sel AS (
    SELECT t.oid FROM tbl t LEFT JOIN hit h ON h.oid = t.oid
    WHERE (pg_catalog.cardinality({only}) = 0 OR h.only_hit)
      AND NOT coalesce(h.except_hit, false)
  )",
        only_hit = matches(only),
        except_hit = matches(except),
    )
}

/// The query behind [`user_tables`]: `$1` is `only`, `$2` is `except` (both `text[]`).
pub(crate) fn user_tables_sql() -> String {
    format!(
        "WITH RECURSIVE {}
SELECT n.nspname::text, c.relname::text, c.relkind::text, c.relispartition,
  pg_catalog.format('%I.%I', n.nspname, c.relname)
FROM sel JOIN pg_catalog.pg_class c ON c.oid = sel.oid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1, 2",
        selection_ctes("$1::text[]", "$2::text[]")
    )
}

/// `'a', 'b'` for an `IN (...)` list; the values are constants of this crate.
fn sql_string_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| quote_literal(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_of(relkind: &str, is_partition: bool) -> TableKind {
    match (relkind, is_partition) {
        ("p", _) => TableKind::Partitioned,
        (_, true) => TableKind::Partition,
        _ => TableKind::Table,
    }
}

/// The user tables of the database `conn` is connected to that `only` and `except` select
/// (the lists of [`CleanOptions`](crate::clean::CleanOptions)), sorted by schema and name; see the [module docs](self) for what is listed.
///
/// # Errors
///
/// The server's error if the catalog query fails.
pub(crate) async fn user_tables(
    conn: &mut PgConnection,
    only: &[String],
    except: &[String],
) -> Result<Vec<TableRef>, sqlx::Error> {
    Ok(user_tables_named(conn, only, except)
        .await?
        .into_iter()
        .map(|(table, _)| table)
        .collect())
}

/// [`user_tables`], each with its name as Postgres' `format('%I.%I')` writes it (quoted only
/// where needed), the form the cleaning reports use.
pub(crate) async fn user_tables_named(
    conn: &mut PgConnection,
    only: &[String],
    except: &[String],
) -> Result<Vec<(TableRef, String)>, sqlx::Error> {
    let rows: Vec<(String, String, String, bool, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(user_tables_sql()))
            .bind(only)
            .bind(except)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, relkind, is_partition, display)| {
            let table = TableRef {
                kind: kind_of(&relkind, is_partition),
                schema,
                name,
            };
            (table, display)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_wraps_and_doubles_quotes() {
        assert_eq!(quote_ident("t"), "\"t\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("\""), "\"\"\"\"");
        assert_eq!(quote_ident("Mixed Case; DROP"), "\"Mixed Case; DROP\"");
        assert_eq!(quote_ident("ünï"), "\"ünï\"");
    }

    #[test]
    fn qualified_quotes_both_parts_and_display_does_not() {
        let t = TableRef {
            schema: "My Schema".into(),
            name: "a\"b".into(),
            kind: TableKind::Table,
        };
        assert_eq!(t.qualified(), "\"My Schema\".\"a\"\"b\"");
        assert_eq!(t.to_string(), "My Schema.a\"b");
    }

    #[test]
    fn kinds_follow_relkind_and_relispartition() {
        assert_eq!(kind_of("r", false), TableKind::Table);
        assert_eq!(kind_of("r", true), TableKind::Partition);
        assert_eq!(kind_of("p", false), TableKind::Partitioned);
        assert_eq!(kind_of("p", true), TableKind::Partitioned);
    }

    #[test]
    fn selection_skips_system_schemas_migrations_and_extension_tables() {
        let sql = selection_ctes("$1", "$2");
        assert!(sql.contains("NOT IN ('information_schema', '_fixtures')"));
        assert!(sql.contains("c.relname NOT IN ('_sqlx_migrations')"));
        assert!(sql.contains("!~ '^pg_'"));
        assert!(sql.contains("relpersistence <> 't'"));
        assert!(sql.contains("d.deptype = 'e'"));
        assert!(sql.contains("relkind IN ('r', 'p')"));
    }

    #[test]
    fn selection_uses_the_given_list_expressions() {
        let sql = selection_ctes("p_only", "p_except");
        assert!(sql.contains("a.relname = ANY (p_only)"));
        assert!(sql.contains("a.nspname || '.*' = ANY (p_except)"));
        assert!(!sql.contains("$1"));
    }

    #[test]
    fn user_tables_sql_binds_only_and_except_as_text_arrays() {
        let sql = user_tables_sql();
        assert!(sql.starts_with("WITH RECURSIVE tbl AS ("));
        assert!(sql.contains("$1::text[]") && sql.contains("$2::text[]"));
        assert!(sql.trim_end().ends_with("ORDER BY 1, 2"));
    }

    #[test]
    fn string_lists_are_quoted_literals() {
        assert_eq!(sql_string_list(&["a", "o'b"]), "'a', 'o''b'");
    }
}
