//! A fingerprint of a whole database, for the restore property: every table's rows as text in
//! a stable order, every sequence's `last_value, is_called` read from the sequence relation
//! itself, every materialized view's rows, and the schema from the catalog (relations,
//! partitions and parents, columns, constraints, indexes, triggers, rules, policies,
//! functions, grants). The framework's own `_fixtures` schema and temporary objects are left
//! out; its tracking triggers on the user's tables are in.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;

/// The state of a database, by section: `schema …`, `rows <table>`, `seq <sequence>`,
/// `matview <view>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub BTreeMap<String, String>);

/// The user's relations: not in a system schema, not in `_fixtures`, not temporary.
const USER_RELATIONS: &str = "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', '_fixtures')
    AND c.relpersistence <> 't'";

/// The schema, one `(section, text)` row per section, each sorted (byte order).
const CATALOG: &str = r#"
WITH rel AS (SELECT c.* FROM {rel}),
ns AS (SELECT oid, nspname FROM pg_namespace
       WHERE nspname !~ '^pg_' AND nspname NOT IN ('information_schema', '_fixtures'))
SELECT 'schema relations', string_agg(concat_ws(' ', r.oid::regclass::text, r.relkind,
    r.relpersistence, r.relispartition, pg_get_expr(r.relpartbound, r.oid), r.relrowsecurity,
    r.relacl::text, r.reloptions::text,
    (SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)
       FROM pg_inherits i WHERE i.inhrelid = r.oid),
    CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END,
    obj_description(r.oid, 'pg_class')), E'\n' ORDER BY r.oid::regclass::text COLLATE "C")
  FROM rel r
UNION ALL
SELECT 'schema columns', string_agg(concat_ws(' ', a.attrelid::regclass::text, a.attnum,
    a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
    a.attgenerated, a.attisdropped, a.attislocal, a.attinhcount, a.attacl::text,
    pg_get_expr(d.adbin, d.adrelid)), E'\n'
    ORDER BY a.attrelid::regclass::text COLLATE "C", a.attnum)
  FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attnum > 0
UNION ALL
SELECT 'schema constraints', string_agg(concat_ws(' ', k.conrelid::regclass::text,
    k.contypid::regtype::text, k.conname, pg_get_constraintdef(k.oid), k.convalidated),
    E'\n' ORDER BY k.conrelid::regclass::text COLLATE "C", k.conname COLLATE "C")
  FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace
UNION ALL
SELECT 'schema indexes', string_agg(pg_get_indexdef(i.indexrelid) || ' ' || i.indisvalid,
    E'\n' ORDER BY pg_get_indexdef(i.indexrelid) COLLATE "C")
  FROM pg_index i JOIN rel r ON r.oid = i.indrelid
UNION ALL
SELECT 'schema triggers', string_agg(pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text, E'\n'
    ORDER BY pg_get_triggerdef(t.oid) COLLATE "C")
  FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'schema rules', string_agg(w.rulename || ' ' || w.ev_enabled::text || ' '
    || pg_get_ruledef(w.oid), E'\n' ORDER BY w.ev_class::regclass::text COLLATE "C",
    w.rulename COLLATE "C")
  FROM pg_rewrite w JOIN rel r ON r.oid = w.ev_class WHERE w.rulename <> '_RETURN'
UNION ALL
SELECT 'schema policies', string_agg(concat_ws(' ', p.polrelid::regclass::text, p.polname,
    p.polcmd, p.polpermissive, pg_get_expr(p.polqual, p.polrelid),
    pg_get_expr(p.polwithcheck, p.polrelid)), E'\n' ORDER BY p.polname COLLATE "C")
  FROM pg_policy p JOIN rel r ON r.oid = p.polrelid
UNION ALL
SELECT 'schema functions', string_agg(concat_ws(' ', p.oid::regprocedure::text, p.prokind,
    p.prosecdef, p.provolatile, p.proconfig::text, p.proacl::text, md5(p.prosrc)), E'\n'
    ORDER BY p.oid::regprocedure::text COLLATE "C")
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
UNION ALL
SELECT 'schema types', string_agg(concat_ws(' ', y.oid::regtype::text, y.typtype,
    (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
      WHERE e.enumtypid = y.oid)), E'\n' ORDER BY y.oid::regtype::text COLLATE "C")
  FROM pg_type y JOIN ns ON ns.oid = y.typnamespace WHERE y.typtype IN ('e', 'd')
UNION ALL
SELECT 'schema sequences', string_agg(concat_ws(' ', q.seqrelid::regclass::text, q.seqtypid,
    q.seqstart, q.seqincrement, q.seqmax, q.seqmin, q.seqcache, q.seqcycle), E'\n'
    ORDER BY q.seqrelid::regclass::text COLLATE "C")
  FROM pg_sequence q JOIN rel r ON r.oid = q.seqrelid
UNION ALL
SELECT 'schema namespaces', string_agg(nspname || ' ' || coalesce(
    (SELECT nspacl::text FROM pg_namespace x WHERE x.oid = ns.oid), ''), E'\n'
    ORDER BY nspname COLLATE "C")
  FROM ns
"#;

/// Takes the fingerprint: two round trips for the catalog and the list of relations, one for
/// all the data.
pub async fn fingerprint(conn: &mut PgConnection) -> Fingerprint {
    let mut sections = BTreeMap::new();
    let catalog: Vec<(String, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(
        CATALOG.replace("{rel}", USER_RELATIONS),
    ))
    .fetch_all(&mut *conn)
    .await
    .expect("read the catalog");
    for (section, text) in catalog {
        sections.insert(section, text.unwrap_or_default());
    }
    let relations: Vec<(String, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relispopulated
         FROM {USER_RELATIONS} AND c.relkind IN ('r', 'm', 'S')"
    )))
    .fetch_all(&mut *conn)
    .await
    .expect("list the relations");
    let parts: Vec<String> = relations
        .iter()
        .map(|(name, kind, populated)| {
            let literal = name.replace('\'', "''");
            match kind.as_str() {
                "S" => {
                    format!("SELECT 'seq {literal}', last_value || ' ' || is_called FROM {name}")
                }
                "m" if !populated => format!("SELECT 'matview {literal}', 'not populated'"),
                kind => format!(
                    "SELECT '{section} {literal}', count(*) || E' rows\\n' \
                     || coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), '') \
                     FROM {only}{name} t",
                    section = if kind == "m" { "matview" } else { "rows" },
                    only = if kind == "r" { "ONLY " } else { "" },
                ),
            }
        })
        .collect();
    if !parts.is_empty() {
        let data: Vec<(String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(parts.join("\nUNION ALL\n")))
                .fetch_all(&mut *conn)
                .await
                .expect("read the data");
        sections.extend(data);
    }
    Fingerprint(sections)
}

impl Fingerprint {
    /// The sections that differ (or exist in only one of the two).
    pub fn changed(&self, other: &Fingerprint) -> BTreeSet<String> {
        let keys: BTreeSet<&String> = self.0.keys().chain(other.0.keys()).collect();
        keys.into_iter()
            .filter(|k| self.0.get(*k) != other.0.get(*k))
            .cloned()
            .collect()
    }

    /// The data sections (`rows …`, `seq …`, `matview …`).
    pub fn data_sections(&self) -> BTreeSet<String> {
        self.0
            .keys()
            .filter(|k| !k.starts_with("schema "))
            .cloned()
            .collect()
    }

    /// What differs, readably: per section, the lines only in `self` (`-`) and only in
    /// `other` (`+`); `None` when equal.
    pub fn diff(&self, other: &Fingerprint) -> Option<String> {
        let changed = self.changed(other);
        if changed.is_empty() {
            return None;
        }
        let mut out = String::new();
        for key in changed {
            out.push_str(&format!("[{key}]\n"));
            let lines = |f: &Fingerprint| -> BTreeMap<String, i32> {
                let mut m = BTreeMap::new();
                for l in
                    f.0.get(&key)
                        .map(String::as_str)
                        .unwrap_or("<absent>")
                        .lines()
                {
                    *m.entry(l.to_string()).or_insert(0) += 1;
                }
                m
            };
            let (a, b) = (lines(self), lines(other));
            for (l, n) in &a {
                for _ in *b.get(l).unwrap_or(&0)..*n {
                    out.push_str(&format!("  - {}\n", clip(l)));
                }
            }
            for (l, n) in &b {
                for _ in *a.get(l).unwrap_or(&0)..*n {
                    out.push_str(&format!("  + {}\n", clip(l)));
                }
            }
        }
        Some(out)
    }
}

/// A line cut to a readable length.
fn clip(line: &str) -> String {
    if line.chars().count() <= 160 {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(160).collect::<String>())
    }
}
