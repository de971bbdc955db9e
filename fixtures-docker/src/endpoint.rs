//! Which engine to talk to: `DOCKER_HOST` read and parsed, and what follows from it — the
//! host to connect to for published ports, and the address to publish them on.

use crate::error::Error;

/// The socket used when `DOCKER_HOST` is unset.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A unix socket on this machine.
    Unix { path: String },
    /// Plain HTTP at `host:port` (`tcp://` or `http://`).
    Tcp { host: String, port: u16 },
}

impl Endpoint {
    /// Parses a `DOCKER_HOST` value (`None` or empty: the default socket).
    pub(crate) fn parse(docker_host: Option<&str>) -> Result<Endpoint, String> {
        let value = docker_host.map(str::trim).unwrap_or("");
        if value.is_empty() {
            return Ok(Endpoint::Unix {
                path: DEFAULT_SOCKET.to_owned(),
            });
        }
        if let Some(path) = value.strip_prefix("unix://") {
            if path.is_empty() {
                return Err("a unix:// address needs a socket path".to_owned());
            }
            return Ok(Endpoint::Unix {
                path: path.to_owned(),
            });
        }
        let Some(rest) = value
            .strip_prefix("tcp://")
            .or_else(|| value.strip_prefix("http://"))
        else {
            return Err(format!(
                "unsupported scheme in {value:?}: this crate speaks unix:// and tcp:// (plain \
                 HTTP); for TLS or SSH, forward the engine to a local socket or port"
            ));
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("unclosed '[' in {value:?}"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("no host in {value:?}"));
        }
        let port = match port {
            None | Some("") => 2375,
            Some(p) => p
                .parse()
                .map_err(|_| format!("bad port {p:?} in {value:?}"))?,
        };
        Ok(Endpoint::Tcp {
            host: host.to_owned(),
            port,
        })
    }

    /// The HTTP address of a TCP endpoint (`tcp://host:port`, IPv6 in brackets).
    pub(crate) fn url(&self) -> String {
        match self {
            Endpoint::Unix { path } => format!("unix://{path}"),
            Endpoint::Tcp { host, port } if host.contains(':') => format!("tcp://[{host}]:{port}"),
            Endpoint::Tcp { host, port } => format!("tcp://{host}:{port}"),
        }
    }

    /// The host to connect to for a published port: `127.0.0.1` for a local socket, the
    /// engine's host for a TCP engine.
    pub(crate) fn container_host(&self) -> String {
        match self {
            Endpoint::Unix { .. } => "127.0.0.1".to_owned(),
            Endpoint::Tcp { host, .. } if host == "localhost" => "127.0.0.1".to_owned(),
            Endpoint::Tcp { host, .. } => host.clone(),
        }
    }

    /// True when the engine runs on this machine (a socket, or a loopback address).
    pub(crate) fn is_local(&self) -> bool {
        match self {
            Endpoint::Unix { .. } => true,
            Endpoint::Tcp { host, .. } => {
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    /// The host address ports are published on: loopback for a local engine; all of a
    /// remote engine's interfaces otherwise (its loopback is out of this machine's reach).
    pub(crate) fn bind_ip(&self) -> &'static str {
        if self.is_local() {
            "127.0.0.1"
        } else {
            "0.0.0.0"
        }
    }
}

/// The engine named by the environment (`DOCKER_HOST`), and how it was named, for messages.
/// The overrides `FIXTURES_CONTAINER_HOST` (host to connect to) and `FIXTURES_DOCKER_BIND_IP`
/// are applied when connecting (`engine::connect`).
pub(crate) fn from_env() -> Result<(Endpoint, String), Error> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let described = match docker_host.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => format!("{v} (from DOCKER_HOST)"),
        _ => format!("unix://{DEFAULT_SOCKET} (the default; DOCKER_HOST is unset)"),
    };
    let endpoint =
        Endpoint::parse(docker_host.as_deref()).map_err(|cause| Error::EngineUnreachable {
            tried: described.clone(),
            cause,
        })?;
    Ok((endpoint, described))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn no_docker_host_means_the_default_socket_and_loopback() {
        for v in [None, Some(""), Some("  ")] {
            let e = Endpoint::parse(v).unwrap();
            assert_eq!(
                e,
                Endpoint::Unix {
                    path: DEFAULT_SOCKET.into()
                }
            );
            assert_eq!(e.container_host(), "127.0.0.1");
            assert_eq!(e.bind_ip(), "127.0.0.1");
        }
    }

    #[test]
    fn a_unix_socket_means_this_machine() {
        let e = Endpoint::parse(Some("unix:///run/user/1000/docker.sock")).unwrap();
        assert_eq!(
            e,
            Endpoint::Unix {
                path: "/run/user/1000/docker.sock".into()
            }
        );
        assert_eq!(e.container_host(), "127.0.0.1");
        assert!(e.is_local());
        assert!(Endpoint::parse(Some("unix://")).is_err());
    }

    #[test]
    fn a_tcp_engine_means_its_host() {
        let e = Endpoint::parse(Some("tcp://build-box.example:2376")).unwrap();
        assert_eq!(e, tcp("build-box.example", 2376));
        assert_eq!(e.container_host(), "build-box.example");
        assert!(!e.is_local());
        assert_eq!(e.bind_ip(), "0.0.0.0");
        assert_eq!(e.url(), "tcp://build-box.example:2376");

        let e = Endpoint::parse(Some("tcp://10.1.2.3")).unwrap();
        assert_eq!(e, tcp("10.1.2.3", 2375));
        assert_eq!(e.container_host(), "10.1.2.3");

        let e = Endpoint::parse(Some("http://127.0.0.1:40123/")).unwrap();
        assert_eq!(e, tcp("127.0.0.1", 40123));
        assert_eq!(e.container_host(), "127.0.0.1");
        assert!(e.is_local());
        assert_eq!(e.bind_ip(), "127.0.0.1");

        let e = Endpoint::parse(Some("tcp://localhost:2375")).unwrap();
        assert_eq!(e.container_host(), "127.0.0.1");
        assert!(e.is_local());
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets_out_of_the_host() {
        let e = Endpoint::parse(Some("tcp://[::1]:2375")).unwrap();
        assert_eq!(e, tcp("::1", 2375));
        assert_eq!(e.container_host(), "::1");
        assert!(e.is_local());
        assert_eq!(e.url(), "tcp://[::1]:2375");
    }

    #[test]
    fn unsupported_or_malformed_addresses_are_refused_with_a_reason() {
        for bad in [
            "ssh://user@host",
            "https://host:2376",
            "npipe:////./pipe/docker_engine",
            "tcp://:2375",
            "tcp://host:notaport",
            "tcp://[::1",
            "/var/run/docker.sock",
        ] {
            assert!(Endpoint::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
