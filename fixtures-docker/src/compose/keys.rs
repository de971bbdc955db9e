//! What one key of a service becomes: `build` (a local base image and derivation steps),
//! `ports`, `volumes`, `healthcheck` (with compose's durations).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use docker_compose_types as dct;

use crate::reference::split_reference;
use crate::spec::ContainerSpec;
use crate::wait::WaitFor;

/// A service's `build`: its Dockerfile's base image (`FROM`, a local image: no registry is
/// asked) and the rest of its lines as the spec's derivation steps.
pub(super) fn built(
    path: &Path,
    dir: &Path,
    name: &str,
    build: &dct::BuildStep,
) -> Result<ContainerSpec, String> {
    let (context, dockerfile, inline) = match build {
        dct::BuildStep::Simple(c) => (c.clone(), None, None),
        dct::BuildStep::Advanced(a) => (
            a.context.clone(),
            a.dockerfile.clone(),
            a.dockerfile_inline.clone(),
        ),
    };
    let file = dir
        .join(&context)
        .join(dockerfile.unwrap_or_else(|| "Dockerfile".into()));
    let text = match inline {
        Some(t) => t,
        None => std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read its Dockerfile {}: {e}", file.display()))?,
    };
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let from = lines.next().unwrap_or_default().trim();
    let base = from
        .strip_prefix("FROM ")
        .or_else(|| from.strip_prefix("from "))
        .map(str::trim)
        .filter(|b| !b.contains(' '))
        .ok_or_else(|| {
            format!(
                "its Dockerfile must start with `FROM <image>` (one stage; read by {} for `{name}`)",
                path.display()
            )
        })?;
    let (image, tag) = split_reference(base);
    let steps: Vec<&str> = lines.collect();
    let spec = ContainerSpec::new(image, tag);
    Ok(if steps.is_empty() {
        spec
    } else {
        spec.derive(steps.join("\n"))
    })
}

/// The container ports a service publishes (on 127.0.0.1, at a random host port: a host
/// port written in the file is not used, so that runs on one machine do not collide).
pub(super) fn ports(p: &dct::Ports) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    match p {
        dct::Ports::Short(list) => {
            for item in list {
                let spec = item.split('/').next().unwrap_or(item);
                let target = spec.rsplit(':').next().unwrap_or(spec);
                let port = target.parse().map_err(|_| {
                    format!("port `{item}`: only single TCP ports are supported, not ranges")
                })?;
                if item.ends_with("/udp") {
                    return Err(format!("port `{item}`: UDP is not supported"));
                }
                out.push(port);
            }
        }
        dct::Ports::Long(list) => out.extend(list.iter().map(|p| p.target)),
    }
    Ok(out)
}

pub(super) enum Mounted {
    Bind(String, String, bool),
    Named(String, String),
    Tmpfs(String),
}

pub(super) fn mount(
    dir: &Path,
    v: &dct::Volumes,
    declared: &BTreeSet<String>,
) -> Result<Mounted, String> {
    let (kind, source, target, ro) = match v {
        dct::Volumes::Simple(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [target] => {
                    return Err(format!(
                        "anonymous volume `{target}`: name it (`name:{target}`) and declare it under `volumes`"
                    ));
                }
                [source, target] => (None, source.to_string(), target.to_string(), false),
                [source, target, mode] => (
                    None,
                    source.to_string(),
                    target.to_string(),
                    mode.split(',').any(|m| m == "ro"),
                ),
                _ => return Err(format!("volume `{s}`: expected `source:target[:mode]`")),
            }
        }
        dct::Volumes::Advanced(a) => (
            Some(a._type.clone()),
            a.source.clone().unwrap_or_default(),
            a.target.clone(),
            a.read_only,
        ),
    };
    let bind = match kind.as_deref() {
        Some("bind") => true,
        Some("volume") => false,
        Some("tmpfs") => return Ok(Mounted::Tmpfs(target)),
        Some(other) => {
            return Err(format!(
                "volume type `{other}` is not supported (bind, volume, tmpfs)"
            ));
        }
        None => source.starts_with(['.', '/', '~']),
    };
    if bind {
        let host = match source.strip_prefix("~/") {
            Some(rest) => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest),
            None => dir.join(&source),
        };
        std::fs::create_dir_all(&host)
            .or_else(|e| if host.exists() { Ok(()) } else { Err(e) })
            .map_err(|e| format!("bind mount source {}: {e}", host.display()))?;
        let host = host.canonicalize().unwrap_or(host);
        return Ok(Mounted::Bind(host.display().to_string(), target, ro));
    }
    if !declared.contains(&source) {
        return Err(format!(
            "named volume `{source}` is not declared under the file's top-level `volumes`"
        ));
    }
    Ok(Mounted::Named(source, target))
}

/// A healthcheck as a readiness condition, with its deadline: the probe's command, run in the
/// container until it exits 0, for `start_period + interval × retries` (at least 60 s).
pub(super) fn health(h: &dct::Healthcheck) -> Result<Option<(WaitFor, Duration)>, String> {
    if h.disable {
        return Ok(None);
    }
    let cmd: Vec<String> = match &h.test {
        None => return Ok(None),
        Some(dct::HealthcheckTest::Single(s)) => vec!["sh".into(), "-c".into(), s.clone()],
        Some(dct::HealthcheckTest::Multiple(v)) => match v.split_first() {
            Some((first, _)) if first == "NONE" => return Ok(None),
            Some((first, rest)) if first == "CMD" => rest.to_vec(),
            Some((first, rest)) if first == "CMD-SHELL" => {
                vec!["sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => return Err("`test` must start with CMD, CMD-SHELL or NONE".into()),
        },
    };
    let secs = |d: &Option<String>, default: u64| {
        d.as_deref()
            .and_then(duration)
            .unwrap_or(Duration::from_secs(default))
    };
    let retries = u32::try_from(h.retries.max(3)).unwrap_or(3);
    let deadline = secs(&h.start_period, 0) + secs(&h.interval, 30) * retries;
    Ok(Some((
        WaitFor::exec(cmd),
        deadline.max(Duration::from_secs(60)),
    )))
}

/// A compose duration (`1m30s`, `10s`, `500ms`).
fn duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        let secs = match unit.as_str() {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            "us" => n / 1e6,
            _ => return None,
        };
        total += Duration::from_secs_f64(secs);
    }
    if !number.is_empty() {
        return None;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_durations_are_read() {
        assert_eq!(duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("10"), None);
    }

    #[test]
    fn host_ports_are_not_used() {
        let p = dct::Ports::Short(vec![
            "8080".into(),
            "5433:5432".into(),
            "127.0.0.1:6380:6379/tcp".into(),
        ]);
        assert_eq!(ports(&p).unwrap(), vec![8080, 5432, 6379]);
        assert!(ports(&dct::Ports::Short(vec!["8000-8010:8000-8010".into()])).is_err());
    }
}
