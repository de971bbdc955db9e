//! The entry point fixtures use: a container for this fixture instance, by scope.

use std::sync::Arc;

use fixtures_core::{Scope, Setup};

use crate::container::Container;
use crate::derive;
use crate::engine::{self, Engine};
use crate::error::Error;
use crate::handoff::Handoff;
use crate::labels::{self, Origin};
use crate::naming::unique_name;
use crate::shared::{self, Slot};
use crate::spec::ContainerSpec;
use crate::{engine_reaper, first_use, launch, pull, reaper, reuse};

/// What a fixture instance holds, and gives back at its teardown.
enum Held {
    /// A container of its own (test or module scope): removed.
    Own {
        engine: Arc<Engine>,
        id: String,
        name: String,
    },
    /// The run's shared container (suite scope): its lease given back.
    Shared {
        engine: Arc<Engine>,
        slot: Slot,
        id: String,
        name: String,
    },
    /// A container kept across runs: its idle clock started.
    Reused {
        engine: Arc<Engine>,
        id: String,
        hash: String,
    },
}

impl Held {
    async fn release(self) {
        match self {
            Held::Own { engine, id, name } => {
                if let Err(e) = launch::remove(&engine, &id, &name).await {
                    tracing::warn!("{e}");
                }
            }
            Held::Shared {
                engine,
                slot,
                id,
                name,
            } => shared::release(&engine, &slot, &id, &name).await,
            Held::Reused { engine, id, hash } => reuse::release(&engine, &id, &hash).await,
        }
    }
}

/// Starts the container for this fixture instance and registers its teardown. The one
/// entry point fixtures use.
///
/// - Test and module scope: a container of the instance's own, removed (killed, with its
///   anonymous volumes) at the instance's teardown.
/// - Suite scope: one container per spec for the whole run, shared by all its processes
///   (nextest runs each test in its own): found or created under a lock in the run's folder,
///   leased by each process, removed by the last one when the run is over — under nextest by
///   the reaper once the runner has exited.
/// - [`ContainerSpec::reuse`] with `FIXTURES_REUSE=1`, any scope: adopted from an earlier
///   run, or created and kept for a later one.
///
/// A missing image is pulled (with progress); the first use of the engine in a process
/// sweeps leftovers of dead runs; the first container of a run starts its reaper, which
/// removes the run's containers even after a `kill -9`.
///
/// # Errors
///
/// Which step failed and for which container: the engine is unreachable
/// ([`Error::EngineUnreachable`], remembered for the process), the image is missing
/// ([`Error::ImageUnavailable`]), the container could not be created or started, exited
/// before it was ready ([`Error::ExitedEarly`], at once), or was not ready in time
/// ([`Error::NotReady`], with the last probe error and its log tail).
///
/// # Examples
///
/// ```no_run
/// use fixtures_core::prelude::*;
/// use fixtures_docker::{Container, ContainerSpec, WaitFor};
///
/// #[fixture(scope = suite)]
/// async fn service(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
///     let spec = ContainerSpec::from_env("FIXTURES_TEST_SVC_IMAGE", "fixtures-local/testsvc:latest")
///         .expose(8080)
///         .wait_for(WaitFor::http(8080, "/health", 200));
///     fixtures_docker::start(setup, spec).await
/// }
/// # fn main() {}
/// ```
pub async fn start(setup: &Setup, spec: ContainerSpec) -> Result<Container, Error> {
    if let Some((wait, port)) = spec.unexposed_probe() {
        return Err(Error::InvalidSpec {
            image: spec.image_ref(),
            problem: format!(
                "{wait} probes port {port}, which is not exposed: add `.expose({port})`"
            ),
        });
    }
    let scope = setup.scope();
    let origin = Origin::here(scope, setup.fixture_name());
    let reused = spec.reuse && reuse::enabled();
    let handoff = Arc::new(Handoff::<Held>::new());
    let at_teardown = handoff.clone();
    setup.on_teardown_async(
        format!("container `{}`", spec.image_ref()),
        move || async move {
            if let Some(held) = at_teardown.close() {
                held.release().await;
            }
        },
    );
    let image = spec.image_ref();
    let (engine, info, adopted) = engine::background("container start", async move {
        let engine = first_use::engine().await?;
        pull::ensure(&engine, &spec).await?;
        let spec = derive::ensure(&engine, spec).await?;
        reaper::ensure().await;
        engine_reaper::spawn(&engine);
        let hash = spec.hash();
        let (info, adopted, held) = if reused {
            let (info, adopted) = reuse::acquire(&engine, &spec, &origin).await?;
            let held = Held::Reused {
                engine: engine.clone(),
                id: info.id().to_owned(),
                hash,
            };
            (info, adopted, held)
        } else if scope == Scope::Suite {
            let slot = Slot::for_run(&shared::container_key(&hash))?;
            let (info, adopted) = shared::acquire(&engine, &spec, &origin, &slot).await?;
            let held = Held::Shared {
                engine: engine.clone(),
                slot,
                id: info.id().to_owned(),
                name: info.name().to_owned(),
            };
            (info, adopted, held)
        } else {
            let name = unique_name(&origin.fixture, &hash);
            let labels = origin.labels(&hash, false, labels::NON_REUSE_LIFETIME);
            let info = launch::launch(&engine, &spec, &name, &labels).await?;
            let held = Held::Own {
                engine: engine.clone(),
                id: info.id().to_owned(),
                name,
            };
            (info, false, held)
        };
        if let Err(held) = handoff.deliver(held) {
            held.release().await;
            return Err(Error::Task {
                operation: "container start",
                cause: "the fixture was torn down before its container was ready".to_owned(),
            });
        }
        Ok((engine, info, adopted))
    })
    .await?;
    Ok(Container::new(info, image, adopted, engine))
}
