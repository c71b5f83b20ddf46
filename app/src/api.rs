//! Server functions: the browser's whole API. Each one starts with a guard that decides
//! who may call it. Reads are GET requests; state changes are POSTs that carry the
//! session's CSRF token as `csrf_token`, which the server's CSRF layer checks before the
//! function runs.

use crate::error::AppError;
use domain::views::{AuditEntry, IssuedLink, LinkView, StaffView, TenantDetail, TenantSummary};
use domain::{Principal, TenantId};
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
    pub connections: Vec<domain::views::ConnectionView>,
    /// The viewer holds this tenant's link (and so owns its credentials), rather than staff.
    pub viewer_is_holder: bool,
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
    let viewer = require_tenant(&tenant_id).await?;
    let st = state()?;
    let t = st.store.tenant(&tenant_id).await?;
    let connections = st.store.list_connections(&tenant_id).await?;
    Ok(OnboardingView {
        tenant_id: t.id,
        tenant_name: t.name,
        connections,
        viewer_is_holder: !viewer.is_staff(),
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
    let role = domain::Role::parse(&role)
        .ok_or_else(|| AppError::invalid("role must be admin or support"))?;
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

#[server(prefix = "/api", endpoint = "erp_catalog", input = GetUrl)]
pub async fn erp_catalog() -> Result<Vec<domain::catalog::CatalogEntry>, AppError> {
    crate::ssr::require_signed_in().await?;
    Ok(state()?.connectors.catalog())
}

/// Checks a stored connection, discovers its schema when it can, and records both.
#[cfg(feature = "ssr")]
async fn check_and_discover(
    st: &crate::ssr::AppState,
    spec: &crate::ssr::ConnectionSpec,
    can_discover: bool,
) -> Result<domain::views::ConnectionView, AppError> {
    use domain::{ConnectionStatus, ErrorClass};
    let tenant = &spec.tenant;
    let outcome = st.connectors.check(spec).await;
    let (status, detail) = match &outcome {
        Ok(summary) => {
            let mut detail = format!("Connected: {}", summary.account_label);
            if !summary.warnings.is_empty() {
                detail.push_str(&format!(" ({})", summary.warnings.join("; ")));
            }
            (ConnectionStatus::Active, detail)
        }
        Err(e) if e.code.class() == ErrorClass::Reauthenticate => {
            (ConnectionStatus::NeedsReauth, e.message.clone())
        }
        Err(e) => (
            ConnectionStatus::Pending,
            format!("Check failed ({}): {}", e.code, e.message),
        ),
    };
    st.store
        .set_connection_status(tenant, &spec.connection_id, status, Some(detail))
        .await?;
    if outcome.is_ok() && can_discover {
        match st.connectors.discover(spec).await {
            Ok(schema) => {
                st.store
                    .save_schema(tenant, &spec.connection_id, &schema)
                    .await?;
            }
            Err(e) => {
                st.store
                    .set_connection_status(
                        tenant,
                        &spec.connection_id,
                        status,
                        Some(format!(
                            "Connected, but discovery failed ({}): {}",
                            e.code, e.message
                        )),
                    )
                    .await?;
            }
        }
    }
    Ok(st.store.connection(tenant, &spec.connection_id).await?.0)
}

/// The values a form sent for the declared fields: required ones present, none too long,
/// no undeclared key (a tenant cannot slip in a setting the operator controls).
#[cfg(feature = "ssr")]
fn form_values(
    declared: &[domain::catalog::FormField],
    given: &std::collections::BTreeMap<String, String>,
    what: &str,
) -> Result<std::collections::BTreeMap<String, serde_json::Value>, AppError> {
    if let Some(extra) = given
        .keys()
        .find(|k| !declared.iter().any(|f| &f.key == *k))
    {
        return Err(AppError::invalid(format!("unknown {what} '{extra}'")));
    }
    let mut out = std::collections::BTreeMap::new();
    for f in declared {
        let v = given.get(&f.key).map(|s| s.trim()).unwrap_or("");
        if f.required && v.is_empty() {
            return Err(AppError::invalid(format!("{} is required.", f.label)));
        }
        if v.len() > domain::catalog::MAX_FIELD_LEN {
            return Err(AppError::invalid(format!("{} is too long.", f.label)));
        }
        if !v.is_empty() {
            out.insert(f.key.clone(), serde_json::Value::String(v.to_string()));
        }
    }
    Ok(out)
}

/// Connects a tenant's ERP: validates the form against the ERP's declaration, seals the
/// credentials in the vault, then checks the connection and discovers its schema.
#[allow(clippy::too_many_arguments)]
#[server(prefix = "/api", endpoint = "connect_erp")]
pub async fn connect_erp(
    csrf_token: String,
    tenant_id: TenantId,
    erp: String,
    environment: String,
    display_name: String,
    credential_kind: String,
    #[server(default)] base_url: String,
    #[server(default)] fields: std::collections::BTreeMap<String, String>,
    #[server(default)] settings: std::collections::BTreeMap<String, String>,
) -> Result<domain::views::ConnectionView, AppError> {
    let _ = csrf_token;
    let actor = require_tenant(&tenant_id).await?;
    let st = state()?;
    let kind = domain::ErpKind::parse(&erp)
        .ok_or_else(|| AppError::invalid(format!("unknown ERP '{erp}'")))?;
    let entry = st
        .connectors
        .catalog()
        .into_iter()
        .find(|e| e.erp == kind)
        .ok_or_else(|| AppError::invalid(format!("{} is not available", kind.display_name())))?;
    let env = domain::Environment::parse(&environment)
        .filter(|e| entry.environments.contains(e))
        .ok_or_else(|| {
            AppError::invalid(format!(
                "{} has no '{environment}' environment",
                entry.display_name
            ))
        })?;
    let form = entry
        .credential_kinds
        .iter()
        .find(|k| k.key == credential_kind)
        .ok_or_else(|| {
            AppError::invalid(format!(
                "{} has no credential kind '{credential_kind}'",
                entry.display_name
            ))
        })?;
    let too_long = |v: &str| v.len() > domain::catalog::MAX_FIELD_LEN;
    let creds = form_values(&form.fields, &fields, "credential field")?;
    let mut stored_settings = form_values(&entry.settings, &settings, "setting")?;
    let base_url = Some(base_url.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(u) = &base_url {
        if too_long(u) {
            return Err(AppError::invalid("The server address is too long."));
        }
        stored_settings.insert("base_url".into(), serde_json::Value::String(u.clone()));
    }
    let name = display_name.trim();
    let name = if name.is_empty() {
        format!("{} {}", entry.display_name, env.key())
    } else {
        name.chars().take(120).collect()
    };
    let doc = serde_json::json!({ "kind": form.key, "fields": creds.into_iter().collect::<serde_json::Map<_, _>>() }).to_string();
    let secret = secrecy::SecretBox::new(doc.clone().into_bytes().into_boxed_slice());
    let view = st
        .store
        .create_connection(
            &st.vault,
            &tenant_id,
            kind,
            env,
            &name,
            &form.key,
            &secret,
            &serde_json::Value::Object(stored_settings.clone().into_iter().collect()),
            &actor,
        )
        .await?;
    stored_settings.remove("base_url");
    let spec = crate::ssr::ConnectionSpec {
        tenant: tenant_id.clone(),
        connection_id: view.id.clone(),
        erp: kind,
        environment: env,
        base_url,
        settings: stored_settings,
        credentials_json: secrecy::SecretString::from(doc),
    };
    check_and_discover(&st, &spec, entry.can_discover).await
}

/// Re-runs the check and discovery of a stored connection.
#[server(prefix = "/api", endpoint = "recheck_connection")]
pub async fn recheck_connection(
    csrf_token: String,
    tenant_id: TenantId,
    connection_id: String,
) -> Result<domain::views::ConnectionView, AppError> {
    let _ = csrf_token;
    let actor = require_tenant(&tenant_id).await?;
    let st = state()?;
    let (view, mut settings) = st.store.connection(&tenant_id, &connection_id).await?;
    let creds = st
        .store
        .connection_credentials(&st.vault, &tenant_id, &connection_id)
        .await?;
    use secrecy::ExposeSecret;
    let doc = String::from_utf8(creds.expose_secret().to_vec()).map_err(AppError::internal)?;
    let base_url = settings
        .as_object_mut()
        .and_then(|m| m.remove("base_url"))
        .and_then(|v| v.as_str().map(String::from));
    let settings = settings
        .as_object()
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let can_discover = st
        .connectors
        .catalog()
        .iter()
        .any(|e| e.erp == view.erp && e.can_discover);
    let spec = crate::ssr::ConnectionSpec {
        tenant: tenant_id.clone(),
        connection_id: connection_id.clone(),
        erp: view.erp,
        environment: view.environment,
        base_url,
        settings,
        credentials_json: secrecy::SecretString::from(doc),
    };
    st.store
        .audit(
            &actor,
            Some(&tenant_id),
            "connection.check",
            &connection_id,
            &serde_json::json!({}),
        )
        .await?;
    check_and_discover(&st, &spec, can_discover).await
}

#[server(prefix = "/api", endpoint = "tenant_schema", input = GetUrl)]
pub async fn tenant_schema(
    tenant_id: TenantId,
) -> Result<Vec<domain::views::SchemaView>, AppError> {
    require_tenant(&tenant_id).await?;
    Ok(state()?.store.tenant_schemas(&tenant_id).await?)
}

/// Gives the tenant its own stored credentials back (they own them). Staff cannot: they
/// manage connections, they never read a customer's secrets.
#[server(prefix = "/api", endpoint = "export_credentials")]
pub async fn export_credentials(
    csrf_token: String,
    tenant_id: TenantId,
    connection_id: String,
) -> Result<String, AppError> {
    let _ = csrf_token;
    let actor = require_tenant(&tenant_id).await?;
    if actor.is_staff() {
        return Err(AppError::new(
            domain::ErrorCode::Forbidden,
            "Only the tenant, through its onboarding link, may export its credentials.",
        ));
    }
    let st = state()?;
    let creds = st
        .store
        .connection_credentials(&st.vault, &tenant_id, &connection_id)
        .await?;
    st.store
        .audit(
            &actor,
            Some(&tenant_id),
            "connection.export",
            &connection_id,
            &serde_json::json!({}),
        )
        .await?;
    use secrecy::ExposeSecret;
    String::from_utf8(creds.expose_secret().to_vec()).map_err(AppError::internal)
}

/// Sandbox against production, for every ERP where the tenant has both connected and
/// discovered: what exists in one and not the other, or differs in type.
#[server(prefix = "/api", endpoint = "schema_drift", input = GetUrl)]
pub async fn schema_drift(tenant_id: TenantId) -> Result<Vec<domain::views::DriftView>, AppError> {
    require_tenant(&tenant_id).await?;
    let st = state()?;
    let schemas = st.store.tenant_schemas(&tenant_id).await?;
    // The most recently discovered connection of that ERP and environment.
    let latest = |env: domain::Environment, erp: domain::ErpKind| {
        schemas
            .iter()
            .filter(|s| s.erp == erp && s.environment == env)
            .max_by_key(|s| s.discovered_at)
    };
    let mut out = Vec::new();
    for erp in domain::ErpKind::ALL {
        if let (Some(prod), Some(sb)) = (
            latest(domain::Environment::Production, erp),
            latest(domain::Environment::Sandbox, erp),
        ) {
            out.push(domain::views::DriftView {
                erp,
                production: prod.connection_name.clone(),
                sandbox: sb.connection_name.clone(),
                diff: prod.schema.diff(&sb.schema),
            });
        }
    }
    Ok(out)
}
