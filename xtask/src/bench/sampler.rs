//! How many Postgres servers a run has alive: sampled every ~100 ms while it runs.
//!
//! Counted: containers of the benchmark image that belong to the run (their
//! `org.fixtures.run-owner` is a process of the run's tree, or they carry this xtask's
//! `org.fixtures.bench` label: testcontainers' and the `#[sqlx::test]` server), and local
//! Postgres servers of ours (`cluster_name=fixtures-pg-local`) started since the run began.
//! Other engineers' containers and servers on the same machine are not counted.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{IMAGE, docker};
use crate::Result;

/// The label the benchmark's own containers carry (value: [`bench_id`]).
pub(crate) const BENCH_LABEL: &str = "org.fixtures.bench";

/// This xtask's identity on the containers it has started (or had started).
pub(crate) fn bench_id() -> String {
    format!("xtask-{}", std::process::id())
}

/// What a run had alive.
#[derive(Debug, Default)]
pub(crate) struct Sampled {
    /// The most servers alive at once.
    pub(crate) peak: usize,
    /// Every container of the run seen alive.
    pub(crate) containers: BTreeSet<String>,
}

pub(crate) struct Sampler {
    thread: JoinHandle<Sampled>,
}

impl Sampler {
    /// Samples the tree of `root` (the runner's process) until `stop`.
    pub(crate) fn start(root: u32, stop: Arc<AtomicBool>) -> Sampler {
        let before = local_postmasters();
        let thread = std::thread::spawn(move || {
            let mut sampled = Sampled::default();
            while !stop.load(Ordering::Acquire) {
                let tree = descendants(root);
                let mine = run_containers(&tree);
                let local = local_postmasters().difference(&before).count();
                sampled.peak = sampled.peak.max(mine.len() + local);
                sampled.containers.extend(mine);
                std::thread::sleep(Duration::from_millis(100));
            }
            sampled
        });
        Sampler { thread }
    }

    pub(crate) fn finish(self) -> Sampled {
        self.thread.join().unwrap_or_default()
    }
}

/// The processes under `root` (itself included), from `/proc`.
fn descendants(root: u32) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = BTreeSet::from([root]);
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if tree.insert(c) {
                todo.push(c);
            }
        }
    }
    tree
}

/// The running containers of the image that belong to the run whose processes are `tree`.
fn run_containers(tree: &BTreeSet<u32>) -> BTreeSet<String> {
    let format = format!(
        "{{{{.ID}}}}\t{{{{.Label \"org.fixtures.run-owner\"}}}}\t{{{{.Label \"{BENCH_LABEL}\"}}}}"
    );
    let ancestor = format!("ancestor={IMAGE}");
    let Ok(out) = docker(&[
        "ps",
        "--no-trunc",
        "--filter",
        &ancestor,
        "--format",
        &format,
    ]) else {
        return BTreeSet::new();
    };
    let me = bench_id();
    out.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (id, owner, bench) = (f.next()?, f.next().unwrap_or(""), f.next().unwrap_or(""));
            let owner_pid = owner.split(':').next().and_then(|p| p.parse::<u32>().ok());
            let ours = bench == me || owner_pid.is_some_and(|p| tree.contains(&p));
            ours.then(|| id.to_owned())
        })
        .collect()
}

/// Local Postgres servers of ours (their postmaster's command line names the cluster).
fn local_postmasters() -> BTreeSet<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline);
            text.contains("cluster_name=fixtures-pg-local")
                .then_some(pid)
        })
        .collect()
}

/// Waits until none of `containers` exists any more; removes what is still there after
/// `deadline` and returns how many that was.
pub(crate) fn wait_gone(containers: &BTreeSet<String>, deadline: Duration) -> usize {
    let start = Instant::now();
    loop {
        let all = docker(&["ps", "-a", "-q", "--no-trunc"]).unwrap_or_default();
        let left: Vec<&String> = containers
            .iter()
            .filter(|c| all.lines().any(|l| l.trim() == c.as_str()))
            .collect();
        if left.is_empty() {
            return 0;
        }
        if start.elapsed() > deadline {
            for c in &left {
                let _ = docker(&["rm", "-f", "-v", c]);
            }
            eprintln!("removed {} container(s) the run left behind", left.len());
            return left.len();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// After everything: no container of this benchmark may remain (they are removed if so).
pub(crate) fn assert_no_bench_containers() -> Result {
    let filter = format!("label={BENCH_LABEL}={}", bench_id());
    let out = docker(&["ps", "-a", "-q", "--filter", &filter])?;
    let left: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    if left.is_empty() {
        return Ok(());
    }
    for c in &left {
        let _ = docker(&["rm", "-f", "-v", c]);
    }
    Err(format!(
        "{} benchmark container(s) were left behind (now removed)",
        left.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_in_its_own_tree() {
        let me = std::process::id();
        assert!(descendants(me).contains(&me));
    }
}
