//! The repository layer: every statement the application runs.

use sqlx::{PgPool, Row};

/// What the application's operations can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The user is not a member of the organisation.
    #[error("user {user} is not a member of organisation {organisation}")]
    NotMember {
        /// The user.
        user: i64,
        /// The organisation.
        organisation: i64,
    },
}

/// An organisation (a tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Its id.
    pub id: i64,
    /// Its unique slug.
    pub slug: String,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: i64,
    /// Its e-mail address.
    pub email: String,
}

/// A project of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its id.
    pub id: i64,
    /// Its short key (e.g. `WEB`).
    pub key: String,
}

/// A task of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its id.
    pub id: i64,
    /// Its number within the project (1, 2, …).
    pub number: i32,
    /// Its human key, e.g. `WEB-3`.
    pub key: String,
}

/// Where a task stands (the `task_status` enum type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Not started.
    Todo,
    /// In progress.
    Doing,
    /// Waiting for review.
    Review,
    /// Finished.
    Done,
    /// Dropped.
    Cancelled,
}

impl TaskStatus {
    fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::Doing => "doing",
            TaskStatus::Review => "review",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

/// The application's data access, over a pool.
#[derive(Debug, Clone)]
pub struct Repo {
    pool: PgPool,
}

impl Repo {
    /// A repository over `pool`.
    pub fn new(pool: PgPool) -> Repo {
        Repo { pool }
    }

    /// Creates an organisation.
    pub async fn create_organisation(
        &self,
        slug: &str,
        name: &str,
    ) -> Result<Organisation, AppError> {
        let id = sqlx::query_scalar(
            "INSERT INTO organisations (slug, name) VALUES ($1, $2) RETURNING id",
        )
        .bind(slug)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(Organisation {
            id,
            slug: slug.to_owned(),
        })
    }

    /// Creates a user.
    pub async fn create_user(&self, email: &str, display_name: &str) -> Result<User, AppError> {
        let id = sqlx::query_scalar(
            "INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING id",
        )
        .bind(email)
        .bind(display_name)
        .fetch_one(&self.pool)
        .await?;
        Ok(User {
            id,
            email: email.to_owned(),
        })
    }

    /// Adds a user to an organisation with a role (`owner`, `admin`, `member`, `guest`), and
    /// records it in the audit log, in one transaction.
    pub async fn add_member(
        &self,
        organisation: i64,
        user: i64,
        role: &str,
    ) -> Result<(), AppError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO memberships (organisation_id, user_id, role) VALUES ($1, $2, $3::member_role)")
            .bind(organisation)
            .bind(user)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO audit_log (organisation_id, actor_id, action, subject) VALUES ($1, $2, 'member.added', $3)")
            .bind(organisation)
            .bind(user)
            .bind(format!("user:{user}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The members of an organisation, by e-mail.
    pub async fn members(&self, organisation: i64) -> Result<Vec<String>, AppError> {
        Ok(sqlx::query_scalar(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organisation_id = $1 ORDER BY u.email",
        )
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Creates a project.
    pub async fn create_project(
        &self,
        organisation: i64,
        key: &str,
        name: &str,
    ) -> Result<Project, AppError> {
        let id = sqlx::query_scalar(
            "INSERT INTO projects (organisation_id, key, name) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(organisation)
        .bind(key)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(Project {
            id,
            key: key.to_owned(),
        })
    }

    /// Creates a task, numbered after the project's last one; the creator must be a member of
    /// the project's organisation.
    pub async fn create_task(
        &self,
        project: i64,
        title: &str,
        created_by: i64,
    ) -> Result<Task, AppError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT p.key, p.organisation_id, EXISTS (SELECT 1 FROM memberships m \
             WHERE m.organisation_id = p.organisation_id AND m.user_id = $2) AS member \
             FROM projects p WHERE p.id = $1 FOR UPDATE",
        )
        .bind(project)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await?;
        let (key, organisation, member): (String, i64, bool) = (row.get(0), row.get(1), row.get(2));
        if !member {
            return Err(AppError::NotMember {
                user: created_by,
                organisation,
            });
        }
        let (id, number): (i64, i32) = sqlx::query_as(
            "INSERT INTO tasks (project_id, number, title, created_by) \
             VALUES ($1, (SELECT coalesce(max(number), 0) + 1 FROM tasks WHERE project_id = $1), $2, $3) \
             RETURNING id, number",
        )
        .bind(project)
        .bind(title)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Task {
            id,
            number,
            key: format!("{key}-{number}"),
        })
    }

    /// Moves a task to a new status, recording who did it in the audit log.
    pub async fn set_status(
        &self,
        task: i64,
        status: TaskStatus,
        actor: i64,
    ) -> Result<(), AppError> {
        let mut tx = self.pool.begin().await?;
        let organisation: i64 = sqlx::query_scalar(
            "UPDATE tasks t SET status = $2::task_status FROM projects p \
             WHERE t.id = $1 AND p.id = t.project_id RETURNING p.organisation_id",
        )
        .bind(task)
        .bind(status.as_str())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO audit_log (organisation_id, actor_id, action, subject) VALUES ($1, $2, $3, $4)")
            .bind(organisation)
            .bind(actor)
            .bind(format!("task.{}", status.as_str()))
            .bind(format!("task:{task}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns a user to a task.
    pub async fn assign(&self, task: i64, user: i64) -> Result<(), AppError> {
        sqlx::query(
            "INSERT INTO task_assignees (task_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(task)
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Comments on a task; returns the comment's id.
    pub async fn comment(&self, task: i64, author: i64, body: &str) -> Result<i64, AppError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO comments (task_id, author_id, body) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(task)
        .bind(author)
        .bind(body)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Tags a task (creating the organisation's tag on first use).
    pub async fn tag(&self, task: i64, organisation: i64, name: &str) -> Result<(), AppError> {
        sqlx::query(
            "WITH t AS (INSERT INTO tags (organisation_id, name) VALUES ($2, $3) \
                        ON CONFLICT (organisation_id, name) DO UPDATE SET name = excluded.name RETURNING id) \
             INSERT INTO task_tags (task_id, tag_id) SELECT $1, id FROM t ON CONFLICT DO NOTHING",
        )
        .bind(task)
        .bind(organisation)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Open tasks of a project (from the `open_tasks_per_project` view).
    pub async fn open_tasks(&self, project: i64) -> Result<i64, AppError> {
        Ok(sqlx::query_scalar(
            "SELECT open_tasks FROM open_tasks_per_project WHERE project_id = $1",
        )
        .bind(project)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The organisation's audit trail, oldest first, as `action subject`.
    pub async fn audit_trail(&self, organisation: i64) -> Result<Vec<String>, AppError> {
        Ok(sqlx::query_scalar(
            "SELECT action || ' ' || subject FROM audit_log WHERE organisation_id = $1 ORDER BY id",
        )
        .bind(organisation)
        .fetch_all(&self.pool)
        .await?)
    }
}
