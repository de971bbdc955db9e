//! Where a server is and how the framework logs in: the one place connect options and URLs
//! are made from.

use std::path::PathBuf;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::parts::encode;

/// A server's address and the framework's credentials on it.
#[derive(Debug, Clone)]
pub(crate) struct Address {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The server's private unix socket folder, when it has one (the local backend): the
    /// framework's own connections use it.
    pub(crate) socket_dir: Option<PathBuf>,
    pub(crate) user: String,
    pub(crate) password: String,
    /// The maintenance database the framework connects to.
    pub(crate) admin_database: String,
}

impl Address {
    /// The superuser `postgres` on `host:port`, maintenance database `postgres`.
    pub(crate) fn postgres(host: String, port: u16, password: String) -> Address {
        Address {
            host,
            port,
            socket_dir: None,
            user: "postgres".into(),
            password,
            admin_database: "postgres".into(),
        }
    }

    /// Connect options for `database`, as the framework's user.
    pub(crate) fn connect_options(&self, database: &str) -> PgConnectOptions {
        let opts = PgConnectOptions::new()
            .username(&self.user)
            .password(&self.password)
            .database(database)
            .application_name("fixtures")
            .log_statements(tracing::log::LevelFilter::Trace);
        match &self.socket_dir {
            // The unix socket: no TCP round trips, no TLS negotiation.
            Some(dir) => opts.socket(dir).port(self.port),
            None => opts.host(&self.host).port(self.port),
        }
    }

    /// A `postgres://` URL for `database`, with the password.
    pub(crate) fn url(&self, database: &str) -> String {
        self.url_as(&self.user, &self.password, database)
    }

    /// A URL for `database` as `user` with `password`.
    pub(crate) fn url_as(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            encode(user),
            encode(password),
            self.host,
            self.port,
            encode(database)
        )
    }

    /// `host:port`, for messages.
    pub(crate) fn shown(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_percent_encode_credentials() {
        let a = Address::postgres("h".into(), 5432, "p@ss word".into());
        assert_eq!(
            a.url("my db"),
            "postgres://postgres:p%40ss%20word@h:5432/my%20db"
        );
    }
}
