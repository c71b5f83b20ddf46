//! SeaORM migrations of Switchyard's database. One change per file, each with `up` and
//! `down`, listed in order in [`Migrator`]. They run on SQLite and PostgreSQL alike, so
//! they use only portable column types (text ids, big integers for times in epoch
//! milliseconds, binary blobs).

pub use sea_orm_migration::prelude::*;

mod m20261204_000001_staff_users;
mod m20261204_000002_sessions;
mod m20261204_000003_tenants;
mod m20261204_000004_onboarding_links;
mod m20261204_000005_connections;
mod m20261204_000006_audit_log;
mod m20261204_000007_login_throttle;
mod m20261204_000008_schema_versions;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261204_000001_staff_users::Migration),
            Box::new(m20261204_000002_sessions::Migration),
            Box::new(m20261204_000003_tenants::Migration),
            Box::new(m20261204_000004_onboarding_links::Migration),
            Box::new(m20261204_000005_connections::Migration),
            Box::new(m20261204_000006_audit_log::Migration),
            Box::new(m20261204_000007_login_throttle::Migration),
            Box::new(m20261204_000008_schema_versions::Migration),
        ]
    }
}
