//! A missing image is pulled with visible progress: from a tiny registry served by this test
//! on 127.0.0.1 (which the engine treats as an insecure registry), holding the testsvc
//! filesystem as one layer.

use std::sync::Arc;

use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerSpec, Error, WaitFor};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, child, run, svc, text};

fn digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Manifest, config and layer of an image holding testsvc's filesystem.
struct Blobs {
    manifest: Vec<u8>,
    manifest_digest: String,
    blobs: Vec<(String, Vec<u8>)>,
}

fn testsvc_blobs() -> Blobs {
    let image = svc().image_ref();
    let layer: Vec<u8> = common::engine(async |d| {
        let body = bollard::models::ContainerCreateBody {
            image: Some(image),
            ..Default::default()
        };
        let id = d.create_container(None, body).await.unwrap().id;
        let mut tar = Vec::new();
        let mut stream = d.export_container(&id);
        while let Some(chunk) = stream.next().await {
            tar.extend_from_slice(&chunk.unwrap());
        }
        let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .build();
        d.remove_container(&id, Some(opts)).await.unwrap();
        tar
    });
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":["/testsvc"],"Env":["TESTSVC_PORT=8080"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        digest(&layer)
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":{},"digest":"{}"}}]}}"#,
        config.len(),
        digest(&config),
        layer.len(),
        digest(&layer)
    )
    .into_bytes();
    Blobs {
        manifest_digest: digest(&manifest),
        manifest,
        blobs: vec![(digest(&config), config), (digest(&layer), layer)],
    }
}

/// Serves the registry API v2 subset a pull needs; returns the port.
fn registry(blobs: Blobs) -> u16 {
    let blobs = Arc::new(blobs);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            while let Ok((mut s, _)) = listener.accept().await {
                let blobs = blobs.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                        if head.first() == Some(&0x16) {
                            return; // a TLS hello: closing makes the engine fall back to HTTP
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let mut parts = head.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let (status, kind, body): (&str, &str, &[u8]) = if path == "/v2/" {
                        ("200 OK", "application/json", b"{}")
                    } else if path.contains("/manifests/") {
                        (
                            "200 OK",
                            "application/vnd.oci.image.manifest.v1+json",
                            &blobs.manifest,
                        )
                    } else if let Some((_, b)) = blobs
                        .blobs
                        .iter()
                        .find(|(d, _)| path.ends_with(&format!("/blobs/{d}")))
                    {
                        ("200 OK", "application/octet-stream", b)
                    } else {
                        ("404 Not Found", "application/json", b"{}")
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                         Docker-Distribution-API-Version: registry/2.0\r\n\
                         Docker-Content-Digest: {}\r\nConnection: close\r\n\r\n",
                        body.len(),
                        blobs.manifest_digest
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                    if method != "HEAD" {
                        let _ = s.write_all(body).await;
                    }
                    let _ = s.shutdown().await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// The log text without its colours.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[fixture(scope = test)]
async fn pulled(setup: &Setup) -> Result<Container, Error> {
    let image = std::env::var("FIXTURES_DOCKER_PULL_IMAGE").unwrap();
    let (name, tag) = image.rsplit_once(':').unwrap();
    let spec = ContainerSpec::new(name, tag)
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200));
    fixtures_docker::start(setup, spec).await
}

#[test]
#[ignore = "run by pull::a_missing_image_is_pulled_with_progress"]
fn child_pulls_an_image() {
    let c = pulled::fixture().try_lease().expect("pulled and started");
    assert_eq!(
        common::http_get(&c.address(8080).unwrap(), "/health").0,
        200
    );
}

#[test]
fn a_missing_image_is_pulled_with_progress() {
    let port = registry(testsvc_blobs());
    let image = format!("127.0.0.1:{port}/fixtures-pull-test:{}", std::process::id());
    let mut cmd = child("pull::child_pulls_an_image");
    cmd.env("FIXTURES_DOCKER_PULL_IMAGE", &image)
        .env("FIXTURES_LOG", "fixtures_docker=info");
    let out = run(cmd);
    let removed = common::engine(async |d| {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        d.remove_image(&image, Some(opts), None).await.is_ok()
    });
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(removed, "the pulled image was present");
    let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
    assert!(
        stderr.contains("image not present locally: pulling"),
        "{stderr}"
    );
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("pull progress"))
        .collect();
    assert!(
        progress
            .iter()
            .any(|l| l.contains("layer=") && l.contains("total=")),
        "layer ids and byte counts are reported:\n{stderr}"
    );
    assert!(stderr.contains("image pulled"), "{stderr}");
}
