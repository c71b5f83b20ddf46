//! What the server sends the browser: plain data, no secrets. Times are epoch ms (UTC).

use crate::{ConnectionStatus, Environment, ErpKind, Role, TenantId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSummary {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
    pub connection_count: u64,
    pub active_links: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkView {
    pub id: String,
    pub label: String,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub use_count: i64,
    pub state: LinkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Active,
    Expired,
    Revoked,
}

impl LinkState {
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Active => "active",
            LinkState::Expired => "expired",
            LinkState::Revoked => "revoked",
        }
    }
}

/// A link just issued: the only moment the token's URL is ever shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedLink {
    pub link: LinkView,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionView {
    pub id: String,
    pub erp: ErpKind,
    pub environment: Environment,
    pub display_name: String,
    pub status: ConnectionStatus,
    pub status_detail: Option<String>,
    pub credential_kind: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantDetail {
    pub tenant: TenantSummary,
    pub connections: Vec<ConnectionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// The latest discovered schema of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaView {
    pub connection_id: String,
    pub connection_name: String,
    pub erp: ErpKind,
    pub environment: Environment,
    pub version: i64,
    pub discovered_at: i64,
    pub schema: crate::Schema,
    /// What changed since the previous discovery, when there was one.
    pub changes_since_previous: Option<crate::SchemaDiff>,
}

/// How a tenant's sandbox differs from its production system, per ERP: "left" is
/// production, "right" the sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftView {
    pub erp: ErpKind,
    pub production: String,
    pub sandbox: String,
    pub diff: crate::SchemaDiff,
}
