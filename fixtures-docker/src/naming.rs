//! The pieces our container and network names are made of: what the engine accepts in a
//! name, short digests, and fresh names for containers of a fixture's own.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// A fresh container name: `fx-<fixture>-<hash>-<pid>-<n>`.
pub(crate) fn unique_name(fixture: &str, hash: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "fx-{}-{}-{}-{n}",
        sanitize(fixture),
        &hash[..hash.len().min(8)],
        std::process::id()
    )
}

/// Keeps the characters the engine allows in names (`[a-zA-Z0-9_.-]`), at most 40.
pub(crate) fn sanitize(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if s.is_empty() { "x".to_owned() } else { s }
}

/// 10 hex digits of the SHA-256 of `parts`.
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid() {
        let a = unique_name("my::db fixture", "0123456789abcdef");
        let b = unique_name("my::db fixture", "0123456789abcdef");
        assert_ne!(a, b);
        assert!(a.starts_with("fx-my__db_fixture-01234567-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        );
        assert_eq!(sanitize(""), "x");
    }
}
