//! The statements `clean` sends, built by small pure functions.

use crate::catalog::TableRef;

use super::CleanStrategy;

/// One round trip for `Auto` and `Delete`: the function `prepare` installed.
pub(crate) const CALL_CLEAN: &str = "SELECT considered, deleted, truncated, sequences, note, \
     restored, replace FROM _fixtures.clean($1, $2::text[], $3::text[])";

/// The mode argument of `_fixtures.clean` for a strategy that uses it.
pub(crate) fn mode(strategy: CleanStrategy) -> Option<&'static str> {
    match strategy {
        CleanStrategy::Auto => Some("auto"),
        CleanStrategy::Delete => Some("delete"),
        CleanStrategy::Truncate | CleanStrategy::None => None,
    }
}

/// The literal `Truncate` strategy: one `TRUNCATE` of every listed table, restarting owned
/// sequences and cascading along foreign keys; `None` when there is nothing to truncate.
pub(crate) fn truncate_all(tables: &[TableRef]) -> Option<String> {
    if tables.is_empty() {
        return None;
    }
    let names: Vec<String> = tables.iter().map(TableRef::qualified).collect();
    Some(format!(
        "TRUNCATE TABLE {} RESTART IDENTITY CASCADE",
        names.join(", ")
    ))
}

/// Whether an error says the `_fixtures` objects are missing (never prepared, or dropped).
pub(crate) fn is_not_installed(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("42883") /* undefined_function */
            | Some("3F000") /* invalid_schema_name */
            | Some("42P01") /* undefined_table */
    )
}

/// Whether an error says this role lacks a privilege.
pub(crate) fn is_privilege(code: Option<&str>) -> bool {
    code == Some("42501")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableKind;

    fn table(schema: &str, name: &str) -> TableRef {
        TableRef {
            schema: schema.into(),
            name: name.into(),
            kind: TableKind::Table,
        }
    }

    #[test]
    fn truncate_names_every_table_quoted_in_one_statement() {
        let sql = truncate_all(&[table("public", "users"), table("My App", "a\"b")]).unwrap();
        assert_eq!(
            sql,
            "TRUNCATE TABLE \"public\".\"users\", \"My App\".\"a\"\"b\" RESTART IDENTITY CASCADE"
        );
    }

    #[test]
    fn truncate_of_nothing_is_no_statement() {
        assert_eq!(truncate_all(&[]), None);
    }

    #[test]
    fn only_auto_and_delete_call_the_function() {
        assert_eq!(mode(CleanStrategy::Auto), Some("auto"));
        assert_eq!(mode(CleanStrategy::Delete), Some("delete"));
        assert_eq!(mode(CleanStrategy::Truncate), None);
        assert_eq!(mode(CleanStrategy::None), None);
    }

    #[test]
    fn missing_objects_and_missing_privileges_are_recognised() {
        assert!(is_not_installed(Some("42883")));
        assert!(is_not_installed(Some("3F000")));
        assert!(!is_not_installed(Some("23505")));
        assert!(!is_not_installed(None));
        assert!(is_privilege(Some("42501")));
        assert!(!is_privilege(Some("42883")));
    }
}
