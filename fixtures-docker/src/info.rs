//! Where a started container is — id, name, host, published ports, its own addresses — as
//! readiness probes and fixtures receive it.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a container is: what readiness probes receive. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ContainerInfo {
    inner: Arc<InfoInner>,
}

#[derive(Debug)]
struct InfoInner {
    id: String,
    name: String,
    host: String,
    ports: BTreeMap<u16, u16>,
    ips: Vec<String>,
}

impl ContainerInfo {
    pub(crate) fn new(
        id: String,
        name: String,
        host: String,
        ports: BTreeMap<u16, u16>,
        ips: Vec<String>,
    ) -> Self {
        ContainerInfo {
            inner: Arc::new(InfoInner {
                id,
                name,
                host,
                ports,
                ips,
            }),
        }
    }

    /// The container's own addresses on its networks, when the engine runs on this machine
    /// (empty for a remote engine, whose networks are out of reach).
    pub fn network_ips(&self) -> &[String] {
        &self.inner.ips
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The host to connect to for its published ports.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// Container port → host port, for every published port.
    pub(crate) fn ports(&self) -> &BTreeMap<u16, u16> {
        &self.inner.ports
    }

    /// The host port `container_port` is published on, if it is.
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.inner.ports.get(&container_port).copied()
    }

    /// `host:port` for `container_port` (IPv6 hosts in brackets), if it is published.
    pub fn address(&self, container_port: u16) -> Option<String> {
        let port = self.host_port(container_port)?;
        let host = self.host();
        Some(if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        })
    }
}
