//! Switchyard's storage layer: the only crate that touches the database (besides the
//! governor's `leases`). Every query that reads tenant data takes a [`domain::TenantId`].
//!
//! SQLite is the default (embedded, one file under `./data`); PostgreSQL is chosen by a
//! `postgres://` URL when several instances share the work.

pub mod entity;
pub mod password;
pub mod repo;
pub mod session_store;
pub mod vault;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use std::time::Duration;

pub use repo::*;

/// A storage failure. The message is for the server log; API callers only ever see
/// `internal` for these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("vault: {0}")]
    Vault(#[from] vault::VaultError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The handle every repository hangs off.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: DatabaseConnection,
}

impl Store {
    /// Connects (creating the SQLite file when needed) and runs pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let url = normalize_url(url);
        let mut opts = ConnectOptions::new(url.clone());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10));
        if url.starts_with("sqlite:") {
            // One writer at a time is SQLite's rule; a small pool avoids lock storms.
            opts.max_connections(4).min_connections(1);
        } else {
            opts.max_connections(16);
        }
        let db = Database::connect(opts).await?;
        if url.starts_with("sqlite:") {
            use sea_orm::ConnectionTrait;
            db.execute_unprepared(
                "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;",
            )
            .await?;
        }
        Migrator::up(&db, None).await?;
        Ok(Store { db })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        Ok(self.db.ping().await?)
    }

    pub fn is_postgres(&self) -> bool {
        matches!(
            self.db.get_database_backend(),
            sea_orm::DatabaseBackend::Postgres
        )
    }
}

/// `sqlite://path` without a mode would fail on a missing file; ask for create.
fn normalize_url(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        }
    } else {
        url.to_string()
    }
}

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new random id: 128 bits, as a UUID string.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
