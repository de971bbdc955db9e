//! `testsvc`: a tiny HTTP service used as a generic container in the fixture tests.
//!
//! It depends on `std` only, so the image built by `scripts/build-images.sh` needs
//! nothing but this binary, the shared libraries it links against and the loader.
//!
//! Behaviour is driven by environment variables:
//!
//! * `TESTSVC_PORT` (default `8080`): serve HTTP/1.1 on `0.0.0.0:PORT`.
//!   `GET /health` answers 200 `ok`, `GET /status/NNN` answers status `NNN`,
//!   `GET /env/NAME` answers the value of variable `NAME` (200) or 404; anything
//!   else is 404. Every response carries `Connection: close`.
//! * `TESTSVC_READY_DELAY_MS` (default `0`): wait this long before listening.
//! * `TESTSVC_LOG_REPEAT` (default `1`): print the ready line this many times.
//! * `TESTSVC_EXIT_AFTER_MS` and `TESTSVC_EXIT_CODE` (default `0`): print
//!   `testsvc exiting with code N` and exit with `N` after that many ms
//!   (`0`: at once, before listening).
//! * `TESTSVC_PROBE=host:port`: before serving, retry (every 200 ms, for up to 30 s)
//!   `GET /health` on `host:port`; print `probe ok HOST:PORT status=200` on success,
//!   or `probe failed: ERR` and exit 3 at the deadline.
//! * `TESTSVC_PROBE_TCP=host:port`: the same with a TCP connect only (for services that do
//!   not speak HTTP, e.g. a database); prints `probe ok HOST:PORT tcp`.
//!
//! Signals: as PID 1 in a container the kernel would ignore `SIGTERM` and `SIGINT`
//! (no default action for PID 1), so a minimal handler is installed through libc's
//! `signal` (std links libc already; no crate) that exits at once with 128 + signo,
//! which makes `docker stop` prompt.

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::raw::c_int;
use std::process;
use std::thread;
use std::time::{Duration, Instant};

/// How long the probe keeps trying before giving up.
const PROBE_DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two probe attempts.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);
/// Read/write timeout for a single connection, served or probed.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a numeric environment variable, falling back to `default` when it is
/// unset; exits with code 2 when it is set but not a number.
fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("testsvc: invalid {name}={v:?}");
            process::exit(2)
        }),
        _ => default,
    }
}

/// Prints one line to stdout and flushes it, so `docker logs` sees it at once.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    // A closed stdout must not kill the service.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints the exit line and ends the process with `code`.
fn exit_now(code: i32) -> ! {
    say(&format!("testsvc exiting with code {code}"));
    process::exit(code)
}

unsafe extern "C" {
    /// libc's `signal(2)`; the previous handler is returned as an address.
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    /// libc's `_exit(2)`: async-signal-safe, unlike `std::process::exit`.
    fn _exit(status: c_int) -> !;
}

/// Signal handler: ends the process at once, with the shell's code for a signal.
extern "C" fn on_signal(signo: c_int) {
    // SAFETY: `_exit` is async-signal-safe and takes any status.
    unsafe { _exit(128 + signo) }
}

/// Makes `SIGTERM` (15) and `SIGINT` (2) end the process, even as PID 1.
fn install_signal_handlers() {
    for signo in [2, 15] {
        // SAFETY: `on_signal` only calls the async-signal-safe `_exit`.
        unsafe { signal(signo, on_signal) };
    }
}

fn main() {
    install_signal_handlers();
    say("testsvc starting");
    let port: u16 = env_num("TESTSVC_PORT", 8080);
    let delay_ms: u64 = env_num("TESTSVC_READY_DELAY_MS", 0);
    let repeat: u32 = env_num("TESTSVC_LOG_REPEAT", 1);
    let exit_code: i32 = env_num("TESTSVC_EXIT_CODE", 0);

    if env::var_os("TESTSVC_EXIT_AFTER_MS").is_some() {
        match env_num::<u64>("TESTSVC_EXIT_AFTER_MS", 0) {
            0 => exit_now(exit_code),
            ms => {
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(ms));
                    exit_now(exit_code)
                });
            }
        }
    }

    if let Ok(target) = env::var("TESTSVC_PROBE") {
        match probe(&target) {
            Ok(status) => say(&format!("probe ok {target} status={status}")),
            Err(e) => {
                say(&format!("probe failed: {e}"));
                process::exit(3)
            }
        }
    }

    if let Ok(target) = env::var("TESTSVC_PROBE_TCP") {
        match retry(|| connect(&target).map(drop)) {
            Ok(()) => say(&format!("probe ok {target} tcp")),
            Err(e) => {
                say(&format!("probe failed: {e}"));
                process::exit(3)
            }
        }
    }

    thread::sleep(Duration::from_millis(delay_ms));
    let listener = TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        eprintln!("testsvc: cannot listen on port {port}: {e}");
        process::exit(1)
    });
    for _ in 0..repeat {
        say(&format!("testsvc ready on port {port}"));
    }
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                thread::spawn(move || {
                    if let Err(e) = serve(s) {
                        eprintln!("testsvc: connection error: {e}");
                    }
                });
            }
            Err(e) => eprintln!("testsvc: accept failed: {e}"),
        }
    }
}

/// Answers a single request on `stream`, then closes it.
fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers up to the blank line; requests carry no body we care about.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = route(method, path);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    stream.flush()?;
    stream.shutdown(std::net::Shutdown::Both)
}

/// Maps a request to its status code and body.
fn route(method: &str, path: &str) -> (u16, String) {
    if method != "GET" {
        return (404, "not found\n".into());
    }
    if path == "/health" {
        return (200, "ok".into());
    }
    if let Some(code) = path.strip_prefix("/status/")
        && let Ok(code @ 100..=999) = code.parse::<u16>()
    {
        return (code, format!("status {code}\n"));
    }
    if let Some(name) = path.strip_prefix("/env/").filter(|n| !n.is_empty())
        && let Some(value) = env::var_os(name)
    {
        return (200, value.to_string_lossy().into_owned());
    }
    (404, "not found\n".into())
}

/// The reason phrase for the common status codes; any other gets a generic one.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Retries `GET /health` on `target` until it answers or the deadline passes;
/// returns the status code of the first answer, or the last error.
fn probe(target: &str) -> Result<u16, String> {
    retry(|| probe_once(target))
}

/// Retries `attempt` every `PROBE_INTERVAL` until it succeeds or `PROBE_DEADLINE` passes.
fn retry<T>(mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + PROBE_DEADLINE;
    loop {
        let err = match attempt() {
            Ok(status) => return Ok(status),
            Err(e) => e,
        };
        if Instant::now() + PROBE_INTERVAL > deadline {
            return Err(err);
        }
        thread::sleep(PROBE_INTERVAL);
    }
}

/// One probe attempt: resolve, connect, send `GET /health`, parse the status line.
/// Resolves `target` and connects to it.
fn connect(target: &str) -> Result<(TcpStream, std::net::SocketAddr), String> {
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("resolve {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {target}: no address"))?;
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    Ok((stream, addr))
}

fn probe_once(target: &str) -> Result<u16, String> {
    let (mut stream, addr) = connect(target)?;
    let io = |e: io::Error| format!("{addr}: {e}");
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{addr}: bad response {:?}", response.lines().next()))?;
    if status == 200 {
        Ok(status)
    } else {
        Err(format!("{addr}: status {status}"))
    }
}
