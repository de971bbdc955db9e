//! The `psql` command printed for a kept database: with the password only when the server
//! listens on loopback (only this machine's users can reach it, and the line goes to this
//! user's terminal); for any other host the password is left out, and the line says so.

use crate::parts::ConnectParts;

/// `psql '<url>'`, the password removed from `url` unless its host is a loopback address.
pub(crate) fn command(url: &str) -> String {
    match ConnectParts::parse(url) {
        Some(parts) if !is_loopback(&parts.host) => format!(
            "psql '{}'\n    (password left out: the server is not on loopback; it is the one in \
             the URL your tests were given)",
            parts.url_with(None)
        ),
        Some(_) => format!("psql '{url}'"),
        None => "psql: (the URL is not shown: it could not be read)".into(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_shown_for_loopback_servers_only() {
        let local = "postgres://postgres:s3cret@127.0.0.1:40001/fxk_a";
        assert_eq!(command(local), format!("psql '{local}'"));
        let v6 = "postgres://postgres:s3cret@[::1]:5432/fxk_a";
        assert_eq!(command(v6), format!("psql '{v6}'"));
        let bridge = command("postgres://postgres:s3cret@172.17.0.2:5432/fxk_a");
        assert!(!bridge.contains("s3cret"), "{bridge}");
        assert!(bridge.starts_with("psql 'postgres://postgres@172.17.0.2:5432/fxk_a'"));
        assert!(bridge.contains("password left out"));
        let remote = command("postgres://ci:p%40ss@db.example.com:5432/fxk_b");
        assert!(!remote.contains("p%40ss"), "{remote}");
        // A look-alike of loopback is not loopback.
        assert!(!command("postgres://u:pw@127.0.0.1.example.com:1/d").contains(":pw@"));
    }
}
