//! Database names: derived from what they are for, unique, within Postgres' 63-byte limit.

use sha2::{Digest, Sha256};

/// Postgres truncates identifiers longer than this many bytes.
pub(crate) const MAX_IDENT: usize = 63;

/// A short hex digest of `parts`.
pub(crate) fn digest(parts: &[&str], hex_len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .flat_map(|b| [b >> 4, b & 15])
        .take(hex_len)
        .map(|n| char::from_digit(u32::from(n), 16).unwrap_or('0'))
        .collect()
}

/// Lowercase ASCII letters, digits and `_` only (quotes, semicolons, spaces and non-ASCII
/// become `_`, repeated `_` collapse).
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_matches('_').to_owned()
}

/// `prefix` + the readable tail of `label` + `_` + a digest of `unique`, at most 63 bytes.
pub(crate) fn database_name(prefix: &str, label: &str, unique: &[&str]) -> String {
    let hash = digest(unique, 12);
    let room = MAX_IDENT - prefix.len() - hash.len() - 1;
    let readable = sanitize(label);
    // Keep the end of a test path: its last segments tell most.
    let start = readable.len().saturating_sub(room);
    let tail = readable[start..].trim_start_matches('_');
    if tail.is_empty() {
        format!("{prefix}{hash}")
    } else {
        format!("{prefix}{tail}_{hash}")
    }
}

/// A stable advisory-lock key for a name.
pub(crate) fn lock_key(name: &str) -> i64 {
    let d = Sha256::digest(name.as_bytes());
    i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Takes the session advisory lock named `name` (waits for it, within the connection's
/// `lock_timeout`).
pub(crate) async fn advisory_lock(
    conn: &mut sqlx::PgConnection,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key(name))
        .execute(conn)
        .await
        .map(drop)
}

/// Takes the session advisory lock named `name` if it is free; false when another session
/// holds it.
pub(crate) async fn try_advisory_lock(
    conn: &mut sqlx::PgConnection,
    name: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(lock_key(name))
        .fetch_one(conn)
        .await
}

/// Gives the advisory lock named `name` back; best effort (closing the session frees it too).
pub(crate) async fn advisory_unlock(conn: &mut sqlx::PgConnection, name: &str) {
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_key(name))
        .execute(conn)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_postgres_limit_even_for_hostile_input() {
        let long = "a".repeat(200);
        for label in [
            "x::y::t1",
            "q'uo\"te; DROP DATABASE x; --",
            "ünïcödé::テスト",
            long.as_str(),
            "",
        ] {
            let n = database_name("fx_", label, &[label, "run"]);
            assert!(n.len() <= MAX_IDENT, "{n} is {} bytes", n.len());
            assert!(n.starts_with("fx_"));
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{n}"
            );
        }
    }

    #[test]
    fn names_keep_the_end_of_the_test_path_and_differ_by_unique_parts() {
        let a = database_name("fx_", "my_crate::orders::creates_an_order", &["a"]);
        let b = database_name("fx_", "my_crate::orders::creates_an_order", &["b"]);
        assert!(a.contains("creates_an_order"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn sanitize_collapses_separators() {
        assert_eq!(sanitize("A::B  c"), "a_b_c");
        assert_eq!(sanitize("--x--"), "x");
    }

    #[test]
    fn lock_keys_are_stable() {
        assert_eq!(lock_key("fx_a"), lock_key("fx_a"));
        assert_ne!(lock_key("fx_a"), lock_key("fx_b"));
    }
}
