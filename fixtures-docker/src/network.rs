//! User-defined bridge networks, so that containers reach each other by alias.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fixtures_core::{Scope, Setup};

use crate::engine::{self, Engine};
use crate::error::Error;
use crate::first_use;
use crate::handoff::Handoff;
use crate::labels::{self, Origin};
use crate::naming::{sanitize, short_hash};
use crate::shared::{self, Slot, run_is_over};
use crate::{engine_reaper, reaper};

/// A network made by [`network`]: give its name to [`ContainerSpec::network`].
///
/// [`ContainerSpec::network`]: crate::ContainerSpec::network
#[derive(Debug, Clone)]
pub struct Network {
    name: String,
    id: String,
}

impl Network {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The network's name: the same in every process of the run for the suite scope (so that
/// suite containers of all processes name the same network), unique otherwise.
fn network_name(hint: &str, run_id: &str, scope: Scope, instance: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let key = match scope {
        Scope::Suite => short_hash(&[run_id, "suite"]),
        _ => {
            let n = NEXT.fetch_add(1, Ordering::Relaxed).to_string();
            short_hash(&[run_id, instance, &std::process::id().to_string(), &n])
        }
    };
    format!("fx-{}-{key}", sanitize(hint))
}

struct Held {
    engine: Arc<Engine>,
    network: Network,
    /// The slot of a suite network shared by the run's processes.
    slot: Option<Slot>,
}

impl Held {
    async fn release(self) {
        // A shared network's lock is held until it is gone: nobody adopts it meanwhile.
        let _lock = match &self.slot {
            Some(slot) => {
                let Ok(lock) = slot.lock().await else { return };
                if !(lock.drop_lease() && run_is_over()) {
                    return;
                }
                Some(lock)
            }
            None => None,
        };
        match self.engine.client.remove_network(&self.network.id).await {
            Ok(()) => tracing::info!(network = %self.network.name, "network removed"),
            Err(e) => tracing::warn!(
                "{}",
                Error::Network {
                    operation: "remove",
                    network: self.network.name.clone(),
                    cause: e.to_string(),
                }
            ),
        }
    }
}

/// A user-defined bridge network for this fixture instance, labelled like containers and
/// removed at its teardown (a suite one is shared by the run's processes, like a suite
/// container). `name_hint` becomes part of its name.
///
/// # Errors
///
/// [`Error::EngineUnreachable`], or [`Error::Network`] when the engine refuses.
///
/// # Examples
///
/// ```no_run
/// use fixtures_core::prelude::*;
/// use fixtures_docker::{Container, ContainerSpec, Network};
///
/// #[fixture(scope = module)]
/// async fn backend(setup: &Setup) -> Result<Network, fixtures_docker::Error> {
///     fixtures_docker::network(setup, "backend").await
/// }
///
/// #[fixture(scope = module)]
/// async fn api(setup: &Setup, backend: Lease<Network>) -> Result<Container, fixtures_docker::Error> {
///     let spec = ContainerSpec::new("fixtures-local/testsvc", "latest")
///         .network(backend.name())
///         .alias("api");
///     fixtures_docker::start(setup, spec).await
/// }
/// # fn main() {}
/// ```
pub async fn network(setup: &Setup, name_hint: &str) -> Result<Network, Error> {
    let scope = setup.scope();
    let origin = Origin::here(scope, setup.fixture_name());
    let name = network_name(name_hint, &origin.run_id, scope, setup.instance());
    let handoff = Arc::new(Handoff::<Held>::new());
    let at_teardown = handoff.clone();
    setup.on_teardown_async(format!("network `{name}`"), move || async move {
        if let Some(held) = at_teardown.close() {
            held.release().await;
        }
    });
    engine::background("network creation", async move {
        let engine = first_use::engine().await?;
        reaper::ensure().await;
        engine_reaper::spawn(&engine);
        let failed = |cause: String| Error::Network {
            operation: "create",
            network: name.clone(),
            cause,
        };
        let labels = origin.labels(&name, false, labels::NON_REUSE_LIFETIME);
        let (id, slot) = if scope == Scope::Suite {
            let slot = Slot::for_run(&shared::network_key(&name))?;
            let lock = slot.lock().await?;
            let filters = [
                format!("{}={}", labels::RUN_ID, origin.run_id),
                format!("{}={name}", labels::SPEC_HASH),
            ];
            let found = engine
                .client
                .list_networks(&filters)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let id = match found.into_iter().next() {
                Some(n) => n.id,
                None => create(&engine, &name, &labels).await.map_err(failed)?,
            };
            lock.add_lease()?;
            (id, Some(slot))
        } else {
            (create(&engine, &name, &labels).await.map_err(failed)?, None)
        };
        let network = Network { name, id };
        let held = Held {
            engine,
            network: network.clone(),
            slot,
        };
        if let Err(held) = handoff.deliver(held) {
            held.release().await;
            return Err(Error::Task {
                operation: "network creation",
                cause: "the fixture was torn down before its network was made".to_owned(),
            });
        }
        Ok(network)
    })
    .await
}

async fn create(
    engine: &Engine,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<String, String> {
    let id = engine
        .client
        .create_network(name, labels)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(network = name, "network created");
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_networks_are_named_alike_in_every_process_of_a_run() {
        let a = network_name("backend", "run-1", Scope::Suite, "suite");
        assert_eq!(a, network_name("backend", "run-1", Scope::Suite, "suite"));
        assert_ne!(a, network_name("backend", "run-2", Scope::Suite, "suite"));
        assert!(a.starts_with("fx-backend-"));
    }

    #[test]
    fn other_networks_are_unique() {
        let a = network_name("n", "run-1", Scope::Module, "m");
        assert_ne!(a, network_name("n", "run-1", Scope::Module, "m"));
    }
}
