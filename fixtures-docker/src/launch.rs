//! One container's life: create, start, wait until ready (removing it on any failure),
//! describe, remove.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client_types::CreateRequest;
use crate::engine::Engine;
use crate::error::Error;
use crate::info::ContainerInfo;
use crate::ready::{self, Target};
use crate::spec::ContainerSpec;

/// How long a removal may take.
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(30);

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
