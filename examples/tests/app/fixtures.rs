//! The database fixtures of every scope, and a seeded organisation built on them.

use examples::{Organisation, Project, Repo, User};
use fixtures_postgres::{Databases, TestDb, databases};
use sqlx::postgres::PgPoolOptions;

databases!(pub mod pg = Databases::new().migrator(&examples::MIGRATOR));

/// An organisation with an owner and a project, in the test's database.
#[derive(Debug)]
pub struct Seeded {
    pub org: Organisation,
    pub owner: User,
    pub project: Project,
}

/// Seeds through a pool of its own (setups run on the framework's runtime; the test builds
/// its own pool on its own runtime with `db.pool()`).
pub async fn seed(db: &TestDb) -> Result<Seeded, examples::AppError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.connect_options())
        .await?;
    let repo = Repo::new(pool.clone());
    let org = repo.create_organisation("acme", "Acme Ltd").await?;
    let owner = repo.create_user("ada@acme.test", "Ada").await?;
    repo.add_member(org.id, owner.id, "owner").await?;
    let project = repo.create_project(org.id, "WEB", "Website").await?;
    pool.close().await;
    Ok(Seeded {
        org,
        owner,
        project,
    })
}

/// Declares the `org` fixture (test scope) on the `db` fixture in scope where it is invoked.
macro_rules! seeded_org {
    () => {
        /// A seeded organisation in this test's database.
        #[fixtures_core::fixture(scope = test)]
        async fn org(db: Lease<TestDb>) -> Result<crate::fixtures::Seeded, examples::AppError> {
            crate::fixtures::seed(&db).await
        }
    };
}
pub(crate) use seeded_org;
