//! Derived images: a spec's image with Dockerfile steps of its own on top (slow one-time
//! set-up, such as a database's `initdb`), built once by the engine and kept as a local image
//! keyed by the base image's id and the steps, so that every later start skips that work.
//!
//! The engine builds it (no registry: `FROM` names the local image by id, and the build never
//! pulls); its intermediate containers are the engine's to remove, also when the build is
//! interrupted. Processes of this machine take turns (a lock in the private state folder).

use std::time::{Duration, Instant};

use fixtures_core::record::Record;
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::error::Error;
use crate::reference::split_reference;
use crate::spec::ContainerSpec;

/// The repository of derived images.
const REPOSITORY: &str = "fixtures-derived";
/// The label every derived image carries.
pub(crate) const LABEL: &str = "org.fixtures.derived";
/// The label naming the base image's id.
const FROM_ID: &str = "org.fixtures.derived-from-id";
/// How long a build (or the wait for another process's) may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// The spec to create: `spec` itself, or — when it has derivation steps — the same spec on
/// its derived image (built now if this is the first use of these steps on this base image).
pub(crate) async fn ensure(
    engine: &Engine,
    mut spec: ContainerSpec,
) -> Result<ContainerSpec, Error> {
    let Some(steps) = spec.derive.clone() else {
        return Ok(spec);
    };
    let base = spec.image_ref();
    let failed = |cause: String| Error::Build {
        image: base.clone(),
        cause,
    };
    let base_id = engine
        .client
        .image_id(&base)
        .await
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed("the base image is not present".into()))?;
    let tag = derived_tag(&base_id, &steps);
    let labels = [
        (LABEL, "true"),
        ("org.fixtures.derived-from", &base),
        (FROM_ID, &base_id),
    ];
    let dockerfile = dockerfile(&base_id, &labels, &steps);
    // A failed build's earlier steps leave images carrying the labels (the `LABEL` line comes
    // first): those are removed.
    let leftovers = [format!("{FROM_ID}={base_id}")];
    build_once(engine, &tag, &dockerfile, &leftovers)
        .await
        .map_err(failed)?;
    (spec.image, spec.tag) = split_reference(&tag);
    Ok(spec)
}

/// Builds image `tag` from `dockerfile` unless it exists (processes of this machine take
/// turns); after a failed build, removes the untagged images carrying the `leftovers` labels.
pub(crate) async fn build_once(
    engine: &Engine,
    tag: &str,
    dockerfile: &str,
    leftovers: &[String],
) -> Result<(), String> {
    if engine.client.image_id(tag).await.ok().flatten().is_some() {
        return Ok(());
    }
    let deadline = Instant::now() + BUILD_TIMEOUT;
    let _turn = take_turn(tag, deadline).await?;
    // Another process may have built it while this one waited.
    if engine.client.image_id(tag).await.ok().flatten().is_some() {
        return Ok(());
    }
    let started = Instant::now();
    tracing::info!(image = %tag, "building an image (once per machine)");
    let context = context(dockerfile).map_err(|e| e.to_string())?;
    let outcome =
        match tokio::time::timeout_at(deadline.into(), engine.client.build(context, tag)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("not built within {BUILD_TIMEOUT:?}")),
        };
    match &outcome {
        Ok(()) => tracing::info!(image = %tag, took = ?started.elapsed(), "image built"),
        Err(_) if !leftovers.is_empty() => {
            if let Err(removal) = engine.client.remove_dangling_images(leftovers).await {
                tracing::warn!("removing a failed build's images: {removal}");
            }
        }
        Err(_) => {}
    }
    outcome
}

/// `fixtures-derived:<digest>`: one name per base image id and steps.
fn derived_tag(base_id: &str, steps: &str) -> String {
    let mut h = Sha256::new();
    h.update(base_id.as_bytes());
    h.update([0]);
    h.update(steps.as_bytes());
    let digest: String = h.finalize()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{REPOSITORY}:{digest}")
}

/// The Dockerfile: the base image by id (never pulled), the labels (first, so that every
/// image the build makes carries them), then the steps.
fn dockerfile(base_id: &str, labels: &[(&str, &str)], steps: &str) -> String {
    let labels: String = labels.iter().map(|(k, v)| format!(" {k}={v:?}")).collect();
    format!("FROM {base_id}\nLABEL{labels}\n{steps}\n")
}

/// A build context holding only `Dockerfile`.
fn context(dockerfile: &str) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())?;
    archive.into_inner()
}

/// This machine's turn to build `tag` (a lock in the private state folder), waiting for
/// another process's build at most until `deadline`.
async fn take_turn(tag: &str, deadline: Instant) -> Result<fixtures_core::record::Held, String> {
    let dir = fixtures_core::watchdog::state_dir_checked()
        .map_err(|e| format!("the state folder: {e}"))?;
    let record = Record::at(&dir, &format!("build-{}", tag.replace([':', '/'], "-")));
    loop {
        match record.try_lock() {
            Ok(Some(held)) => return Ok(held),
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(None) => return Err("another process's build of it did not finish".into()),
            Err(e) => return Err(format!("locking the build: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_per_base_image_and_steps() {
        let a = derived_tag("sha256:aa", "RUN x");
        assert_eq!(a, derived_tag("sha256:aa", "RUN x"));
        assert_ne!(a, derived_tag("sha256:ab", "RUN x"));
        assert_ne!(a, derived_tag("sha256:aa", "RUN y"));
        assert!(a.starts_with("fixtures-derived:"));
    }

    #[test]
    fn the_context_is_a_tar_with_the_dockerfile() {
        let text = dockerfile("sha256:aa", &[("k", "a b")], "RUN true");
        let bytes = context(&text).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("Dockerfile"));
        let mut read = String::new();
        std::io::Read::read_to_string(&mut entry, &mut read).unwrap();
        assert_eq!(read, "FROM sha256:aa\nLABEL k=\"a b\"\nRUN true\n");
        assert!(entries.next().is_none());
    }
}
