//! Named volumes of ours: labelled like containers, named per fixture instance (one name for
//! the whole run in suite scope, so that the run's processes mount the same one), removed at
//! their fixture's teardown after the containers that mount them — or, in suite scope, by the
//! run's reaper once the run is over — and swept like containers when a run left them.

use std::sync::atomic::{AtomicU64, Ordering};

use fixtures_core::{Scope, Setup};

use crate::engine;
use crate::error::Error;
use crate::first_use;
use crate::labels::{self, Origin};
use crate::naming::{sanitize, short_hash};
use crate::{engine_reaper, reaper};

/// The volume's name: the same in every process of the run for the suite scope, unique
/// otherwise.
fn volume_name(hint: &str, run_id: &str, scope: Scope, instance: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let key = match scope {
        Scope::Suite => short_hash(&[run_id, "suite", hint]),
        _ => {
            let n = NEXT.fetch_add(1, Ordering::Relaxed).to_string();
            short_hash(&[run_id, instance, &std::process::id().to_string(), &n, hint])
        }
    };
    format!("fxv-{}-{key}", sanitize(hint))
}

/// A named volume for this fixture instance (`hint` becomes part of its name); its name.
/// Mount it with [`ContainerSpec::volume`](crate::ContainerSpec::volume) in containers started
/// after this call (they are removed before it).
pub(crate) async fn volume(setup: &Setup, hint: &str) -> Result<String, Error> {
    let scope = setup.scope();
    let origin = Origin::here(scope, setup.fixture_name());
    let name = volume_name(hint, &origin.run_id, scope, setup.instance());
    let labels = origin.labels(&name, false, labels::NON_REUSE_LIFETIME);
    let made = name.clone();
    engine::background("volume creation", async move {
        let engine = first_use::engine().await?;
        reaper::ensure().await;
        engine_reaper::spawn(&engine);
        engine
            .client
            .create_volume(&made, &labels)
            .await
            .map_err(|e| Error::Volume {
                operation: "create",
                volume: made.clone(),
                cause: e.to_string(),
            })?;
        tracing::info!(volume = %made, "volume created");
        Ok(())
    })
    .await?;
    if scope != Scope::Suite {
        let doomed = name.clone();
        setup.on_teardown_async(format!("volume `{name}`"), move || async move {
            let removed = engine::background("volume removal", async move {
                let engine = first_use::engine().await?;
                engine
                    .client
                    .remove_volume(&doomed)
                    .await
                    .map_err(|e| Error::Volume {
                        operation: "remove",
                        volume: doomed.clone(),
                        cause: e.to_string(),
                    })
            })
            .await;
            if let Err(e) = removed {
                tracing::warn!("{e}");
            }
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_volumes_are_named_alike_in_every_process_of_a_run() {
        let a = volume_name("data", "run-1", Scope::Suite, "suite");
        assert_eq!(a, volume_name("data", "run-1", Scope::Suite, "suite"));
        assert_ne!(a, volume_name("data", "run-2", Scope::Suite, "suite"));
        assert_ne!(
            volume_name("data", "run-1", Scope::Module, "m"),
            volume_name("data", "run-1", Scope::Module, "m")
        );
    }
}
