//! One container's life: create, start, wait until ready (removing it on any failure),
//! describe, remove.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::CreateRequest;
use crate::container::ContainerInfo;
use crate::engine::Engine;
use crate::error::Error;
use crate::ready::{self, Target};
use crate::spec::ContainerSpec;

/// How long a removal may take.
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Creates and starts the container and waits until it is ready. On any failure the
/// container is removed before the error is returned.
pub(crate) async fn launch(
    engine: &Arc<Engine>,
    spec: &ContainerSpec,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<ContainerInfo, Error> {
    let image = spec.image_ref();
    let requested = Instant::now();
    let request = CreateRequest {
        name,
        spec,
        labels,
        bind_ip: &engine.bind_ip,
    };
    let id = engine
        .client
        .create(request)
        .await
        .map_err(|e| Error::Create {
            image: image.clone(),
            cause: e.to_string(),
        })?;
    tracing::info!(container = name, id = %id, image = %image, "container created");
    let outcome = async {
        engine.client.start(&id).await.map_err(|e| Error::Start {
            container: name.to_owned(),
            image: image.clone(),
            cause: e.to_string(),
        })?;
        tracing::info!(container = name, "container started");
        let info = describe(engine, &id).await?;
        let target = Target {
            engine,
            info: &info,
            image: &image,
        };
        ready::wait_ready(&target, &spec.waits, spec.startup_timeout).await?;
        Ok(info)
    }
    .await;
    match outcome {
        Ok(info) => {
            tracing::info!(container = name, image = %image, elapsed = ?requested.elapsed(), "container ready");
            Ok(info)
        }
        Err(e) => {
            if let Err(removal) = remove(engine, &id, name).await {
                tracing::warn!("{removal}");
            }
            Err(e)
        }
    }
}

/// Where a running container is: its name and published ports.
pub(crate) async fn describe(engine: &Engine, id: &str) -> Result<ContainerInfo, Error> {
    let failed = |cause: String| Error::Engine {
        operation: "inspect",
        container: id.to_owned(),
        cause,
    };
    let inspected = engine
        .client
        .inspect(id)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed("it no longer exists".to_owned()))?;
    let ports = inspected
        .ports
        .iter()
        .filter_map(|(port, bindings)| {
            let chosen = bindings
                .iter()
                .find(|(ip, _)| *ip == engine.bind_ip)
                .or_else(|| bindings.first())?;
            Some((*port, chosen.1))
        })
        .collect();
    // A container's own addresses are reachable from here only when the engine runs here.
    let ips = if engine.endpoint.is_local() {
        inspected.ips
    } else {
        Vec::new()
    };
    Ok(ContainerInfo::new(
        inspected.id,
        inspected.name,
        engine.host.clone(),
        ports,
        ips,
    ))
}

/// Removes a container (killing it, with its anonymous volumes), within [`REMOVE_TIMEOUT`].
pub(crate) async fn remove(engine: &Engine, id: &str, name: &str) -> Result<(), Error> {
    let failed = |cause: String| Error::Remove {
        container: name.to_owned(),
        cause,
    };
    match tokio::time::timeout(REMOVE_TIMEOUT, engine.client.remove(id)).await {
        Ok(Ok(())) => {
            tracing::info!(container = name, "container removed");
            Ok(())
        }
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!("no answer within {REMOVE_TIMEOUT:?}"))),
    }
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
