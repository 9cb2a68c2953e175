//! Fresh databases for tests and benchmarks, made the way production makes them (the real
//! connection code and migrations): a SQLite file in the temp directory, or a PostgreSQL
//! database created on the server of an admin URL and dropped afterwards.
//!
//! Tests name the PostgreSQL server with `PASSERELLE_TEST_POSTGRES_URL` (the one place below
//! `main` that reads the environment: test support, not configuration).
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database made for one test or one benchmark run.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// An empty database named after `label`: on the PostgreSQL server of
    /// `PASSERELLE_TEST_POSTGRES_URL` when it is set, else a SQLite file.
    pub async fn create(label: &str) -> anyhow::Result<TestDatabase> {
        let admin = std::env::var("PASSERELLE_TEST_POSTGRES_URL").ok();
        Self::create_on(label, admin.as_deref()).await
    }

    /// An empty database named after `label`, on the server of `admin` (a PostgreSQL URL whose
    /// user may create databases; the new one takes its name as a prefix), or a SQLite file.
    pub async fn create_on(label: &str, admin: Option<&str>) -> anyhow::Result<TestDatabase> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        match admin {
            Some(admin) => {
                let slash = admin
                    .rfind('/')
                    .context("the PostgreSQL URL has no database")?;
                let base = admin[slash + 1..].split('?').next().unwrap_or("test");
                let name = format!("{base}_{label}_{pid}_{n}");
                let conn = Database::connect(admin)
                    .await
                    .context("PostgreSQL admin connection")?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                    .await?;
                conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                conn.close().await.ok();
                Ok(TestDatabase {
                    url: format!("{}/{name}", &admin[..slash]),
                    postgres: Some((admin.to_owned(), name)),
                })
            }
            None => {
                let dir = std::env::temp_dir().join(format!("passerelle-tests-{pid}"));
                std::fs::create_dir_all(&dir).context("cannot make the temp directory")?;
                let file = dir.join(format!("{label}-{n}.db"));
                let _ = std::fs::remove_file(&file);
                Ok(TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    postgres: None,
                })
            }
        }
    }

    /// A pool on the database, migrated with the real migrations.
    pub async fn connect_migrated(&self) -> anyhow::Result<DatabaseConnection> {
        let conn = crate::connect(&SecretString::from(self.url.clone()), 5).await?;
        crate::migrate_up(&conn).await?;
        Ok(conn)
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Drops a PostgreSQL database (SQLite files stay in the temp directory).
    pub async fn drop_database(self) {
        if let Some((admin, name)) = self.postgres
            && let Ok(conn) = Database::connect(admin.as_str()).await
        {
            let _ = conn
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}
