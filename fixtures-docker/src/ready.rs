//! Waiting for readiness: every condition polled with capped exponential backoff under one
//! deadline, the container's state checked on every round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::engine::Engine;
use crate::error::Error;
use crate::info::ContainerInfo;
use crate::probe;
use crate::wait::WaitFor;

/// The first pause between two rounds.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between two rounds.
const MAX_PAUSE: Duration = Duration::from_millis(250);
/// The longest a single probe (or state check) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A published port without a host binding: the container stopped (the next state check
/// says so).
const NO_BINDING: &str = "the port has no host binding (the container is not running)";
/// How many log lines an error carries.
pub(crate) const LOG_TAIL: usize = 40;

/// The pause after round `attempt` (0-based): `first · 2^attempt`, at most `cap`.
pub(crate) fn backoff(attempt: u32, first: Duration, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    first.checked_mul(factor).map_or(cap, |d| d.min(cap))
}

/// Follows the container's log from its start, counting occurrences of each text.
struct LogWatcher {
    counts: Arc<Mutex<Vec<usize>>>,
    changed: Arc<Notify>,
    task: JoinHandle<()>,
}

impl LogWatcher {
    fn spawn(engine: &Engine, id: &str, texts: Vec<String>) -> LogWatcher {
        let counts = Arc::new(Mutex::new(vec![0; texts.len()]));
        let changed = Arc::new(Notify::new());
        let mut stream = engine.client.follow_logs(id);
        let (c, n) = (counts.clone(), changed.clone());
        let task = tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut partial = String::new();
            let count = |line: &str| {
                let mut counts = c.lock();
                for (i, t) in texts.iter().enumerate() {
                    counts[i] += line.matches(t.as_str()).count();
                }
            };
            while let Some(Ok(chunk)) = stream.next().await {
                partial.push_str(&chunk);
                while let Some(end) = partial.find('\n') {
                    count(&partial[..end]);
                    partial.drain(..=end);
                }
                n.notify_one();
            }
            count(&partial);
            n.notify_one();
        });
        LogWatcher {
            counts,
            changed,
            task,
        }
    }

    fn count(&self, index: usize) -> usize {
        self.counts.lock().get(index).copied().unwrap_or(0)
    }
}

impl Drop for LogWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What is known about the container being waited for.
pub(crate) struct Target<'a> {
    pub(crate) engine: &'a Arc<Engine>,
    pub(crate) info: &'a ContainerInfo,
    pub(crate) image: &'a str,
}

impl Target<'_> {
    async fn log_tail(&self) -> String {
        match timeout(
            PROBE_TIMEOUT,
            self.engine.client.logs(self.info.id(), LOG_TAIL),
        )
        .await
        {
            Ok(Ok(text)) if text.trim().is_empty() => "(no output)".to_owned(),
            Ok(Ok(text)) => text.trim_end().to_owned(),
            Ok(Err(e)) => format!("(cannot read the logs: {e})"),
            Err(_) => "(cannot read the logs: no answer)".to_owned(),
        }
    }

    /// Fails when the container has exited (with its code and logs) or is gone; otherwise
    /// returns what went wrong asking, if anything did.
    async fn running(&self, budget: Duration, deadline: Duration) -> Result<Option<String>, Error> {
        match timeout(budget, self.engine.client.inspect(self.info.id())).await {
            Ok(Ok(Some(state))) if matches!(state.status.as_str(), "exited" | "dead") => {
                Err(Error::ExitedEarly {
                    container: self.info.name().to_owned(),
                    image: self.image.to_owned(),
                    exit_code: state.exit_code.unwrap_or(-1),
                    error: state.error,
                    logs: self.log_tail().await,
                })
            }
            Ok(Ok(Some(_))) => Ok(None),
            Ok(Ok(None)) => Err(self.not_ready(
                deadline,
                "the container was removed while it was waited for".to_owned(),
                String::from("(gone)"),
            )),
            Ok(Err(e)) => Ok(Some(format!("inspecting the container: {e}"))),
            Err(_) => Ok(Some("inspecting the container: no answer".to_owned())),
        }
    }

    fn not_ready(&self, deadline: Duration, last_error: String, logs: String) -> Error {
        Error::NotReady {
            container: self.info.name().to_owned(),
            image: self.image.to_owned(),
            deadline,
            last_error,
            logs,
        }
    }
}

/// Waits until every condition holds, the container exits (an error at once), or `deadline`
/// passes (an error with the last probe error and the log tail).
pub(crate) async fn wait_ready(
    target: &Target<'_>,
    waits: &[WaitFor],
    deadline: Duration,
) -> Result<(), Error> {
    let start = Instant::now();
    let until = start + deadline;
    // Each log condition's place among the watched texts.
    let mut texts = Vec::new();
    let log_index: Vec<Option<usize>> = waits
        .iter()
        .map(|w| match w {
            WaitFor::LogLine { text, .. } => {
                texts.push(text.clone());
                Some(texts.len() - 1)
            }
            _ => None,
        })
        .collect();
    let watcher =
        (!texts.is_empty()).then(|| LogWatcher::spawn(target.engine, target.info.id(), texts));
    let mut pending: Vec<usize> = (0..waits.len()).collect();
    let mut last_error = String::from("no probe has completed yet");
    let mut attempt = 0;
    loop {
        let budget = until
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(50), PROBE_TIMEOUT);
        if let Some(e) = target.running(budget, deadline).await? {
            last_error = e;
        }
        let mut still = Vec::new();
        // A log line not yet seen holds back the conditions after it: a probe before the
        // service says it listens can hang in the engine's port proxy (whose own connect to a
        // container not yet listening waits for a SYN retransmit: 0.4-1 s seen) instead of
        // failing at once.
        let mut held = false;
        for i in pending {
            let w = &waits[i];
            if held {
                still.push(i);
                continue;
            }
            if let Err(e) = check(target, w, log_index[i], watcher.as_ref(), budget).await {
                last_error = format!("{w}: {e}");
                held = matches!(w, WaitFor::LogLine { .. });
                still.push(i);
            }
        }
        pending = still;
        if pending.is_empty() {
            // It may have exited right after saying it was ready.
            target.running(budget, deadline).await?;
            return Ok(());
        }
        let now = Instant::now();
        if now >= until {
            return Err(target.not_ready(deadline, last_error, target.log_tail().await));
        }
        let pause = backoff(attempt, FIRST_PAUSE, MAX_PAUSE).min(until - now);
        attempt += 1;
        match &watcher {
            Some(w) => {
                let _ = timeout(pause, w.changed.notified()).await;
            }
            None => tokio::time::sleep(pause).await,
        }
    }
}

/// One probe of one condition; `log_index` is its place among the watched log texts.
async fn check(
    target: &Target<'_>,
    wait: &WaitFor,
    log_index: Option<usize>,
    watcher: Option<&LogWatcher>,
    budget: Duration,
) -> Result<(), String> {
    let info = target.info;
    match wait {
        WaitFor::LogLine { times, .. } => {
            let seen = match (watcher, log_index) {
                (Some(w), Some(i)) => w.count(i),
                _ => 0,
            };
            if seen >= *times {
                Ok(())
            } else {
                Err(format!("seen {seen} of {times} times"))
            }
        }
        WaitFor::Tcp { port } => {
            let host_port = info.host_port(*port).ok_or(NO_BINDING)?;
            probe::tcp(info.host(), host_port, budget).await
        }
        WaitFor::Http { port, path, status } => {
            let host_port = info.host_port(*port).ok_or(NO_BINDING)?;
            let got = probe::http_status(info.host(), host_port, path, budget).await?;
            if got == *status {
                Ok(())
            } else {
                Err(format!("status {got}"))
            }
        }
        WaitFor::Exec { cmd } => {
            match timeout(budget, target.engine.client.exec(info.id(), cmd)).await {
                Ok(Ok((0, _))) => Ok(()),
                Ok(Ok((code, out))) => Err(format!("exit code {code}: {}", out.trim())),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no result within {budget:?}")),
            }
        }
        WaitFor::Custom { probe, .. } => match timeout(budget, probe.call(info.clone())).await {
            Ok(result) => result,
            Err(_) => Err(format!("no result within {budget:?}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_from_the_first_pause() {
        let got: Vec<Duration> = (0..5).map(|a| backoff(a, 10 * MS, 1000 * MS)).collect();
        assert_eq!(got, [10 * MS, 20 * MS, 40 * MS, 80 * MS, 160 * MS]);
    }

    #[test]
    fn backoff_stops_at_the_cap() {
        assert_eq!(backoff(5, 10 * MS, 250 * MS), 250 * MS);
        assert_eq!(backoff(6, 10 * MS, 250 * MS), 250 * MS);
    }

    #[test]
    fn backoff_never_overflows() {
        for attempt in [31, 32, 64, 1000, u32::MAX] {
            assert_eq!(backoff(attempt, 10 * MS, 250 * MS), 250 * MS);
        }
        assert_eq!(
            backoff(
                40,
                Duration::from_secs(u64::MAX / 2),
                Duration::from_secs(5)
            ),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn backoff_reaches_the_default_cap_after_five_rounds() {
        let total: Duration = (0..10).map(|a| backoff(a, FIRST_PAUSE, MAX_PAUSE)).sum();
        // 10+20+40+80+160, then 250 five times.
        assert_eq!(total, 1560 * MS);
    }
}
