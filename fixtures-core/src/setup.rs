//! What a fixture's setup receives: its dependencies, and a place to register teardown work.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::Error;
use crate::fixture::Fixture;
use crate::lease::Lease;
use crate::registry::FixtureMeta;
use crate::scope::Scope;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub(crate) enum TeardownWork {
    Blocking(Box<dyn FnOnce() + Send + 'static>),
    Async(Box<dyn FnOnce() -> BoxFuture + Send + 'static>),
}

/// What an instance owns besides its value: teardown work and leases on its dependencies.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) on_teardown: Vec<(String, TeardownWork)>,
    pub(crate) deps: Vec<Box<dyn Send + Sync + 'static>>,
    /// Time spent waiting for dependencies (their setups, or their instances' first users'),
    /// told apart from the fixture's own setup time in the report.
    pub(crate) waited: std::time::Duration,
}

/// The context of one fixture setup.
///
/// A `#[fixture]` function receives it when it takes an argument of type `&Setup`; its
/// dependencies (the other arguments) are leased through it.
pub struct Setup {
    pub(crate) meta: &'static FixtureMeta,
    pub(crate) instance: Arc<str>,
    pub(crate) test: Option<Arc<str>>,
    pub(crate) extras: Arc<Mutex<Extras>>,
}

impl Setup {
    /// The fixture being set up.
    pub fn fixture_name(&self) -> &'static str {
        self.meta.name
    }

    /// Its scope.
    pub fn scope(&self) -> Scope {
        self.meta.scope
    }

    /// The key of the scope instance: the test path (test scope), the module path (module
    /// scope) or `suite`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The test whose request caused this setup, if known.
    pub fn test(&self) -> Option<&str> {
        self.test.as_deref()
    }

    /// The run's identity (see [`crate::run_id`]).
    pub fn run_id(&self) -> &'static str {
        crate::identity::run_id()
    }

    fn check_scope(&self, dep: &'static FixtureMeta) -> Result<(), Error> {
        if dep.scope < self.meta.scope {
            return Err(Error::ScopeMismatch {
                fixture: self.meta.name,
                scope: self.meta.scope,
                dependency: dep.name,
                dependency_scope: dep.scope,
            });
        }
        Ok(())
    }

    /// Leases a dependency for the lifetime of this instance (blocking; for sync setups).
    ///
    /// The dependency is released after this instance is torn down, so teardown runs in
    /// reverse order of setup.
    ///
    /// # Errors
    ///
    /// The dependency's setup error, or [`Error::ScopeMismatch`] when it lives shorter than
    /// this fixture.
    pub fn lease<U: Send + Sync + 'static>(
        &self,
        dep: &'static Fixture<U>,
    ) -> Result<Lease<U>, Error> {
        self.check_scope(dep.meta())?;
        let start = std::time::Instant::now();
        let lease = dep.acquire(self.test.as_ref(), None)?;
        Ok(self.hold(lease, start))
    }

    /// Leases a dependency without blocking the async setup's thread.
    ///
    /// # Errors
    ///
    /// As [`Setup::lease`].
    pub async fn lease_async<U: Send + Sync + 'static>(
        &self,
        dep: &'static Fixture<U>,
    ) -> Result<Lease<U>, Error> {
        self.check_scope(dep.meta())?;
        let start = std::time::Instant::now();
        let lease = dep.acquire_async(self.test.clone(), None).await?;
        Ok(self.hold(lease, start))
    }

    /// Keeps `lease` until this instance is torn down; counts the wait since `start`.
    fn hold<U: Send + Sync + 'static>(
        &self,
        lease: Lease<U>,
        start: std::time::Instant,
    ) -> Lease<U> {
        let mut extras = self.extras.lock();
        extras.waited += start.elapsed();
        extras.deps.push(Box::new(lease.clone()));
        lease
    }

    /// Registers blocking work to run when this instance is torn down (newest first, before
    /// the value is dropped). Also run when the setup itself fails after registering it.
    pub fn on_teardown(&self, name: impl Into<String>, work: impl FnOnce() + Send + 'static) {
        self.extras
            .lock()
            .on_teardown
            .push((name.into(), TeardownWork::Blocking(Box::new(work))));
    }

    /// Registers async work to run on the background runtime when this instance is torn down.
    pub fn on_teardown_async<F>(
        &self,
        name: impl Into<String>,
        work: impl FnOnce() -> F + Send + 'static,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let boxed: Box<dyn FnOnce() -> BoxFuture + Send> = Box::new(move || Box::pin(work()));
        self.extras
            .lock()
            .on_teardown
            .push((name.into(), TeardownWork::Async(boxed)));
    }
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("fixture", &self.meta.name)
            .field("scope", &self.meta.scope)
            .field("instance", &self.instance)
            .field("test", &self.test)
            .finish()
    }
}
