//! Network probes run from the test host: a TCP connect that sees through Docker's port
//! proxy, and a minimal HTTP/1.1 `GET`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a freshly accepted connection is watched for an immediate close.
const SETTLE: Duration = Duration::from_millis(100);
/// The most of a response read for its status line.
const MAX_HEAD: usize = 16 * 1024;

async fn connect(host: &str, port: u16, budget: Duration) -> Result<TcpStream, String> {
    match timeout(budget, TcpStream::connect((host, port))).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("connect to {host}:{port}: {e}")),
        Err(_) => Err(format!(
            "connect to {host}:{port}: no answer within {budget:?}"
        )),
    }
}

/// Ready when `host:port` accepts a connection that stays open (or speaks) for a moment.
///
/// Docker's userland proxy accepts on the published port even while nothing listens in the
/// container, then closes the connection at once: that close is "not ready".
pub(crate) async fn tcp(host: &str, port: u16, budget: Duration) -> Result<(), String> {
    let mut stream = connect(host, port, budget).await?;
    let mut byte = [0u8; 1];
    match timeout(SETTLE.min(budget), stream.read(&mut byte)).await {
        Err(_) => Ok(()),             // open and quiet: a server waiting for its client
        Ok(Ok(n)) if n > 0 => Ok(()), // a server that speaks first
        Ok(Ok(_)) => Err(format!(
            "{host}:{port} accepted and closed the connection at once (nothing listens in the \
             container yet)"
        )),
        Ok(Err(e)) => Err(format!("{host}:{port}: {e}")),
    }
}

/// `GET path` on `host:port`; returns the response's status code.
pub(crate) async fn http_status(
    host: &str,
    port: u16,
    path: &str,
    budget: Duration,
) -> Result<u16, String> {
    let exchange = async {
        let mut stream = connect(host, port, budget).await?;
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: fixtures-docker\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send to {authority}: {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_HEAD {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read from {authority}: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        parse_status_line(&head).ok_or_else(|| {
            let shown = String::from_utf8_lossy(&head[..head.len().min(80)]).into_owned();
            format!("{authority} answered no HTTP status line: {shown:?}")
        })
    };
    match timeout(budget, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "GET {path} on {host}:{port}: no answer within {budget:?}"
        )),
    }
}

/// The status code of `HTTP/1.x NNN reason`.
pub(crate) fn parse_status_line(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_parsed() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\nX: y\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204\r\n"), Some(204));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 20x OK\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[tokio::test]
    async fn a_listener_that_closes_at_once_is_not_ready_and_one_that_waits_is() {
        let closing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closing.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = closing.accept().await {
                drop(s);
            }
        });
        let err = tcp("127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.contains("closed the connection at once"), "{err}");

        let waiting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = waiting.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = waiting.accept().await {
                held.push(s);
            }
        });
        tcp("127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn nothing_listening_is_reported_with_the_address() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let err = tcp("127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        let err = http_status("127.0.0.1", port, "/", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.contains("connect"), "{err}");
    }
}
