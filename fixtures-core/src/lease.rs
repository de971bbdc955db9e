//! What a test holds: a counted reference to a fixture instance.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::fixture::{Fixture, Instance};

/// A test's (or a fixture's) hold on one fixture instance.
///
/// Dereferences to the fixture's value. Dropping it gives the instance back: a test-scoped
/// instance is torn down when its last lease goes, a module-scoped one when the module's last
/// test has finished, a suite-scoped one at process exit. Cloning takes another lease on the
/// same instance.
pub struct Lease<T: Send + Sync + 'static> {
    pub(crate) fixture: &'static Fixture<T>,
    pub(crate) instance: Option<Arc<Instance<T>>>,
    /// The test that holds this lease (`None` when a fixture instance holds it).
    pub(crate) owner: Option<Arc<str>>,
}

impl<T: Send + Sync + 'static> Lease<T> {
    fn instance(&self) -> &Instance<T> {
        self.instance
            .as_deref()
            .expect("a lease holds its instance until dropped")
    }

    /// The key of the scope instance this lease is on (test path, module path or `suite`).
    pub fn instance_key(&self) -> &str {
        &self.instance().key
    }
}

impl<T: Send + Sync + 'static> Deref for Lease<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.instance().value
    }
}

impl<T: Send + Sync + 'static> Clone for Lease<T> {
    fn clone(&self) -> Self {
        let instance = self.instance.clone();
        if let Some(i) = &instance {
            self.fixture.retain(i, self.owner.as_ref());
        }
        Lease {
            fixture: self.fixture,
            instance,
            owner: self.owner.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Lease<T> {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            if let Some(test) = &self.owner
                && std::thread::panicking()
            {
                crate::selection::mark_failed(test);
            }
            self.fixture.release(instance, self.owner.take());
        }
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> fmt::Debug for Lease<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("fixture", &self.fixture.meta().name)
            .field("instance", &self.instance_key())
            .field("value", &**self)
            .finish()
    }
}
