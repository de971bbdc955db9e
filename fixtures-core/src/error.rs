//! The one error type of the core.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::scope::Scope;

/// A boxed error from a fixture's setup.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the core.
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A fixture's setup failed, timed out or panicked.
    #[error(transparent)]
    Setup(Arc<SetupError>),
    /// A fixture depends on a fixture that lives shorter than itself.
    #[error(
        "fixture `{fixture}` ({scope} scope) depends on `{dependency}` ({dependency_scope} scope), \
         which would be torn down before it; hint: give `{dependency}` a scope at least as long \
         as {scope}, or `{fixture}` a shorter one"
    )]
    ScopeMismatch {
        /// The fixture being set up.
        fixture: &'static str,
        /// Its scope.
        scope: Scope,
        /// The dependency it asked for.
        dependency: &'static str,
        /// The dependency's scope.
        dependency_scope: Scope,
    },
    /// An environment variable has a value the core cannot use.
    #[error(
        "environment variable {var}={value:?} is not valid: expected {expected}; fix or unset it"
    )]
    Config {
        /// The variable.
        var: &'static str,
        /// What it holds.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A fixture was requested in a process that only lists tests.
    #[error(
        "fixture `{0}` was requested while the test binary only lists its tests (--list): \
         nothing is set up in that phase"
    )]
    Listing(&'static str),
}

/// As `{}` shows it: what `.expect()` and `unwrap()` print is readable, not a struct dump.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_error_chain(self, f)
    }
}

/// Writes `error` as `{}` shows it, then each of its causes not already in that text on a
/// line of its own (`  caused by: …`): how the errors of this framework's crates show with
/// `{:?}`, so that a test's `.expect()` prints lines a reader can follow.
///
/// # Errors
///
/// Only the formatter's.
pub fn fmt_error_chain(
    error: &(dyn std::error::Error + 'static),
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let shown = error.to_string();
    f.write_str(&shown)?;
    let mut cur = error.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !shown.contains(&text) {
            write!(f, "\n  caused by: {text}")?;
        }
        cur = cause.source();
    }
    Ok(())
}

/// A failed setup: which fixture, which scope instance, why, and what to do.
///
/// It is remembered for the scope instance, so every later test that needs the fixture gets
/// the same error at once instead of waiting out the same broken setup.
#[derive(Debug)]
pub struct SetupError {
    pub(crate) fixture: &'static str,
    pub(crate) scope: Scope,
    pub(crate) instance: String,
    pub(crate) declared_at: String,
    pub(crate) causes: Vec<String>,
    pub(crate) hint: Option<String>,
    pub(crate) elapsed: Duration,
}

impl SetupError {
    pub(crate) fn new(
        meta: &crate::registry::FixtureMeta,
        instance: &str,
        err: &(dyn std::error::Error + 'static),
        elapsed: Duration,
    ) -> SetupError {
        let mut causes = Vec::new();
        let mut hint = None;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cur {
            if let Some(h) = e.downcast_ref::<Hinted>() {
                hint.get_or_insert_with(|| h.hint.clone());
            }
            let text = e.to_string();
            if causes.last() != Some(&text) {
                causes.push(text);
            }
            cur = e.source();
        }
        SetupError {
            fixture: meta.name,
            scope: meta.scope,
            instance: instance.to_owned(),
            declared_at: format!("{}:{}", meta.file, meta.line),
            causes,
            hint,
            elapsed,
        }
    }

    /// The fixture whose setup failed.
    pub fn fixture(&self) -> &str {
        self.fixture
    }

    /// The fixture's scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The cause chain, outermost first.
    pub fn causes(&self) -> &[String] {
        &self.causes
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ERROR at setup of fixture `{}` ({} scope, instance `{}`, declared at {}) after {:.1?}",
            self.fixture, self.scope, self.instance, self.declared_at, self.elapsed
        )?;
        for cause in &self.causes {
            write!(f, "\n  caused by: {cause}")?;
        }
        let hint = self
            .hint
            .as_deref()
            .unwrap_or("fix the cause above and re-run; FIXTURES_LOG=debug shows each setup step");
        write!(f, "\n  hint: {hint}")?;
        write!(
            f,
            "\n  (remembered for this {} instance: later tests that need `{}` fail at once with this error)",
            self.scope, self.fixture
        )
    }
}

impl std::error::Error for SetupError {}

/// An error with advice for the user attached; the core shows the advice as the setup error's
/// hint.
///
/// # Examples
///
/// ```
/// use fixtures_core::Hinted;
///
/// let err = Hinted::new(std::io::Error::other("socket missing"), "start the Docker daemon");
/// assert_eq!(err.to_string(), "socket missing");
/// ```
#[derive(Debug)]
pub struct Hinted {
    source: BoxError,
    hint: String,
}

impl Hinted {
    /// Wraps `source` with a `hint` telling the user what to do.
    pub fn new(source: impl Into<BoxError>, hint: impl Into<String>) -> Hinted {
        Hinted {
            source: source.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}
