//! Reuse across runs (opt-in: `ContainerSpec::reuse(true)` and `FIXTURES_REUSE=1`).
//!
//! A reused container is keyed by its spec hash (label) and survives the run; a later run
//! adopts it. It expires after `FIXTURES_REUSE_TTL` (default 30 min) of idleness. Labels
//! cannot change after creation, so the refreshed expiry lives in the container's *name*,
//! `fx-reuse-<hash>-until-<unix secs>`, renamed on every adoption and release; the
//! `org.fixtures.expires-at` label keeps the first one. Sweeps read the name first.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::Engine;
use crate::error::Error;
use crate::info::ContainerInfo;
use crate::labels::{self, Origin, now};
use crate::launch;
use crate::ready::{self, Target};
use crate::shared::Slot;
use crate::spec::ContainerSpec;

/// True when the user opted in for this process (`FIXTURES_REUSE=1`).
pub(crate) fn enabled() -> bool {
    fixtures_core::flag("FIXTURES_REUSE")
}

/// The name that carries the expiry.
pub(crate) fn name_for(hash: &str, expires_at: u64) -> String {
    format!(
        "fx-reuse-{}-until-{expires_at}",
        &hash[..hash.len().min(16)]
    )
}

/// The expiry a reused container's name carries, if it is one of ours.
pub(crate) fn expiry_in_name(name: &str) -> Option<u64> {
    let (head, until) = name.trim_start_matches('/').rsplit_once("-until-")?;
    head.starts_with("fx-reuse-").then_some(())?;
    until.parse().ok()
}

/// The slot that serialises adoption of one reused spec on this machine.
fn slot(hash: &str) -> Slot {
    let dir = fixtures_core::watchdog::state_dir().join("docker-reuse");
    Slot::in_dir(&dir, &hash[..hash.len().min(16)])
}

/// Adopts the reused container for `spec`, or creates it.
pub(crate) async fn acquire(
    engine: &Arc<Engine>,
    spec: &ContainerSpec,
    origin: &Origin,
) -> Result<(ContainerInfo, bool), Error> {
    let ttl = labels::reuse_ttl()?;
    let hash = spec.hash();
    let image = spec.image_ref();
    let _lock = slot(&hash).lock().await?;
    let filters = [
        format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
        format!("{}=true", labels::REUSE),
        format!("{}={hash}", labels::SPEC_HASH),
    ];
    let found = engine
        .client
        .list_containers(&filters)
        .await
        .map_err(|e| Error::Engine {
            operation: "list",
            container: format!("(reused, spec {})", &hash[..12]),
            cause: e.to_string(),
        })?;
    let expires_at = now() + ttl.as_secs();
    let mut adopted = None;
    for c in found {
        let fresh = expiry_in_name(&c.name).is_some_and(|t| t > now());
        if c.running && fresh && adopted.is_none() {
            adopted = Some(c);
        } else if let Err(e) = launch::remove(engine, &c.id, &c.name).await {
            tracing::warn!("{e}");
        }
    }
    if let Some(c) = adopted {
        if c.name.trim_start_matches('/') != name_for(&hash, expires_at) {
            refresh(engine, &c.id, &hash, expires_at).await?;
        }
        let info = launch::describe(engine, &c.id).await?;
        let target = Target {
            engine,
            info: &info,
            image: &image,
        };
        ready::wait_ready(&target, &spec.waits, spec.startup_timeout).await?;
        tracing::info!(container = %info.name(), image = %image, "reused container adopted");
        return Ok((info, true));
    }
    let labels: BTreeMap<String, String> = origin.labels(&hash, true, ttl);
    let name = name_for(&hash, expires_at);
    Ok((launch::launch(engine, spec, &name, &labels).await?, false))
}

/// Renames the container so that its idle time starts now. Already named so (adopted or
/// released within the same second): nothing to do.
async fn refresh(engine: &Engine, id: &str, hash: &str, expires_at: u64) -> Result<(), Error> {
    match engine.client.rename(id, &name_for(hash, expires_at)).await {
        Ok(()) => Ok(()),
        Err(e) if e.status == Some(400) && e.message.contains("same name") => Ok(()),
        Err(e) => Err(Error::Engine {
            operation: "rename",
            container: id.to_owned(),
            cause: e.to_string(),
        }),
    }
}

/// This process is done with it: the idle clock starts now. The container stays.
pub(crate) async fn release(engine: &Engine, id: &str, hash: &str) {
    let expires_at = match labels::reuse_ttl() {
        Ok(ttl) => now() + ttl.as_secs(),
        Err(_) => return,
    };
    let Ok(_lock) = slot(hash).lock().await else {
        return;
    };
    if let Err(e) = refresh(engine, id, hash, expires_at).await {
        tracing::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_round_trips_through_the_name() {
        let name = name_for("0123456789abcdef0123", 1_700_000_000);
        assert_eq!(name, "fx-reuse-0123456789abcdef-until-1700000000");
        assert_eq!(expiry_in_name(&name), Some(1_700_000_000));
        assert_eq!(expiry_in_name(&format!("/{name}")), Some(1_700_000_000));
    }

    #[test]
    fn other_names_carry_no_expiry() {
        assert_eq!(expiry_in_name("fx-suite-0123-until-5"), None);
        assert_eq!(expiry_in_name("fx-reuse-0123-until-soon"), None);
        assert_eq!(expiry_in_name("postgres"), None);
    }
}
