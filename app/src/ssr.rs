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

/// Staff-only access to one tenant's data.
pub async fn require_staff_for(tenant: &TenantId) -> Result<Principal, AppError> {
    let p = require_staff().await?;
    let _ = tenant;
    Ok(p)
}
