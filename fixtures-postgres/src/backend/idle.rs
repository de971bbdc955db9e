//! Servers that stop themselves once nothing of their run is left.
//!
//! A run killed whole — a CI job cancelled: its tests, its runner and its watchdog SIGKILLed
//! together — leaves no process to stop its server. So every server we start is watched by a
//! small shell loop that is not in the run's process tree (inside the container, or detached
//! beside a local postmaster): once a second it asks the server how many client sessions it
//! has, and after `FIXTURES_PG_IDLE_STOP` (default 5 s) with none it stops the server (fast
//! shutdown). While a run lives, each of its processes that uses the server holds a session
//! (its keeper, see `keeper.rs`): only a gap between two nextest processes longer than that
//! stops it early, and the next process starts another (~0.4 s).

/// The shell function `watch PID SOCKET_DIR PORT GRACE`: returns once the postmaster `PID`
/// is gone, after stopping it (SIGINT) when its server has had no client session for `GRACE`
/// checks a second apart. `$FIXTURES_PG_PSQL` is the `psql` to ask with (over the socket).
pub(super) const WATCH: &str = r#"watch() {
  idle=0
  while kill -0 "$1" 2>/dev/null; do
    sleep 1
    n=$("$FIXTURES_PG_PSQL" -XAtq -h "$2" -p "$3" -U postgres -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null) || n=
    case "$n" in
      0) idle=$((idle + 1)) ;;
      '') ;;
      *) idle=0 ;;
    esac
    if [ "$idle" -ge "$4" ]; then kill -INT "$1" 2>/dev/null; fi
  done
}
"#;
