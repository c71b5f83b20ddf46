//! SeaORM entities, one module per table. Times are epoch milliseconds (UTC).

pub mod audit_log;
pub mod connection;
pub mod login_throttle;
pub mod onboarding_link;
pub mod schema_version;
pub mod session;
pub mod staff_user;
pub mod tenant;
