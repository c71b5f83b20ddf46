//! Server functions: the browser's whole API. Each one starts with a guard that decides
//! who may call it. Reads are GET requests; state changes are POSTs that carry the
//! session's CSRF token as `csrf_token`, which the server's CSRF layer checks before the
//! function runs.

use crate::error::AppError;
use domain::views::{AuditEntry, IssuedLink, LinkView, StaffView, TenantDetail, TenantSummary};
use domain::{Principal, Role, TenantId};
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::ssr::{require_admin, require_staff, require_staff_for, require_tenant, state};

/// What the onboarding page needs to show its holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnboardingView {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub erps: Vec<ErpCard>,
    pub connections: Vec<domain::views::ConnectionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErpCard {
    pub key: String,
    pub name: String,
}

#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(csrf_token: String, email: String, password: String) -> Result<(), AppError> {
    let _ = csrf_token;
    let st = state()?;
    let auth = crate::ssr::auth().await?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::invalid("Email or password is too long."));
    }
    match st
        .store
        .sign_in(&email, &password, &auth.client_addr)
        .await?
    {
        store::SignIn::Ok(principal) => {
            let session = crate::ssr::session().await?;
            // A new session id on sign-in defeats session fixation.
            session.cycle_id().await.map_err(AppError::internal)?;
            session
                .insert(crate::ssr::SESSION_PRINCIPAL, &principal)
                .await
                .map_err(AppError::internal)?;
            st.store
                .audit(
                    &principal,
                    None,
                    "staff.sign_in",
                    &principal.actor().1,
                    &serde_json::json!({}),
                )
                .await?;
            leptos_axum::redirect("/tenants");
            Ok(())
        }
        store::SignIn::BadCredentials => Err(AppError::new(
            domain::ErrorCode::Unauthenticated,
            "Wrong email or password.",
        )),
        store::SignIn::Throttled { retry_after_secs } => Err(AppError::new(
            domain::ErrorCode::Throttled,
            format!(
                "Too many failed sign-ins. Try again in {} minute(s).",
                (retry_after_secs + 59) / 60
            ),
        )),
    }
}

#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out(csrf_token: String) -> Result<(), AppError> {
    let _ = csrf_token;
    let session = crate::ssr::session().await?;
    session.flush().await.map_err(AppError::internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/api", endpoint = "whoami", input = GetUrl)]
pub async fn whoami() -> Result<Option<Principal>, AppError> {
    Ok(crate::ssr::auth().await?.principal)
}

#[server(prefix = "/api", endpoint = "list_tenants", input = GetUrl)]
pub async fn list_tenants(query: String) -> Result<Vec<TenantSummary>, AppError> {
    require_staff().await?;
    if query.len() > 200 {
        return Err(AppError::invalid(
            "Search text is too long (200 characters at most).",
        ));
    }
    Ok(state()?.store.list_tenants(&query).await?)
}

#[server(prefix = "/api", endpoint = "create_tenant")]
pub async fn create_tenant(csrf_token: String, name: String) -> Result<TenantSummary, AppError> {
    let _ = csrf_token;
    let actor = require_staff().await?;
    let t = state()?.store.create_tenant(&name, &actor).await?;
    leptos_axum::redirect(&format!("/tenants/{}", t.id));
    Ok(t)
}

#[server(prefix = "/api", endpoint = "get_tenant", input = GetUrl)]
pub async fn get_tenant(tenant_id: TenantId) -> Result<TenantDetail, AppError> {
    require_staff_for(&tenant_id).await?;
    let st = state()?;
    let tenant = st.store.tenant(&tenant_id).await?;
    let connections = st.store.list_connections(&tenant_id).await?;
    Ok(TenantDetail {
        tenant,
        connections,
    })
}

#[server(prefix = "/api", endpoint = "list_links", input = GetUrl)]
pub async fn list_links(tenant_id: TenantId) -> Result<Vec<LinkView>, AppError> {
    require_staff_for(&tenant_id).await?;
    Ok(state()?.store.list_links(&tenant_id).await?)
}

#[server(prefix = "/api", endpoint = "issue_link")]
pub async fn issue_link(
    csrf_token: String,
    tenant_id: TenantId,
    label: String,
    ttl_hours: i64,
) -> Result<IssuedLink, AppError> {
    let _ = csrf_token;
    let actor = require_staff_for(&tenant_id).await?;
    let st = state()?;
    let (link, token) = st
        .store
        .issue_link(&tenant_id, &label, ttl_hours, &actor)
        .await?;
    let url = format!("{}/onboard/{}", st.public_url.trim_end_matches('/'), token);
    Ok(IssuedLink { link, url })
}

#[server(prefix = "/api", endpoint = "revoke_link")]
pub async fn revoke_link(
    csrf_token: String,
    tenant_id: TenantId,
    link_id: String,
) -> Result<LinkView, AppError> {
    let _ = csrf_token;
    let actor = require_staff_for(&tenant_id).await?;
    Ok(state()?
        .store
        .revoke_link(&tenant_id, &link_id, &actor)
        .await?)
}

#[server(prefix = "/api", endpoint = "tenant_audit", input = GetUrl)]
pub async fn tenant_audit(tenant_id: TenantId) -> Result<Vec<AuditEntry>, AppError> {
    require_staff_for(&tenant_id).await?;
    Ok(state()?.store.tenant_audit(&tenant_id, 50).await?)
}

#[server(prefix = "/api", endpoint = "onboarding_info", input = GetUrl)]
pub async fn onboarding_info(tenant_id: TenantId) -> Result<OnboardingView, AppError> {
    require_tenant(&tenant_id).await?;
    let st = state()?;
    let t = st.store.tenant(&tenant_id).await?;
    let connections = st.store.list_connections(&tenant_id).await?;
    Ok(OnboardingView {
        tenant_id: t.id,
        tenant_name: t.name,
        erps: domain::ErpKind::ALL
            .iter()
            .map(|k| ErpCard {
                key: k.key().to_string(),
                name: k.display_name().to_string(),
            })
            .collect(),
        connections,
    })
}

#[server(prefix = "/api", endpoint = "list_staff", input = GetUrl)]
pub async fn list_staff() -> Result<Vec<StaffView>, AppError> {
    require_admin().await?;
    Ok(state()?.store.list_staff().await?)
}

#[server(prefix = "/api", endpoint = "create_staff")]
pub async fn create_staff(
    csrf_token: String,
    email: String,
    name: String,
    password: String,
    role: String,
) -> Result<StaffView, AppError> {
    let _ = csrf_token;
    let actor = require_admin().await?;
    let role =
        Role::parse(&role).ok_or_else(|| AppError::invalid("role must be admin or support"))?;
    let st = state()?;
    let v = st
        .store
        .create_staff(&email, &name, &password, role)
        .await?;
    st.store
        .audit(
            &actor,
            None,
            "staff.create",
            &v.id,
            &serde_json::json!({ "email": v.email, "role": role.key() }),
        )
        .await?;
    Ok(v)
}
