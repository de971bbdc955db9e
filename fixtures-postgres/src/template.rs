//! What a test database contains (migrations, seed SQL), applied once into a template database
//! keyed by their hash; every test database is a clone of it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use fixtures_core::BoxError;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Connection, PgConnection};

use crate::catalog::quote_ident;
use crate::clean::CleanOptions;
use crate::error::Error;
use crate::mark::{self, Kind};
use crate::names;
use crate::parts::ConnectParts;
use crate::server::PgServer;
use crate::sql::db_message;

#[derive(Clone)]
enum Migrations {
    None,
    Static(&'static Migrator),
    Dir(PathBuf),
    /// The user's own migration code, keyed by the version string they give.
    Hook {
        version: String,
        hook: MigrateHook,
    },
}

/// A user's migration code: given the template database's parts, migrates it.
type MigrateHook =
    Arc<dyn Fn(ConnectParts) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

impl std::fmt::Debug for Migrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Migrations::None => f.write_str("None"),
            Migrations::Static(_) => f.write_str("Static(Migrator)"),
            Migrations::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            Migrations::Hook { version, .. } => {
                f.debug_struct("Hook").field("version", version).finish()
            }
        }
    }
}

/// What the test databases contain and how shared ones are cleaned.
///
/// # Examples
///
/// ```
/// use fixtures_postgres::{Databases, clean::CleanOptions};
///
/// let dbs = Databases::new()
///     .migrations_dir("migrations")
///     .seed("tests/seed.sql")
///     .clean(CleanOptions::new().except(["countries"]));
/// # let _ = dbs;
/// ```
#[derive(Debug, Clone)]
pub struct Databases {
    migrations: Migrations,
    seeds: Vec<PathBuf>,
    pub(crate) clean: CleanOptions,
    pub(crate) role_per_test: bool,
}

impl Default for Databases {
    fn default() -> Self {
        Databases::new()
    }
}

impl Databases {
    /// Empty databases (no migrations, no seed), cleaned with the default strategy.
    pub fn new() -> Databases {
        Databases {
            migrations: Migrations::None,
            seeds: Vec::new(),
            clean: CleanOptions::default(),
            role_per_test: false,
        }
    }

    /// Migrations from `sqlx::migrate!()` (embedded at compile time).
    pub fn migrator(mut self, migrator: &'static Migrator) -> Databases {
        self.migrations = Migrations::Static(migrator);
        self
    }

    /// Migrations read at run time from a folder (sqlx's layout: `<version>_<name>.sql`).
    pub fn migrations_dir(mut self, dir: impl Into<PathBuf>) -> Databases {
        self.migrations = Migrations::Dir(dir.into());
        self
    }

    /// Migrations run by your own code — any migration tool, any sqlx version: `migrate` is
    /// given the template database's [`ConnectParts`] (connect with `parts.url`) and runs
    /// once per template, before the seed files; every test database is a clone of the
    /// result. `version` names what it applies: the template is rebuilt when it changes
    /// (give the latest migration's version, or a digest of your migrations folder).
    ///
    /// ```
    /// use fixtures_postgres::Databases;
    ///
    /// let dbs = Databases::new().migrate_with("2024-06-01-orders", |parts| async move {
    ///     // e.g. with sqlx 0.8: `MIGRATOR.run(&PgPool::connect(&parts.url).await?).await?`
    ///     let _ = parts.url;
    ///     Ok(())
    /// });
    /// # let _ = dbs;
    /// ```
    pub fn migrate_with<F, Fut>(mut self, version: impl Into<String>, migrate: F) -> Databases
    where
        F: Fn(ConnectParts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let hook: MigrateHook = Arc::new(move |parts| Box::pin(migrate(parts)));
        self.migrations = Migrations::Hook {
            version: version.into(),
            hook,
        };
        self
    }

    /// A seed SQL file, applied after the migrations (several run in the order given).
    pub fn seed(mut self, file: impl Into<PathBuf>) -> Databases {
        self.seeds.push(file.into());
        self
    }

    /// Test scope: each test connects as a login role of its own that owns its database and
    /// everything in it, without superuser, `CREATEDB` or `CREATEROLE` ([`TestDb::url`],
    /// [`TestDb::parts`] and the pool carry it) — code that must not run as a superuser is
    /// tested as it runs in production. The role is dropped with the database. Needs a
    /// server user that may create roles (the framework's own servers' is a superuser).
    ///
    /// [`TestDb::url`]: crate::TestDb::url
    /// [`TestDb::parts`]: crate::TestDb::parts
    pub fn role_per_test(mut self, yes: bool) -> Databases {
        self.role_per_test = yes;
        self
    }

    /// How shared (module/suite scope) databases are cleaned between tests.
    pub fn clean(mut self, options: CleanOptions) -> Databases {
        self.clean = options;
        self
    }

    async fn resolve_migrator(&self) -> Result<Option<Arc<Migrator>>, Error> {
        match &self.migrations {
            Migrations::None | Migrations::Hook { .. } => Ok(None),
            Migrations::Static(m) => Ok(Some(Arc::new(Migrator {
                migrations: m.migrations.clone(),
                ..Migrator::DEFAULT
            }))),
            Migrations::Dir(dir) => {
                if !dir.is_dir() {
                    return Err(Error::MigrationSource {
                        path: dir.clone(),
                        message: "no such folder (paths are relative to the test's working \
                                  directory, the crate's root under cargo)"
                            .into(),
                    });
                }
                Migrator::new(dir.as_path())
                    .await
                    .map(|m| Some(Arc::new(m)))
                    .map_err(|e| Error::MigrationSource {
                        path: dir.clone(),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// The template's name: a digest of every migration (version, checksum) and seed file.
    async fn template_name(&self, migrator: Option<&Migrator>) -> Result<String, Error> {
        let mut parts: Vec<String> = vec!["fixtures-template-v1".into()];
        if let Migrations::Hook { version, .. } = &self.migrations {
            // The package too: two projects on one server giving the same version string
            // must not share a template (cargo and nextest name the test's package).
            let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
            parts.push(format!("hook:{package}:{version}"));
        }
        if let Some(m) = migrator {
            for mig in m.iter() {
                let sum: String = mig.checksum.iter().map(|b| format!("{b:02x}")).collect();
                parts.push(format!("{}:{}", mig.version, sum));
            }
        }
        for seed in &self.seeds {
            let text = tokio::fs::read_to_string(seed)
                .await
                .map_err(|e| Error::Seed {
                    file: seed.clone(),
                    database: "-".into(),
                    message: format!("cannot read it: {e}"),
                })?;
            parts.push(text);
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        Ok(format!("fxt_{}", names::digest(&refs, 24)))
    }

    /// The template database, created and migrated if no run made it before (under a lock, so
    /// the processes of a run build it once); remembered per process.
    pub(crate) async fn template(&self, server: &PgServer) -> Result<String, Error> {
        static KNOWN: Mutex<Option<HashMap<String, ()>>> = Mutex::new(None);
        let migrator = self.resolve_migrator().await?;
        let name = self.template_name(migrator.as_deref()).await?;
        let key = format!("{}:{}/{}", server.host(), server.port(), name);
        if KNOWN
            .lock()
            .get_or_insert_with(HashMap::new)
            .contains_key(&key)
        {
            return Ok(name);
        }
        let mut admin = server.admin_conn().await?;
        // Built by an earlier process or run: nothing to lock for.
        let ready = mark::read(&mut admin, &name)
            .await?
            .is_some_and(|m| mark::field(&m, "state") == Some("ready"));
        if ready {
            tracing::debug!(
                template = name,
                "template already built: not migrating again"
            );
        } else {
            names::advisory_lock(&mut admin, &name)
                .await
                .map_err(Error::sql("locking the template", &name))?;
            let built = self
                .build_template(server, &mut admin, &name, migrator.as_deref())
                .await;
            names::advisory_unlock(&mut admin, &name).await;
            if let Err(e) = built {
                let _ = admin.close().await;
                return Err(e);
            }
        }
        server.recycle(admin).await;
        KNOWN
            .lock()
            .get_or_insert_with(HashMap::new)
            .insert(key, ());
        Ok(name)
    }

    async fn build_template(
        &self,
        server: &PgServer,
        admin: &mut PgConnection,
        name: &str,
        migrator: Option<&Migrator>,
    ) -> Result<(), Error> {
        if let Some(existing) = mark::read(admin, name).await? {
            if mark::field(&existing, "state") == Some("ready") {
                tracing::debug!(
                    template = name,
                    "template already built: not migrating again"
                );
                return Ok(());
            }
            // A build that was interrupted: start over.
            let sql = format!("ALTER DATABASE {} IS_TEMPLATE false", quote_ident(name));
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *admin)
                .await;
            mark::drop_ours(admin, name).await?;
        }
        let start = std::time::Instant::now();
        mark::create(
            admin,
            name,
            "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
            Kind::Template,
            "state=building",
        )
        .await?;
        let mut conn = crate::sql::connect(&server.connect_options(name))
            .await
            .map_err(Error::sql("connecting", name))?;
        if let Some(m) = migrator {
            m.run_direct(None, &mut conn, false)
                .await
                .map_err(|e| migration_error(e, m, name))?;
        }
        if let Migrations::Hook { version, hook } = &self.migrations {
            let parts = ConnectParts::parse(&server.url(name)).ok_or_else(|| Error::Config {
                setting: "the server's address".into(),
                value: format!("{}:{}", server.host(), server.port()),
                expected: "a host and port".into(),
            })?;
            hook(parts).await.map_err(|e| Error::MigrateHook {
                version: version.clone(),
                database: name.to_owned(),
                message: chain(&*e),
            })?;
        }
        for seed in &self.seeds {
            let sql = tokio::fs::read_to_string(seed).await.unwrap_or_default();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| Error::Seed {
                    file: seed.clone(),
                    database: name.to_owned(),
                    message: db_message(&e),
                })?;
        }
        let _ = conn.close().await;
        let done = format!(
            "{}; ALTER DATABASE {} IS_TEMPLATE true",
            mark::comment_sql(name, Kind::Template, "state=ready"),
            quote_ident(name)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(done))
            .execute(&mut *admin)
            .await
            .map_err(Error::sql("finishing the template", name))?;
        tracing::info!(template = name, elapsed = ?start.elapsed(), "template built (migrations applied once)");
        Ok(())
    }
}

fn migration_error(e: MigrateError, m: &Migrator, database: &str) -> Error {
    let (version, message) = match &e {
        MigrateError::ExecuteMigration(inner, v) => (*v, db_message(inner)),
        other => (0, other.to_string()),
    };
    let file = m
        .iter()
        .find(|mig| mig.version == version)
        .map(|mig| format!("{}_{}.sql", mig.version, mig.description.replace(' ', "_")))
        .unwrap_or_else(|| "?".into());
    Error::Migration {
        version,
        file,
        database: database.to_owned(),
        message,
    }
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out += &format!(": {c}");
        cur = c.source();
    }
    out
}
