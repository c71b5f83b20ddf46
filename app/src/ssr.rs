//! Server-only plumbing shared by the server functions: the application state, who the
//! caller is, and the guards every server function starts with.

use crate::error::AppError;
use domain::{Principal, TenantId};
use std::sync::Arc;

/// Everything a server function may use, provided as Leptos context by the server.
#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    pub vault: Arc<store::vault::Vault>,
    /// The externally visible base URL, used to build onboarding links.
    pub public_url: String,
    pub connectors: Arc<dyn ConnectorService>,
}

/// Who the caller is and the CSRF token of their session; put into the request's
/// extensions by the server's auth middleware before any handler runs.
#[derive(Clone, Debug)]
pub struct RequestAuth {
    pub principal: Option<Principal>,
    pub csrf_token: String,
    pub client_addr: String,
}

/// Session keys.
pub const SESSION_PRINCIPAL: &str = "principal";
pub const SESSION_CSRF: &str = "csrf";

pub fn state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| AppError::internal("AppState missing from context"))
}

pub async fn auth() -> Result<RequestAuth, AppError> {
    let axum::Extension(auth) = leptos_axum::extract::<axum::Extension<RequestAuth>>()
        .await
        .map_err(|e| AppError::internal(format!("auth extension missing: {e}")))?;
    Ok(auth)
}

pub async fn session() -> Result<tower_sessions::Session, AppError> {
    leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|e| AppError::internal(format!("session: {e:?}")))
}

pub async fn require_signed_in() -> Result<Principal, AppError> {
    auth()
        .await?
        .principal
        .ok_or_else(AppError::unauthenticated)
}

pub async fn require_staff() -> Result<Principal, AppError> {
    let p = require_signed_in().await?;
    if p.is_staff() {
        Ok(p)
    } else {
        Err(AppError::forbidden())
    }
}

pub async fn require_admin() -> Result<Principal, AppError> {
    let p = require_staff().await?;
    if p.is_admin() {
        Ok(p)
    } else {
        Err(AppError::new(
            domain::ErrorCode::Forbidden,
            "Only administrators may do this.",
        ))
    }
}

/// The caller may act on this tenant: staff, or the holder of this tenant's link.
pub async fn require_tenant(tenant: &TenantId) -> Result<Principal, AppError> {
    let p = require_signed_in().await?;
    if p.may_access_tenant(tenant) {
        Ok(p)
    } else {
        Err(AppError::forbidden())
    }
}

/// Staff-only access to one tenant's data. Every staff member may see every tenant;
/// the tenant is named so that a later per-tenant staff scope changes one function.
pub async fn require_staff_for(tenant: &TenantId) -> Result<Principal, AppError> {
    let _ = tenant;
    require_staff().await
}

/// What the web app needs from the connectors, supplied by the server so that `app` never
/// depends on connector code.
pub trait ConnectorService: Send + Sync {
    /// Every registered ERP and the forms a connection needs.
    fn catalog(&self) -> Vec<domain::catalog::CatalogEntry>;
    /// Logs in and checks the connection; returns the account label and warnings.
    fn check<'a>(
        &'a self,
        spec: &'a ConnectionSpec,
    ) -> BoxFuture<'a, Result<CheckSummary, AppError>>;
    /// Discovers the connection's schema.
    fn discover<'a>(
        &'a self,
        spec: &'a ConnectionSpec,
    ) -> BoxFuture<'a, Result<domain::Schema, AppError>>;
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One connection as the connectors need it. `credentials_json` is the vault form,
/// `{"kind": .., "fields": {..}}`, and never leaves the server.
pub struct ConnectionSpec {
    pub tenant: TenantId,
    pub connection_id: String,
    pub erp: domain::ErpKind,
    pub environment: domain::Environment,
    pub base_url: Option<String>,
    pub settings: std::collections::BTreeMap<String, serde_json::Value>,
    pub credentials_json: secrecy::SecretString,
}

#[derive(Debug, Clone)]
pub struct CheckSummary {
    pub account_label: String,
    pub warnings: Vec<String>,
}
