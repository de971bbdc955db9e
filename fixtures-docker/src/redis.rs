//! Redis as a ready fixture: a container ([`redis_spec`]) in any scope, and for each test a
//! logical database of it of its own, empty ([`redis_db`], with an example).
//!
//! Databases 1 to 255 are handed out; database 0 holds the claims (`fixtures:claim:<n>`, set
//! with `NX` and a 30 min expiry, so that the claims of a killed process lapse).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fixtures_core::Setup;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::handoff::Handoff;
use crate::{Container, ContainerSpec, Error, WaitFor};

/// The port Redis listens on in the container.
const PORT: u16 = 6379;
/// The highest database handed out (the server has 256: 0 for the claims, 1..=255).
const LAST_DB: u16 = 255;
/// How long a claim lives if its owner never releases it (a killed process).
const CLAIM_TTL: Duration = Duration::from_secs(30 * 60);
/// How long [`redis_db`] waits for a free database.
const CLAIM_WAIT: Duration = Duration::from_secs(60);
/// The deadline of a connection, and of each command's answer.
const IO_DEADLINE: Duration = Duration::from_secs(10);
/// How long a new server's port may reset connections before it answers.
const READY_WAIT: Duration = Duration::from_secs(10);
/// The deadline of a release at teardown, as a whole.
const RELEASE_DEADLINE: Duration = Duration::from_secs(20);
/// Deletes the claim `KEYS[1]` only if it still holds `ARGV[1]` (atomically).
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                              return redis.call('DEL', KEYS[1]) else return 0 end";

/// A Redis server: image from `FIXTURES_REDIS_IMAGE` (default `redis:7`, the official image),
/// port 6379 exposed, 256 databases, no persistence (`--save '' --appendonly no`), ready once
/// it logs "Ready to accept connections".
///
/// ```
/// let spec = fixtures_docker::redis_spec().label("app", "cache");
/// # let _ = spec;
/// ```
pub fn redis_spec() -> ContainerSpec {
    ContainerSpec::from_env("FIXTURES_REDIS_IMAGE", "redis:7")
        .cmd([
            "redis-server",
            "--databases",
            "256",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .expose(PORT)
        .wait_for(WaitFor::log_line("Ready to accept connections"))
}

/// One logical database (1 to 255) of a Redis server, for one test: claimed so that no other
/// test uses it meanwhile, in this process or another one sharing the server, and empty when
/// the test starts. Made by [`redis_db`]; emptied and given back at the fixture's teardown.
#[derive(Debug, Clone)]
pub struct RedisDb {
    host: String,
    port: u16,
    index: u16,
}

impl RedisDb {
    /// The database's index (1 to 255).
    pub fn index(&self) -> u16 {
        self.index
    }

    /// `redis://host:port/index`: what Redis clients take.
    pub fn url(&self) -> String {
        format!("redis://{}:{}/{}", self.host, self.port, self.index)
    }

    /// The host to connect to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (the host port 6379 is published on).
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Claims a free database of the Redis container `server`, empties it (`FLUSHDB`) and
/// registers its release at `setup`'s teardown: `FLUSHDB` again, then the claim is dropped
/// if it is still this one's. Call it from a `scope = test` fixture; the container's fixture
/// may have any scope (it only decides how long the server lives): every test starts with an
/// empty database whichever it is.
///
/// `server` must expose 6379 and have 256 databases, as [`redis_spec`] makes it.
///
/// # Errors
///
/// [`Error::InvalidSpec`] when 6379 is not published or the server has fewer databases;
/// [`Error::Engine`] when the server cannot be reached, answers an error, or all 255
/// databases stay claimed for 60 s.
///
/// # Examples
///
/// ```no_run
/// use fixtures_core::prelude::*;
/// use fixtures_docker::{Container, Error, RedisDb};
///
/// /// One Redis server for the whole run (under nextest too: its processes share it).
/// #[fixture(scope = suite)]
/// async fn redis_server(setup: &Setup) -> Result<Container, Error> {
///     fixtures_docker::start(setup, fixtures_docker::redis_spec()).await
/// }
///
/// /// An empty database of that server, for one test.
/// #[fixture(scope = test)]
/// async fn redis(setup: &Setup, redis_server: Lease<Container>) -> Result<RedisDb, Error> {
///     fixtures_docker::redis_db(setup, &redis_server).await
/// }
///
/// // In a test file:
/// // #[rstest]
/// // fn caches(redis: Lease<RedisDb>) {
/// //     let client = redis::Client::open(redis.url()).unwrap(); // redis://127.0.0.1:49153/1
/// // }
/// # fn main() {}
/// ```
pub async fn redis_db(setup: &Setup, server: &Container) -> Result<RedisDb, Error> {
    let container = server.name().to_owned();
    let Some(port) = server.host_port(PORT) else {
        return Err(Error::InvalidSpec {
            image: server.image().to_owned(),
            problem: format!("port {PORT} is not exposed: add `.expose({PORT})`"),
        });
    };
    let addr = format!("{}:{port}", server.host());
    let handoff = Arc::new(Handoff::<Claim>::new());
    let at_teardown = handoff.clone();
    setup.on_teardown_async("release the Redis database", move || async move {
        if let Some(claim) = at_teardown.close() {
            claim.release().await;
        }
    });
    let image = server.image().to_owned();
    let failed = move |cause: String| Error::Engine {
        operation: "claim a Redis database on",
        container: container.clone(),
        cause,
    };
    let claim_addr = addr.clone();
    let index = crate::engine::background("Redis database claim", async move {
        let mut conn = Conn::open_ready(&claim_addr).await.map_err(&failed)?;
        match conn.call(&["SELECT", &LAST_DB.to_string()]).await {
            Err(e) if e.contains("out of range") => {
                let problem = format!(
                    "Redis has no database {LAST_DB} ({e}): start it with `--databases 256` \
                     (as `redis_spec()` does)"
                );
                return Err(Error::InvalidSpec { image, problem });
            }
            selected => selected.map_err(&failed)?,
        };
        conn.call(&["SELECT", "0"]).await.map_err(&failed)?;
        let claim = Claim::take(&mut conn, claim_addr).await.map_err(&failed)?;
        let index = claim.index;
        let emptied = async {
            conn.call(&["SELECT", &index.to_string()]).await?;
            conn.call(&["FLUSHDB"]).await
        };
        if let Err(e) = emptied.await {
            claim.release().await;
            return Err(failed(format!("cannot empty database {index}: {e}")));
        }
        if let Err(claim) = handoff.deliver(claim) {
            claim.release().await;
            return Err(failed(
                "the fixture was torn down before its database was ready".into(),
            ));
        }
        Ok(index)
    })
    .await?;
    tracing::debug!(%addr, index, "claimed a Redis database");
    Ok(RedisDb {
        host: server.host().to_owned(),
        port,
        index,
    })
}

/// A database claimed in database 0 under `owner`.
struct Claim {
    addr: String,
    index: u16,
    owner: String,
}

impl Claim {
    /// Claims the lowest free database (one `SET NX` per database held by others); waits
    /// while all are taken, up to [`CLAIM_WAIT`]. `conn` is on database 0.
    async fn take(conn: &mut Conn, addr: String) -> Result<Claim, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let owner = format!(
            "{}:{}:{}",
            fixtures_core::run_id(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let ttl = CLAIM_TTL.as_millis().to_string();
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut pause = Duration::from_millis(20);
        loop {
            for index in 1..=LAST_DB {
                let key = claim_key(index);
                let set = ["SET", &key, &owner, "NX", "PX", &ttl];
                if let Reply::Simple = conn.call(&set).await? {
                    return Ok(Claim { addr, index, owner });
                }
            }
            if Instant::now() + pause > deadline {
                return Err(format!(
                    "all {LAST_DB} databases stayed claimed for {CLAIM_WAIT:?}: more tests hold \
                     one at once than that, or claims of killed processes have not lapsed yet \
                     (after {CLAIM_TTL:?}; `FLUSHDB` on database 0 drops them all)"
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Empties the database and drops the claim if it is still ours; logs what fails (an
    /// unreleased claim lapses after [`CLAIM_TTL`]).
    async fn release(self) {
        let work = async {
            let mut conn = Conn::open(&self.addr).await?;
            conn.call(&["SELECT", &self.index.to_string()]).await?;
            conn.call(&["FLUSHDB"]).await?;
            conn.call(&["SELECT", "0"]).await?;
            let key = claim_key(self.index);
            conn.call(&["EVAL", RELEASE_SCRIPT, "1", &key, &self.owner])
                .await
        };
        let outcome = match timeout(RELEASE_DEADLINE, work).await {
            Ok(Ok(Reply::Int(1))) => return,
            Ok(Ok(_)) => {
                // Lapsed, and maybe claimed by another test since: not ours to drop.
                tracing::debug!(index = self.index, "the Redis claim was no longer ours");
                return;
            }
            Ok(Err(e)) => e,
            Err(_) => format!("not done within {RELEASE_DEADLINE:?}"),
        };
        tracing::warn!(
            addr = %self.addr,
            index = self.index,
            "cannot release the Redis database (its claim lapses after {CLAIM_TTL:?}): {outcome}"
        );
    }
}

fn claim_key(index: u16) -> String {
    format!("fixtures:claim:{index}")
}

/// A RESP answer, of the kinds the commands above get (bulk strings are not kept).
enum Reply {
    Simple,
    Int(i64),
    Bulk,
}

/// A connection speaking just enough RESP, with a deadline on every wait.
struct Conn {
    stream: BufReader<TcpStream>,
    addr: String,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn, String> {
        let stream = timeout(IO_DEADLINE, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("no connection to {addr} within {IO_DEADLINE:?}"))?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream: BufReader::new(stream),
            addr: addr.to_owned(),
        })
    }

    /// A connection that has answered `PING`, tried for up to [`READY_WAIT`]: the published
    /// port may take connections (the engine's port proxy) a moment before the server behind
    /// it does, and reset them (seen under load: "Connection reset by peer").
    async fn open_ready(addr: &str) -> Result<Conn, String> {
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let attempt = async {
                let mut conn = Conn::open(addr).await?;
                conn.call(&["PING"]).await?;
                Ok::<_, String>(conn)
            };
            match attempt.await {
                Ok(conn) => return Ok(conn),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Sends one command and reads its answer; an error answer is an `Err`.
    async fn call(&mut self, args: &[&str]) -> Result<Reply, String> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        let context = format!("{} on {}", args.first().unwrap_or(&""), self.addr);
        let exchange = async {
            let stream = self.stream.get_mut();
            stream.write_all(&request).await.map_err(io)?;
            self.read_reply().await
        };
        timeout(IO_DEADLINE, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {IO_DEADLINE:?}")))
            .map_err(|e| format!("{context}: {e}"))
    }

    async fn read_reply(&mut self) -> Result<Reply, String> {
        let mut line = Vec::new();
        self.stream.read_until(b'\n', &mut line).await.map_err(io)?;
        let Some(line) = line.strip_suffix(b"\r\n") else {
            return Err("the connection was closed".to_owned());
        };
        let text = String::from_utf8_lossy(line.get(1..).unwrap_or_default()).into_owned();
        let number = || {
            text.parse::<i64>()
                .map_err(|_| format!("malformed answer {text:?}"))
        };
        match line.first() {
            Some(b'+') => Ok(Reply::Simple),
            Some(b'-') => Err(format!("Redis answered {text:?}")),
            Some(b':') => Ok(Reply::Int(number()?)),
            Some(b'$') => {
                // `$-1` is nil; otherwise the string and its `\r\n` follow.
                if let Ok(len) = usize::try_from(number()?) {
                    let mut bulk = vec![0; len + 2];
                    self.stream.read_exact(&mut bulk).await.map_err(io)?;
                }
                Ok(Reply::Bulk)
            }
            _ => Err(format!("unexpected answer {text:?}")),
        }
    }
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_spec_has_256_databases_no_persistence_and_waits_for_the_ready_line() {
        let spec = super::redis_spec();
        let cmd = spec.cmd.clone().unwrap().join(" ");
        assert_eq!(cmd, "redis-server --databases 256 --save  --appendonly no");
        assert!(spec.ports.contains(&6379));
        assert_eq!(spec.image_env.as_deref(), Some("FIXTURES_REDIS_IMAGE"));
        assert!(format!("{:?}", spec.waits).contains("Ready to accept connections"));
    }
}
