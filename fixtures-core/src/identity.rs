//! Who is running: the run, the process's role, the current test and its module.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which test runner started this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// `cargo test` (libtest): one process runs many tests on threads.
    CargoTest,
    /// `cargo nextest run`: one process per test, many processes per run.
    Nextest,
}

/// The runner that started this process (`NEXTEST=1` means nextest).
pub fn runner() -> Runner {
    if std::env::var_os("NEXTEST").is_some_and(|v| v == "1") {
        Runner::Nextest
    } else {
        Runner::CargoTest
    }
}

/// A stable identity for the whole test run.
///
/// All processes of one `cargo nextest run` share `NEXTEST_RUN_ID`; `FIXTURES_RUN_ID` lets a
/// driver share one identity across processes it starts itself; otherwise (one `cargo test`
/// binary) the identity is made once per process from its pid and start time. Other crates key
/// cross-process resources (a shared container, a shared server) on it.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        for var in ["FIXTURES_RUN_ID", "NEXTEST_RUN_ID"] {
            if let Ok(v) = std::env::var(var) {
                let v = sanitize(&v);
                if !v.is_empty() {
                    return v;
                }
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("p{}-{:x}", std::process::id(), nanos)
    })
}

/// Keeps the characters that are safe in labels, file names and database names.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect()
}

/// True in processes that only list tests (`--list`, or nextest's list phase): nothing may be
/// set up or torn down there.
pub fn is_listing() -> bool {
    static LISTING: OnceLock<bool> = OnceLock::new();
    *LISTING.get_or_init(|| {
        std::env::var_os("NEXTEST_TEST_PHASE").is_some_and(|p| p == "list")
            || std::env::args_os().any(|a| a == "--list")
    })
}

/// The full path of the test running on this thread (`module::path::test_name`), if any.
///
/// libtest names each test's thread after the test (also with `--test-threads=1`); nextest
/// also says it in `NEXTEST_TEST_NAME`.
pub fn current_test() -> Option<String> {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" && !name.starts_with("fixtures-") => Some(name.to_owned()),
        _ => std::env::var("NEXTEST_TEST_NAME")
            .ok()
            .filter(|n| !n.is_empty()),
    }
}

/// The module a test belongs to, derived from its path.
///
/// `a::b::test_x` belongs to `a::b`. rstest's `#[case]` tests (`a::b::test_x::case_1_name`)
/// belong to `a::b` too: the module rstest generates for the cases is not a user module.
pub fn module_of(test: &str) -> &str {
    let parent = |s: &str| -> Option<usize> { s.rfind("::") };
    let Some(i) = parent(test) else { return "" };
    let (head, last) = (&test[..i], &test[i + 2..]);
    if is_rstest_case(last) {
        if let Some(j) = parent(head) {
            return &head[..j];
        }
        return "";
    }
    head
}

fn is_rstest_case(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix("case_") else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (digits == rest.len() || rest.as_bytes()[digits] == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_belongs_to_its_parent_module() {
        assert_eq!(module_of("a::b::test_x"), "a::b");
        assert_eq!(module_of("top_level"), "");
    }

    #[test]
    fn rstest_case_tests_belong_to_the_module_of_their_function() {
        assert_eq!(module_of("a::b::test_x::case_1"), "a::b");
        assert_eq!(module_of("a::b::test_x::case_12_empty_input"), "a::b");
        assert_eq!(module_of("a::test_x::case_x"), "a::test_x");
    }

    #[test]
    fn the_current_test_is_named_after_this_thread() {
        let me = current_test().expect("libtest names test threads");
        assert!(
            me.ends_with("the_current_test_is_named_after_this_thread"),
            "{me}"
        );
    }

    #[test]
    fn run_ids_are_sanitized() {
        assert_eq!(sanitize("ab/c d-1_2;DROP"), "abcd-1_2DROP");
    }
}
