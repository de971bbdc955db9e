//! A database's connection parts, for clients that are not this crate's sqlx: an app's
//! settings struct, another sqlx version, tokio-postgres, diesel, a migration tool.

/// Where a database is and how to log in to it, part by part.
///
/// # Examples
///
/// ```
/// use fixtures_postgres::ConnectParts;
///
/// let parts = ConnectParts::parse("postgres://app:s%40cret@127.0.0.1:5433/fx_orders").unwrap();
/// assert_eq!(parts.user, "app");
/// assert_eq!(parts.password, "s@cret");
/// assert_eq!((parts.host.as_str(), parts.port), ("127.0.0.1", 5433));
/// assert_eq!(parts.database, "fx_orders");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectParts {
    /// The server's host (an address this machine's clients can reach over TCP).
    pub host: String,
    /// The server's TCP port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The database.
    pub database: String,
    /// The `application_name` to connect with (empty: none). A test database's is
    /// `fixtures-test`: connections that carry it are the test's, ended between tests in
    /// module and suite scope.
    pub application_name: String,
    /// `postgres://user:password@host:port/database`, every part percent-encoded, with
    /// `?application_name=…` when there is one.
    pub url: String,
}

impl ConnectParts {
    /// The parts of a `postgres://` (or `postgresql://`) URL; `None` when it is not one with
    /// a host. A missing port is 5432, a missing user `postgres`, a missing database the
    /// user's name (as libpq does).
    pub fn parse(url: &str) -> Option<ConnectParts> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (decode(user), decode(pw)),
                None => (decode(u), String::new()),
            },
            None => (String::new(), String::new()),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']')?;
                (h.to_owned(), after.strip_prefix(':'))
            }
            None => match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            },
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => 5432,
        };
        let user = if user.is_empty() {
            "postgres".to_owned()
        } else {
            user
        };
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let database = path
            .strip_prefix('/')
            .map(decode)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.clone());
        let application_name = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("application_name="))
            .map(decode)
            .unwrap_or_default();
        let mut parts = ConnectParts {
            url: String::new(),
            host,
            port,
            user,
            password,
            database,
            application_name,
        };
        parts.url = parts.url_with(Some(&parts.password));
        Some(parts)
    }
}

impl ConnectParts {
    /// The URL of these parts, with `password` (`None`: without one, e.g. to print).
    pub(crate) fn url_with(&self, password: Option<&str>) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let login = match password {
            Some(pw) => format!("{}:{}", encode(&self.user), encode(pw)),
            None => encode(&self.user),
        };
        let mut url = format!(
            "postgres://{login}@{host}:{}/{}",
            self.port,
            encode(&self.database)
        );
        if !self.application_name.is_empty() {
            url += &format!("?application_name={}", encode(&self.application_name));
        }
        url
    }
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes `%XX` escapes (others are kept as they are).
pub(crate) fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_apart_and_back_together() {
        let p = ConnectParts::parse("postgresql://u:p%40ss@[::1]:6000/my%20db?sslmode=disable")
            .unwrap();
        assert_eq!((p.user.as_str(), p.password.as_str()), ("u", "p@ss"));
        assert_eq!((p.host.as_str(), p.port), ("::1", 6000));
        assert_eq!(p.database, "my db");
        assert_eq!(p.url, "postgres://u:p%40ss@[::1]:6000/my%20db");
        let t =
            ConnectParts::parse("postgres://u:p@h:1/d?sslmode=off&application_name=fixtures-test")
                .unwrap();
        assert_eq!(t.application_name, "fixtures-test");
        assert_eq!(t.url, "postgres://u:p@h:1/d?application_name=fixtures-test");
        let d = ConnectParts::parse("postgres://h").unwrap();
        assert_eq!(
            (d.user.as_str(), d.port, d.database.as_str()),
            ("postgres", 5432, "postgres")
        );
        assert_eq!(ConnectParts::parse("mysql://h/db"), None);
        assert_eq!(ConnectParts::parse("postgres://u@:5/db"), None);
        assert_eq!(decode("100%"), "100%");
        assert_eq!(encode("a b@c"), "a%20b%40c");
    }
}
