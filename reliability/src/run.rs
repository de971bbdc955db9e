//! Starting a test run in its own process group, watching its log for a phase, and hitting it
//! with a signal there — the way a terminal's Ctrl-C or a CI runner's kill reaches a run.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// When to send the signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `delay` after the first stderr line containing `needle` (ANSI colours stripped).
    Phase {
        /// The text that marks the phase in the framework's log.
        needle: String,
        /// Extra wait after it (the random part).
        delay: Duration,
    },
    /// `delay` after the start.
    After(Duration),
    /// Never: the run ends on its own (panics, exits, aborts, timeouts).
    Never,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Its exit status (`None` when the harness had to kill it after `limit`).
    pub status: Option<ExitStatus>,
    /// Whether the signal was sent (the phase was reached in time).
    pub signalled: bool,
    /// From start to exit.
    pub elapsed: Duration,
    /// The last lines of stderr and stdout (for the report of a failed run).
    pub tail: Vec<String>,
    /// All of stderr and stdout, interleaved as read (the first 4 MB).
    pub text: String,
}

impl RunOutcome {
    /// `exit N` or `signal N` (the shell's view), or `hung`.
    pub fn describe(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(sig)) => format!("signal {sig}"),
                _ => "exit ?".into(),
            },
            None => "hung".into(),
        }
    }

    /// True when the run exited with status 0.
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// The watchdogs of run `run` that a CI job's cancellation reaches: processes of this
/// process's cgroup (not the engine's containers) with `FIXTURES_RUN_ID=run` and a
/// `FIXTURES_ROLE` in their environment.
fn watchdogs_of(run: &str) -> Vec<i32> {
    let want = format!("FIXTURES_RUN_ID={run}");
    let cgroup = |dir: &std::path::Path| std::fs::read_to_string(dir.join("cgroup")).ok();
    let ours = cgroup(std::path::Path::new("/proc/self"));
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            if cgroup(&e.path()) != ours {
                return None;
            }
            let env = std::fs::read(e.path().join("environ")).ok()?;
            let env = String::from_utf8_lossy(&env);
            let vars: Vec<&str> = env.split('\0').collect();
            (vars.contains(&want.as_str()) && vars.iter().any(|v| v.starts_with("FIXTURES_ROLE=")))
                .then_some(pid)
        })
        .collect()
}

/// Removes ANSI colour sequences.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Runs `cmd` in a new process group; sends `signal` to the whole group at `trigger` — with
/// `whole_run`, first to that run's watchdogs too (detached, outside the group), as when a CI
/// job is cancelled; kills the group with SIGKILL when it has not exited after `limit`.
///
/// # Errors
///
/// When the command cannot be started.
pub fn run_and_signal(
    mut cmd: Command,
    trigger: &Trigger,
    signal: i32,
    limit: Duration,
    whole_run: Option<&str>,
) -> std::io::Result<RunOutcome> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(strip_ansi(&line)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let mut tail: VecDeque<String> = VecDeque::new();
    let mut text = String::new();
    let mut fire_at: Option<Instant> = match trigger {
        Trigger::After(d) => Some(start + *d),
        _ => None,
    };
    let mut signalled = false;
    let mut status = None;
    loop {
        while let Ok(line) = rx.try_recv() {
            if let Trigger::Phase { needle, delay } = trigger
                && fire_at.is_none()
                && !signalled
                && line.contains(needle.as_str())
            {
                fire_at = Some(Instant::now() + *delay);
            }
            keep(&mut text, &mut tail, line);
        }
        if let Some(at) = fire_at
            && !signalled
            && Instant::now() >= at
        {
            if let Some(run) = whole_run {
                for pid in watchdogs_of(run) {
                    // SAFETY: kill(2) on a watchdog of our own child's run.
                    unsafe { libc::kill(pid, signal) };
                }
            }
            // SAFETY: kill(2) on our own child's process group; no memory is involved.
            unsafe { libc::kill(-pgid, signal) };
            signalled = true;
        }
        if let Some(s) = child.try_wait()? {
            status = Some(s);
            break;
        }
        if start.elapsed() > limit {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed();
    // Children of the group (nextest's tests) may hold the pipes a little longer.
    let drain_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < drain_until {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => keep(&mut text, &mut tail, line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    Ok(RunOutcome {
        status,
        signalled,
        elapsed,
        tail: tail.into_iter().collect(),
        text,
    })
}

fn keep(text: &mut String, tail: &mut VecDeque<String>, line: String) {
    if text.len() < 4 << 20 {
        text.push_str(&line);
        text.push('\n');
    }
    tail.push_back(line);
    if tail.len() > 40 {
        tail.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "2026  INFO x"
        );
    }

    #[test]
    fn a_phase_signal_reaches_the_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo ready >&2; sleep 30"]);
        let trigger = Trigger::Phase {
            needle: "ready".into(),
            delay: Duration::ZERO,
        };
        let out =
            run_and_signal(cmd, &trigger, libc::SIGTERM, Duration::from_secs(10), None).unwrap();
        assert!(out.signalled);
        assert_eq!(out.describe(), "signal 15");
        assert!(out.elapsed < Duration::from_secs(5));
    }
}
