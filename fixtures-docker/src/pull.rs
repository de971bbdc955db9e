//! Pulling: a local image is used as is; a missing one is pulled with visible progress.

use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::client_types::PullEvent;
use crate::engine::Engine;
use crate::error::Error;
use crate::spec::ContainerSpec;

/// How long a pull may take unless `FIXTURES_PULL_TIMEOUT` says otherwise.
const DEFAULT_PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a layer's byte count is shown while it downloads.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Images known to be present (checked once per process).
static PRESENT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn pull_timeout() -> Result<Duration, Error> {
    match std::env::var("FIXTURES_PULL_TIMEOUT") {
        Err(_) => Ok(DEFAULT_PULL_TIMEOUT),
        Ok(v) => fixtures_core::parse_duration(&v).ok_or(Error::Config {
            var: "FIXTURES_PULL_TIMEOUT",
            value: v,
            expected: "a duration such as 10m or 300s",
        }),
    }
}

/// Makes sure the spec's image is present: uses a local one, pulls a missing one.
pub(crate) async fn ensure(engine: &Engine, spec: &ContainerSpec) -> Result<(), Error> {
    let image = spec.image_ref();
    if PRESENT.lock().contains(&image) {
        return Ok(());
    }
    let unavailable = |cause: String| Error::ImageUnavailable {
        image: image.clone(),
        env_var: spec.image_env.clone(),
        cause,
    };
    match engine.client.image_present(&image).await {
        Ok(true) => {}
        Ok(false) => {
            let limit = pull_timeout()?;
            let start = Instant::now();
            tracing::info!(image = %image, "image not present locally: pulling");
            let mut progress = Progress::new(&image);
            let pull = engine
                .client
                .pull(&spec.image, &spec.tag, |e| progress.show(&e));
            match tokio::time::timeout(limit, pull).await {
                Ok(Ok(())) => {
                    progress.done(start.elapsed());
                }
                Ok(Err(e)) => return Err(unavailable(e.to_string())),
                Err(_) => {
                    return Err(unavailable(format!(
                        "the pull did not finish within {limit:?} (FIXTURES_PULL_TIMEOUT)"
                    )));
                }
            }
        }
        Err(e) => return Err(unavailable(format!("cannot inspect it: {e}"))),
    }
    PRESENT.lock().insert(image);
    Ok(())
}

/// Shows a pull's progress: as tracing events, and on stderr when it is a terminal.
struct Progress<'a> {
    image: &'a str,
    terminal: bool,
    /// Per layer: last status shown, and when bytes were last shown.
    layers: HashMap<String, (String, Instant)>,
}

impl<'a> Progress<'a> {
    fn new(image: &'a str) -> Self {
        Progress {
            image,
            terminal: std::io::stderr().is_terminal(),
            layers: HashMap::new(),
        }
    }

    fn say(&self, line: &str) {
        if self.terminal {
            let _ = writeln!(
                std::io::stderr(),
                "fixtures-docker: pulling {}: {line}",
                self.image
            );
        }
    }

    fn show(&mut self, e: &PullEvent) {
        let layer = e.layer.clone().unwrap_or_default();
        let now = Instant::now();
        let (changed, due) = match self.layers.get(&layer) {
            Some((status, at)) => (
                status != &e.status,
                now.duration_since(*at) >= PROGRESS_EVERY,
            ),
            None => (true, true),
        };
        if !changed && !due {
            return;
        }
        self.layers.insert(layer.clone(), (e.status.clone(), now));
        let bytes = match (e.current, e.total) {
            (Some(c), Some(t)) if t > 0 => format!(" {} / {}", mb(c), mb(t)),
            (Some(c), _) if c > 0 => format!(" {}", mb(c)),
            _ => String::new(),
        };
        if changed {
            tracing::info!(image = self.image, layer = %layer, status = %e.status, current = e.current, total = e.total, "pull progress");
        } else {
            tracing::debug!(image = self.image, layer = %layer, status = %e.status, current = e.current, total = e.total, "pull progress");
        }
        let who = if layer.is_empty() {
            String::new()
        } else {
            format!("{layer} ")
        };
        self.say(&format!("{who}{}{bytes}", e.status));
    }

    fn done(&self, took: Duration) {
        tracing::info!(image = self.image, took = ?took, "image pulled");
        self.say(&format!("done in {took:.1?}"));
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}
