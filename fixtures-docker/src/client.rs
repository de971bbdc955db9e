//! Every call to the Docker engine, in one place: bollard in, our own types out.
//!
//! Each method is one engine operation; its arguments and answers are our own types
//! (`client_types.rs`), and errors become [`ClientError`] (the engine's status and message),
//! which the callers turn into the crate's [`Error`](crate::Error) with context.
//! The client holds no pooled connections (bollard keeps none idle), so it may be used from
//! any runtime; the crate still runs its engine work on the core's background runtime.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, ContainerSummaryStateEnum, EndpointSettings,
    HostConfig, NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, RenameContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt, TryStreamExt};

use crate::client_types::{ClientError, CreateRequest, Inspected, Listed, PullEvent};
use crate::endpoint::Endpoint;
use crate::error::chain;

/// The read timeout of one engine request (streams excepted), in seconds.
const REQUEST_TIMEOUT_SECS: u64 = 120;

impl From<bollard::errors::Error> for ClientError {
    fn from(e: bollard::errors::Error) -> Self {
        match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => ClientError {
                status: Some(status_code),
                message,
            },
            other => ClientError {
                status: None,
                message: chain(&other),
            },
        }
    }
}

type Result<T> = std::result::Result<T, ClientError>;

/// The engine client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    docker: Docker,
}

fn label_filters(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), labels.to_vec())])
}

impl Client {
    /// A client for `endpoint` (no request made yet).
    pub(crate) fn new(endpoint: &Endpoint) -> Result<Client> {
        let version = bollard::API_DEFAULT_VERSION;
        let docker = match endpoint {
            Endpoint::Unix { path } => {
                Docker::connect_with_unix(&format!("unix://{path}"), REQUEST_TIMEOUT_SECS, version)?
            }
            Endpoint::Tcp { .. } => {
                Docker::connect_with_http(&endpoint.url(), REQUEST_TIMEOUT_SECS, version)?
            }
        };
        Ok(Client { docker })
    }

    /// Pings the engine and settles on the API version both sides speak.
    pub(crate) async fn handshake(self) -> Result<Client> {
        self.docker.ping().await?;
        Ok(Client {
            docker: self.docker.negotiate_version().await?,
        })
    }

    /// True when `image` (`name:tag`) is present locally.
    pub(crate) async fn image_present(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = ClientError::from(e);
                if e.is_not_found() { Ok(false) } else { Err(e) }
            }
        }
    }

    /// The id of local image `image`; `None` when it is not present.
    pub(crate) async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(image).await {
            Ok(inspected) => Ok(inspected.id),
            Err(e) => {
                let e = ClientError::from(e);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    /// Builds image `tag` from `context` (a tar archive holding a `Dockerfile`), never
    /// pulling, intermediate containers removed whatever happens. Returns the build's last
    /// lines of output.
    pub(crate) async fn build(&self, context: Vec<u8>, tag: &str) -> Result<String> {
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .build();
        let body = bollard::body_full(context.into());
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut output = String::new();
        while let Some(info) = stream.next().await {
            let info = info?;
            if let Some(detail) = info.error_detail {
                return Err(ClientError {
                    status: None,
                    message: format!(
                        "{}{}",
                        output,
                        detail.message.unwrap_or_else(|| "the build failed".into())
                    ),
                });
            }
            if let Some(text) = info.stream {
                // The last lines only: enough to say why a step failed.
                output.push_str(&text);
                let lines: Vec<&str> = output.lines().collect();
                if lines.len() > 40 {
                    output = lines[lines.len() - 20..].join("\n") + "\n";
                }
            }
        }
        Ok(output)
    }

    /// Removes the untagged images carrying all of `labels` (`key=value`).
    pub(crate) async fn remove_dangling_images(&self, labels: &[String]) -> Result<()> {
        let mut filters = label_filters(labels);
        filters.insert("dangling".into(), vec!["true".into()]);
        let options = ListImagesOptionsBuilder::new().filters(&filters).build();
        for image in self.docker.list_images(Some(options)).await? {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            self.docker
                .remove_image(&image.id, Some(options), None)
                .await?;
        }
        Ok(())
    }

    /// Pulls `image:tag`, reporting each progress event.
    pub(crate) async fn pull(
        &self,
        image: &str,
        tag: &str,
        mut on_event: impl FnMut(PullEvent),
    ) -> Result<()> {
        let mut options = CreateImageOptionsBuilder::new().from_image(image);
        if !tag.is_empty() {
            options = options.tag(tag);
        }
        let mut stream = self.docker.create_image(Some(options.build()), None, None);
        while let Some(info) = stream.next().await {
            let info = info?;
            let detail = info.progress_detail.unwrap_or_default();
            on_event(PullEvent {
                layer: info.id,
                status: info.status.unwrap_or_default(),
                current: detail.current.and_then(|c| u64::try_from(c).ok()),
                total: detail.total.and_then(|t| u64::try_from(t).ok()),
            });
        }
        Ok(())
    }

    /// Creates a container; returns its id.
    pub(crate) async fn create(&self, req: CreateRequest<'_>) -> Result<String> {
        let spec = req.spec;
        let port_key = |p: &u16| format!("{p}/tcp");
        let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        labels.extend(req.labels.clone());
        let port_bindings = spec
            .ports
            .iter()
            .map(|p| {
                let binding = PortBinding {
                    host_ip: Some(req.bind_ip.to_owned()),
                    host_port: Some(String::new()),
                };
                (port_key(p), Some(vec![binding]))
            })
            .collect();
        let host_config = HostConfig {
            port_bindings: Some(port_bindings),
            tmpfs: (!spec.tmpfs.is_empty()).then(|| spec.tmpfs.clone().into_iter().collect()),
            binds: (!spec.mounts.is_empty())
                .then(|| spec.mounts.iter().map(|m| m.to_bind()).collect()),
            network_mode: spec.network.clone(),
            auto_remove: spec.auto_remove.then_some(true),
            pid_mode: spec.host_pid.then(|| "host".to_owned()),
            group_add: (!spec.groups.is_empty()).then(|| spec.groups.clone()),
            ..Default::default()
        };
        let networking_config = spec.network.as_ref().map(|n| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                n.clone(),
                EndpointSettings {
                    aliases: (!spec.aliases.is_empty())
                        .then(|| spec.aliases.iter().cloned().collect()),
                    ..Default::default()
                },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(spec.image_ref()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            cmd: spec.cmd.clone(),
            entrypoint: spec.entrypoint.clone(),
            user: spec.user.clone(),
            exposed_ports: Some(spec.ports.iter().map(port_key).collect()),
            labels: Some(labels),
            stop_timeout: spec
                .stop_timeout
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(req.name).build();
        Ok(self.docker.create_container(Some(options), body).await?.id)
    }

    /// Starts a created container.
    pub(crate) async fn start(&self, id: &str) -> Result<()> {
        Ok(self.docker.start_container(id, None).await?)
    }

    /// Inspects a container; `None` when it does not exist.
    pub(crate) async fn inspect(&self, id: &str) -> Result<Option<Inspected>> {
        let c = match self.docker.inspect_container(id, None).await {
            Ok(c) => c,
            Err(e) => {
                let e = ClientError::from(e);
                return if e.is_not_found() { Ok(None) } else { Err(e) };
            }
        };
        let state = c.state.unwrap_or_default();
        let mut ports = BTreeMap::new();
        let settings = c.network_settings.unwrap_or_default();
        let ips = settings
            .networks
            .unwrap_or_default()
            .into_values()
            .filter_map(|n| n.ip_address.filter(|ip| !ip.is_empty()))
            .collect();
        let published = settings.ports.unwrap_or_default();
        for (key, bindings) in published {
            let Some(port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            let list: Vec<(String, u16)> = bindings
                .unwrap_or_default()
                .into_iter()
                .filter_map(|b| {
                    let host_port = b.host_port?.parse().ok()?;
                    Some((b.host_ip.unwrap_or_default(), host_port))
                })
                .collect();
            ports.insert(port, list);
        }
        Ok(Some(Inspected {
            id: c.id.unwrap_or_else(|| id.to_owned()),
            name: c
                .name
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default(),
            status: state
                .status
                .unwrap_or(ContainerStateStatusEnum::EMPTY)
                .to_string(),
            exit_code: state.exit_code,
            error: state.error.filter(|e| !e.is_empty()),
            ports,
            ips,
        }))
    }

    /// Removes a container with its anonymous volumes, killing it if needed. A container
    /// that is gone, or already being removed, counts as removed.
    pub(crate) async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = ClientError::from(e);
                let in_progress = e.status == Some(409) && e.message.contains("in progress");
                if e.is_not_found() || in_progress {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Renames a container.
    pub(crate) async fn rename(&self, id: &str, name: &str) -> Result<()> {
        let options = RenameContainerOptionsBuilder::new().name(name).build();
        Ok(self.docker.rename_container(id, options).await?)
    }

    /// The last `tail` lines of the container's stdout and stderr.
    pub(crate) async fn logs(&self, id: &str, tail: usize) -> Result<String> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let chunks: Vec<String> = self
            .docker
            .logs(id, Some(options))
            .map_ok(|out| out.to_string())
            .try_collect()
            .await?;
        Ok(chunks.concat())
    }

    /// The container's stdout and stderr from the start, following new output until it
    /// exits.
    pub(crate) fn follow_logs(
        &self,
        id: &str,
    ) -> impl Stream<Item = Result<String>> + Send + Unpin + use<> {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        self.docker
            .logs(id, Some(options))
            .map(|r| r.map(|out| out.to_string()).map_err(ClientError::from))
    }

    /// Runs `cmd` in the container; returns its exit code and combined output.
    pub(crate) async fn exec(&self, id: &str, cmd: &[String]) -> Result<(i64, String)> {
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd.to_vec()),
            ..Default::default()
        };
        let exec = self.docker.create_exec(id, options).await?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut out, ..
        } = self.docker.start_exec(&exec.id, None).await?
        {
            while let Some(chunk) = out.next().await {
                output.push_str(&chunk?.to_string());
            }
        }
        let code = self
            .docker
            .inspect_exec(&exec.id)
            .await?
            .exit_code
            .unwrap_or(-1);
        Ok((code, output))
    }

    /// The containers (running or not) that carry all of `labels` (`key=value` or `key`).
    pub(crate) async fn list_containers(&self, labels: &[String]) -> Result<Vec<Listed>> {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&label_filters(labels))
            .build();
        let found = self.docker.list_containers(Some(options)).await?;
        Ok(found
            .into_iter()
            .map(|c| Listed {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
            })
            .collect())
    }

    /// Creates a bridge network; returns its id.
    pub(crate) async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String> {
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".to_owned()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        Ok(self.docker.create_network(request).await?.id)
    }

    /// Removes a network; one that is gone counts as removed.
    pub(crate) async fn remove_network(&self, id: &str) -> Result<()> {
        match self.docker.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = ClientError::from(e);
                if e.is_not_found() { Ok(()) } else { Err(e) }
            }
        }
    }

    /// The networks that carry all of `labels`.
    pub(crate) async fn list_networks(&self, labels: &[String]) -> Result<Vec<Listed>> {
        let options = ListNetworksOptionsBuilder::new()
            .filters(&label_filters(labels))
            .build();
        let found = self.docker.list_networks(Some(options)).await?;
        Ok(found
            .into_iter()
            .map(|n| Listed {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
                running: true,
            })
            .collect())
    }

    /// Creates a named volume (or finds it, when it exists: the engine's answer is the same).
    pub(crate) async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker.create_volume(request).await?;
        Ok(())
    }

    /// Removes a named volume; one that is gone counts as removed (one still in use is an
    /// error: its container goes first).
    pub(crate) async fn remove_volume(&self, name: &str) -> Result<()> {
        match self
            .docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = ClientError::from(e);
                if e.is_not_found() { Ok(()) } else { Err(e) }
            }
        }
    }

    /// The named volumes that carry all of `labels` (as [`Listed`], named by `name` and `id`).
    pub(crate) async fn list_volumes(&self, labels: &[String]) -> Result<Vec<Listed>> {
        let options = ListVolumesOptionsBuilder::new()
            .filters(&label_filters(labels))
            .build();
        let found = self.docker.list_volumes(Some(options)).await?;
        Ok(found
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Listed {
                id: v.name.clone(),
                name: v.name,
                labels: v.labels.into_iter().collect(),
                running: true,
            })
            .collect())
    }
}
