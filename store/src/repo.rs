//! Repositories: every query Switchyard makes. Functions that touch tenant data take the
//! tenant id and filter on it, so a caller cannot reach another tenant's rows by passing a
//! foreign row id.

use crate::entity::{
    audit_log, connection, login_throttle, onboarding_link, schema_version, staff_user, tenant,
};
use crate::{new_id, now_ms, password, Store, StoreError, StoreResult};
use domain::views::{
    AuditEntry, ConnectionView, LinkState, LinkView, SchemaView, StaffView, TenantSummary,
};
use domain::{ConnectionStatus, Environment, ErpKind, Principal, Role, TenantId};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};

/// SHA-256 of an onboarding token, hex: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh onboarding token: 256 random bits, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn staff_view(m: staff_user::Model) -> StaffView {
    StaffView {
        id: m.id,
        email: m.email,
        name: m.name,
        role: Role::parse(&m.role).unwrap_or(Role::Support),
        disabled: m.disabled,
        created_at: m.created_at,
        last_sign_in_at: m.last_sign_in_at,
    }
}

fn link_view(m: onboarding_link::Model, now: i64) -> LinkView {
    let state = if m.revoked_at.is_some() {
        LinkState::Revoked
    } else if m.expires_at <= now {
        LinkState::Expired
    } else {
        LinkState::Active
    };
    LinkView {
        id: m.id,
        label: m.label,
        created_at: m.created_at,
        created_by: m.created_by,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
        last_used_at: m.last_used_at,
        use_count: m.use_count,
        state,
    }
}

/// Why an onboarding link did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Expired,
    Revoked,
}

/// The outcome of a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    Ok(Principal),
    BadCredentials,
    Throttled { retry_after_secs: i64 },
}

/// Sign-in throttling: after `MAX_FAILURES` failures within `WINDOW_MS` for one key
/// (an account or a client address), the key is locked for `LOCK_MS`.
pub const MAX_FAILURES: i64 = 5;
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
pub const LOCK_MS: i64 = 15 * 60 * 1000;

impl Store {
    // ---- staff -------------------------------------------------------------------

    pub async fn staff_count(&self) -> StoreResult<u64> {
        Ok(staff_user::Entity::find().count(&self.db).await?)
    }

    pub async fn create_staff(
        &self,
        email: &str,
        name: &str,
        password: &str,
        role: Role,
    ) -> StoreResult<StaffView> {
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(StoreError::Invalid(
                "email must be an address like name@example.com".into(),
            ));
        }
        if password.chars().count() < 12 {
            return Err(StoreError::Invalid(
                "password must be at least 12 characters".into(),
            ));
        }
        if staff_user::Entity::find()
            .filter(staff_user::Column::Email.eq(&email))
            .one(&self.db)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "a staff user with email {email} exists"
            )));
        }
        let m = staff_user::ActiveModel {
            id: Set(new_id()),
            email: Set(email),
            name: Set(name.trim().to_string()),
            password_hash: Set(password::hash_password(password)),
            role: Set(role.key().to_string()),
            disabled: Set(false),
            created_at: Set(now_ms()),
            last_sign_in_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(staff_view(m))
    }

    pub async fn list_staff(&self) -> StoreResult<Vec<StaffView>> {
        let rows = staff_user::Entity::find()
            .order_by_asc(staff_user::Column::Email)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(staff_view).collect())
    }

    fn throttle_keys(email: &str, client: &str) -> [String; 2] {
        [
            format!("acct:{}", email.trim().to_lowercase()),
            format!("addr:{client}"),
        ]
    }

    async fn locked_for(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        let row = login_throttle::Entity::find_by_id(key.to_string())
            .one(&self.db)
            .await?;
        Ok(row
            .and_then(|r| r.locked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now + 999) / 1000))
    }

    async fn record_failure(&self, key: &str, now: i64) -> StoreResult<()> {
        let row = login_throttle::Entity::find_by_id(key.to_string())
            .one(&self.db)
            .await?;
        match row {
            None => {
                login_throttle::ActiveModel {
                    key: Set(key.to_string()),
                    failures: Set(1),
                    window_start: Set(now),
                    locked_until: Set(None),
                }
                .insert(&self.db)
                .await?;
            }
            Some(r) => {
                let (failures, start) = if now - r.window_start > WINDOW_MS {
                    (1, now)
                } else {
                    (r.failures + 1, r.window_start)
                };
                let locked = if failures >= MAX_FAILURES {
                    Some(now + LOCK_MS)
                } else {
                    r.locked_until
                };
                let mut am: login_throttle::ActiveModel = r.into();
                am.failures = Set(failures);
                am.window_start = Set(start);
                am.locked_until = Set(locked);
                am.update(&self.db).await?;
            }
        }
        Ok(())
    }

    /// Verifies a staff sign-in, applying throttling by account and by client address.
    pub async fn sign_in(
        &self,
        email: &str,
        password_text: &str,
        client: &str,
    ) -> StoreResult<SignIn> {
        let now = now_ms();
        let keys = Self::throttle_keys(email, client);
        for k in &keys {
            if let Some(secs) = self.locked_for(k, now).await? {
                return Ok(SignIn::Throttled {
                    retry_after_secs: secs,
                });
            }
        }
        let email_norm = email.trim().to_lowercase();
        let user = staff_user::Entity::find()
            .filter(staff_user::Column::Email.eq(&email_norm))
            .one(&self.db)
            .await?;
        let ok = match &user {
            Some(u) if !u.disabled => password::verify_password(password_text, &u.password_hash),
            _ => {
                // Same work as a real check, so response time does not reveal accounts.
                let _ = password::verify_password(password_text, password::dummy_hash());
                false
            }
        };
        if !ok {
            for k in &keys {
                self.record_failure(k, now).await?;
            }
            return Ok(SignIn::BadCredentials);
        }
        let user = user.expect("checked above");
        login_throttle::Entity::delete_by_id(keys[0].clone())
            .exec(&self.db)
            .await?;
        let mut am: staff_user::ActiveModel = user.clone().into();
        am.last_sign_in_at = Set(Some(now));
        am.update(&self.db).await?;
        Ok(SignIn::Ok(Principal::Staff {
            user_id: user.id,
            email: user.email,
            name: user.name,
            role: Role::parse(&user.role).unwrap_or(Role::Support),
        }))
    }

    /// Re-reads a staff principal (role or disabled flag may have changed since sign-in).
    pub async fn refresh_staff(&self, user_id: &str) -> StoreResult<Option<Principal>> {
        let u = staff_user::Entity::find_by_id(user_id.to_string())
            .one(&self.db)
            .await?;
        Ok(u.filter(|u| !u.disabled).map(|u| Principal::Staff {
            user_id: u.id,
            email: u.email,
            name: u.name,
            role: Role::parse(&u.role).unwrap_or(Role::Support),
        }))
    }

    // ---- tenants -----------------------------------------------------------------

    /// Connection and active-link counts for the given tenants, two grouped queries in all
    /// (not two per tenant).
    async fn tenant_counts(
        &self,
        ids: &[String],
        now: i64,
    ) -> StoreResult<std::collections::HashMap<String, (u64, u64)>> {
        use sea_orm::FromQueryResult;
        #[derive(FromQueryResult)]
        struct Count {
            tenant_id: String,
            n: i64,
        }
        let mut out: std::collections::HashMap<String, (u64, u64)> =
            std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let connections = connection::Entity::find()
            .select_only()
            .column(connection::Column::TenantId)
            .column_as(connection::Column::Id.count(), "n")
            .filter(connection::Column::TenantId.is_in(ids.iter().cloned()))
            .group_by(connection::Column::TenantId)
            .into_model::<Count>()
            .all(&self.db)
            .await?;
        for c in connections {
            out.entry(c.tenant_id).or_default().0 = c.n as u64;
        }
        let links = onboarding_link::Entity::find()
            .select_only()
            .column(onboarding_link::Column::TenantId)
            .column_as(onboarding_link::Column::Id.count(), "n")
            .filter(onboarding_link::Column::TenantId.is_in(ids.iter().cloned()))
            .filter(onboarding_link::Column::RevokedAt.is_null())
            .filter(onboarding_link::Column::ExpiresAt.gt(now))
            .group_by(onboarding_link::Column::TenantId)
            .into_model::<Count>()
            .all(&self.db)
            .await?;
        for l in links {
            out.entry(l.tenant_id).or_default().1 = l.n as u64;
        }
        Ok(out)
    }

    async fn summaries(&self, rows: Vec<tenant::Model>) -> StoreResult<Vec<TenantSummary>> {
        let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
        let counts = self.tenant_counts(&ids, now_ms()).await?;
        Ok(rows
            .into_iter()
            .map(|t| {
                let (connection_count, active_links) =
                    counts.get(&t.id).copied().unwrap_or_default();
                TenantSummary {
                    id: TenantId(t.id),
                    name: t.name,
                    slug: t.slug,
                    created_at: t.created_at,
                    connection_count,
                    active_links,
                }
            })
            .collect())
    }

    async fn summary(&self, t: tenant::Model) -> StoreResult<TenantSummary> {
        Ok(self.summaries(vec![t]).await?.remove(0))
    }

    pub async fn create_tenant(&self, name: &str, actor: &Principal) -> StoreResult<TenantSummary> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(StoreError::Invalid(
                "tenant name must be 1 to 120 characters".into(),
            ));
        }
        let base = slugify(name);
        if base.is_empty() {
            return Err(StoreError::Invalid(
                "tenant name needs at least one letter or digit".into(),
            ));
        }
        let mut slug = base.clone();
        let mut n = 2;
        while tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(&slug))
            .one(&self.db)
            .await?
            .is_some()
        {
            slug = format!("{base}-{n}");
            n += 1;
        }
        let now = now_ms();
        let m = tenant::ActiveModel {
            id: Set(new_id()),
            name: Set(name.to_string()),
            slug: Set(slug),
            created_at: Set(now),
            created_by: Set(actor.actor().1),
        }
        .insert(&self.db)
        .await?;
        let tid = TenantId(m.id.clone());
        self.audit(
            actor,
            Some(&tid),
            "tenant.create",
            &m.id,
            &serde_json::json!({ "name": m.name }),
        )
        .await?;
        self.summary(m).await
    }

    /// Tenants whose name or slug contains `query` (case-insensitive), newest first.
    pub async fn list_tenants(&self, query: &str) -> StoreResult<Vec<TenantSummary>> {
        let mut q = tenant::Entity::find()
            .order_by_desc(tenant::Column::CreatedAt)
            .limit(500);
        let query = query.trim().to_lowercase();
        if !query.is_empty() {
            let pattern = format!(
                "%{}%",
                query
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            q = q.filter(
                Condition::any()
                    .add(Expr::expr(Func::lower(Expr::col(tenant::Column::Name))).like(&pattern))
                    .add(Expr::col(tenant::Column::Slug).like(&pattern)),
            );
        }
        let rows = q.all(&self.db).await?;
        self.summaries(rows).await
    }

    pub async fn tenant(&self, id: &TenantId) -> StoreResult<TenantSummary> {
        let t = tenant::Entity::find_by_id(id.0.clone())
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {id}")))?;
        self.summary(t).await
    }

    // ---- onboarding links -------------------------------------------------------

    /// Issues a link; returns the view and the raw token, which is never stored.
    pub async fn issue_link(
        &self,
        tenant_id: &TenantId,
        label: &str,
        ttl_hours: i64,
        actor: &Principal,
    ) -> StoreResult<(LinkView, String)> {
        self.tenant(tenant_id).await?;
        if !(1..=24 * 30).contains(&ttl_hours) {
            return Err(StoreError::Invalid(
                "link lifetime must be between 1 hour and 30 days".into(),
            ));
        }
        let label = label.trim();
        if label.chars().count() > 120 {
            return Err(StoreError::Invalid(
                "label must be at most 120 characters".into(),
            ));
        }
        let token = new_token();
        let now = now_ms();
        let m = onboarding_link::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.0.clone()),
            token_hash: Set(token_hash(&token)),
            label: Set(if label.is_empty() {
                "Onboarding link".into()
            } else {
                label.to_string()
            }),
            created_by: Set(actor.actor().1),
            created_at: Set(now),
            expires_at: Set(now + ttl_hours * 3600 * 1000),
            revoked_at: Set(None),
            revoked_by: Set(None),
            last_used_at: Set(None),
            use_count: Set(0),
        }
        .insert(&self.db)
        .await?;
        self.audit(
            actor,
            Some(tenant_id),
            "link.issue",
            &m.id,
            &serde_json::json!({ "ttl_hours": ttl_hours }),
        )
        .await?;
        Ok((link_view(m, now), token))
    }

    pub async fn list_links(&self, tenant_id: &TenantId) -> StoreResult<Vec<LinkView>> {
        let now = now_ms();
        let rows = onboarding_link::Entity::find()
            .filter(onboarding_link::Column::TenantId.eq(&tenant_id.0))
            .order_by_desc(onboarding_link::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|m| link_view(m, now)).collect())
    }

    pub async fn revoke_link(
        &self,
        tenant_id: &TenantId,
        link_id: &str,
        actor: &Principal,
    ) -> StoreResult<LinkView> {
        let m = onboarding_link::Entity::find_by_id(link_id.to_string())
            .filter(onboarding_link::Column::TenantId.eq(&tenant_id.0))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("link {link_id}")))?;
        let now = now_ms();
        if m.revoked_at.is_some() {
            return Ok(link_view(m, now));
        }
        let mut am: onboarding_link::ActiveModel = m.into();
        am.revoked_at = Set(Some(now));
        am.revoked_by = Set(Some(actor.actor().1));
        let m = am.update(&self.db).await?;
        self.audit(
            actor,
            Some(tenant_id),
            "link.revoke",
            link_id,
            &serde_json::json!({}),
        )
        .await?;
        Ok(link_view(m, now))
    }

    /// Opens a link by its raw token: records the use and returns the holder principal.
    pub async fn redeem_link(&self, token: &str) -> StoreResult<Result<Principal, LinkRefusal>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(Err(LinkRefusal::Unknown));
        }
        let Some(m) = onboarding_link::Entity::find()
            .filter(onboarding_link::Column::TokenHash.eq(token_hash(token)))
            .one(&self.db)
            .await?
        else {
            return Ok(Err(LinkRefusal::Unknown));
        };
        let now = now_ms();
        if m.revoked_at.is_some() {
            return Ok(Err(LinkRefusal::Revoked));
        }
        if m.expires_at <= now {
            return Ok(Err(LinkRefusal::Expired));
        }
        onboarding_link::Entity::update_many()
            .col_expr(onboarding_link::Column::LastUsedAt, Expr::value(now))
            .col_expr(
                onboarding_link::Column::UseCount,
                Expr::col(onboarding_link::Column::UseCount).add(1),
            )
            .filter(onboarding_link::Column::Id.eq(&m.id))
            .exec(&self.db)
            .await?;
        Ok(Ok(Principal::LinkHolder {
            tenant_id: TenantId(m.tenant_id),
            link_id: m.id,
        }))
    }

    /// Is the link behind a holder's session still valid? Checked on every request, so a
    /// revoked link ends its sessions at once.
    pub async fn link_still_valid(&self, tenant_id: &TenantId, link_id: &str) -> StoreResult<bool> {
        let m = onboarding_link::Entity::find_by_id(link_id.to_string())
            .filter(onboarding_link::Column::TenantId.eq(&tenant_id.0))
            .one(&self.db)
            .await?;
        Ok(matches!(m, Some(m) if m.revoked_at.is_none() && m.expires_at > now_ms()))
    }

    /// Test support: moves a link's expiry (used to prove expired links are refused).
    pub async fn set_link_expiry(&self, link_id: &str, expires_at: i64) -> StoreResult<()> {
        onboarding_link::Entity::update_many()
            .col_expr(onboarding_link::Column::ExpiresAt, Expr::value(expires_at))
            .filter(onboarding_link::Column::Id.eq(link_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    // ---- connections --------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn create_connection(
        &self,
        vault: &crate::vault::Vault,
        tenant_id: &TenantId,
        erp: ErpKind,
        environment: Environment,
        display_name: &str,
        credential_kind: &str,
        credentials: &secrecy::SecretBox<[u8]>,
        settings: &serde_json::Value,
        actor: &Principal,
    ) -> StoreResult<ConnectionView> {
        self.tenant(tenant_id).await?;
        let id = new_id();
        let sealed = vault.seal(&tenant_id.0, &id, credentials);
        let now = now_ms();
        let m = connection::ActiveModel {
            id: Set(id.clone()),
            tenant_id: Set(tenant_id.0.clone()),
            erp_kind: Set(erp.key().to_string()),
            environment: Set(environment.key().to_string()),
            display_name: Set(display_name.trim().to_string()),
            status: Set(ConnectionStatus::Pending.key().to_string()),
            status_detail: Set(None),
            credential_kind: Set(credential_kind.to_string()),
            credential_blob: Set(sealed.blob),
            credential_key_id: Set(sealed.key_id),
            settings: Set(settings.to_string()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await?;
        self.audit(
            actor,
            Some(tenant_id),
            "connection.create",
            &id,
            &serde_json::json!({ "erp": erp.key() }),
        )
        .await?;
        Ok(connection_view(m))
    }

    pub async fn list_connections(&self, tenant_id: &TenantId) -> StoreResult<Vec<ConnectionView>> {
        let rows = connection::Entity::find()
            .filter(connection::Column::TenantId.eq(&tenant_id.0))
            .order_by_asc(connection::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(connection_view).collect())
    }

    /// Opens a connection's credentials (for the connector, or an export by their owner).
    pub async fn connection_credentials(
        &self,
        vault: &crate::vault::Vault,
        tenant_id: &TenantId,
        connection_id: &str,
    ) -> StoreResult<secrecy::SecretBox<[u8]>> {
        let m = connection::Entity::find_by_id(connection_id.to_string())
            .filter(connection::Column::TenantId.eq(&tenant_id.0))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection {connection_id}")))?;
        Ok(vault.open(&tenant_id.0, &m.id, &m.credential_blob)?)
    }

    /// One connection of a tenant, with its stored (non-secret) settings.
    pub async fn connection(
        &self,
        tenant_id: &TenantId,
        connection_id: &str,
    ) -> StoreResult<(ConnectionView, serde_json::Value)> {
        let m = connection::Entity::find_by_id(connection_id.to_string())
            .filter(connection::Column::TenantId.eq(&tenant_id.0))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection {connection_id}")))?;
        let settings = serde_json::from_str(&m.settings).unwrap_or(serde_json::Value::Null);
        Ok((connection_view(m), settings))
    }

    /// Records the outcome of a check or sync on a connection.
    pub async fn set_connection_status(
        &self,
        tenant_id: &TenantId,
        connection_id: &str,
        status: ConnectionStatus,
        detail: Option<String>,
    ) -> StoreResult<()> {
        let r = connection::Entity::update_many()
            .col_expr(connection::Column::Status, Expr::value(status.key()))
            .col_expr(connection::Column::StatusDetail, Expr::value(detail))
            .col_expr(connection::Column::UpdatedAt, Expr::value(now_ms()))
            .filter(connection::Column::Id.eq(connection_id))
            .filter(connection::Column::TenantId.eq(&tenant_id.0))
            .exec(&self.db)
            .await?;
        if r.rows_affected == 0 {
            return Err(StoreError::NotFound(format!("connection {connection_id}")));
        }
        Ok(())
    }

    /// Stores a discovery as the connection's next schema version; returns the version.
    pub async fn save_schema(
        &self,
        tenant_id: &TenantId,
        connection_id: &str,
        schema: &domain::Schema,
    ) -> StoreResult<i64> {
        self.connection(tenant_id, connection_id).await?;
        let last = schema_version::Entity::find()
            .filter(schema_version::Column::ConnectionId.eq(connection_id))
            .order_by_desc(schema_version::Column::Version)
            .one(&self.db)
            .await?
            .map(|m| m.version)
            .unwrap_or(0);
        let document =
            serde_json::to_string(schema).map_err(|e| StoreError::Invalid(e.to_string()))?;
        schema_version::ActiveModel {
            id: Set(new_id()),
            tenant_id: Set(tenant_id.0.clone()),
            connection_id: Set(connection_id.to_string()),
            version: Set(last + 1),
            discovered_at: Set(now_ms()),
            document: Set(document),
        }
        .insert(&self.db)
        .await?;
        Ok(last + 1)
    }

    /// The latest schema of every connection of a tenant, with the change since the one before.
    pub async fn tenant_schemas(&self, tenant_id: &TenantId) -> StoreResult<Vec<SchemaView>> {
        let mut out = Vec::new();
        for c in self.list_connections(tenant_id).await? {
            let rows = schema_version::Entity::find()
                .filter(schema_version::Column::ConnectionId.eq(&c.id))
                .filter(schema_version::Column::TenantId.eq(&tenant_id.0))
                .order_by_desc(schema_version::Column::Version)
                .limit(2)
                .all(&self.db)
                .await?;
            let Some(latest) = rows.first() else { continue };
            let parse = |m: &schema_version::Model| -> StoreResult<domain::Schema> {
                serde_json::from_str(&m.document)
                    .map_err(|e| StoreError::Invalid(format!("stored schema: {e}")))
            };
            let schema = parse(latest)?;
            let changes_since_previous = match rows.get(1) {
                Some(prev) => Some(parse(prev)?.diff(&schema)),
                None => None,
            };
            out.push(SchemaView {
                connection_id: c.id.clone(),
                connection_name: c.display_name.clone(),
                erp: c.erp,
                environment: c.environment,
                version: latest.version,
                discovered_at: latest.discovered_at,
                schema,
                changes_since_previous,
            });
        }
        Ok(out)
    }

    // ---- audit ----------------------------------------------------------------------

    pub async fn audit(
        &self,
        actor: &Principal,
        tenant_id: Option<&TenantId>,
        action: &str,
        target: &str,
        detail: &serde_json::Value,
    ) -> StoreResult<()> {
        let (kind, id) = actor.actor();
        audit_log::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            at: Set(now_ms()),
            actor_kind: Set(kind.to_string()),
            actor_id: Set(id),
            tenant_id: Set(tenant_id.map(|t| t.0.clone())),
            action: Set(action.to_string()),
            target: Set(target.to_string()),
            detail: Set(detail.to_string()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    pub async fn tenant_audit(
        &self,
        tenant_id: &TenantId,
        limit: u64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(&tenant_id.0))
            .order_by_desc(audit_log::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut names = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let actor = if r.actor_kind == "staff" {
                if !names.contains_key(&r.actor_id) {
                    let email = staff_user::Entity::find_by_id(r.actor_id.clone())
                        .one(&self.db)
                        .await?
                        .map(|u| u.email)
                        .unwrap_or_else(|| r.actor_id.clone());
                    names.insert(r.actor_id.clone(), email);
                }
                names[&r.actor_id].clone()
            } else {
                "onboarding link".to_string()
            };
            out.push(AuditEntry {
                at: r.at,
                actor_kind: r.actor_kind,
                actor,
                action: r.action,
                target: r.target,
                detail: r.detail,
            });
        }
        Ok(out)
    }
}

fn connection_view(m: connection::Model) -> ConnectionView {
    ConnectionView {
        id: m.id,
        erp: ErpKind::parse(&m.erp_kind).unwrap_or(ErpKind::Netsuite),
        environment: Environment::parse(&m.environment).unwrap_or(Environment::Production),
        display_name: m.display_name,
        status: ConnectionStatus::parse(&m.status).unwrap_or(ConnectionStatus::Pending),
        status_detail: m.status_detail,
        credential_kind: m.credential_kind,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// Lower-case ASCII letters and digits joined by single hyphens.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.truncate(60);
    out
}
