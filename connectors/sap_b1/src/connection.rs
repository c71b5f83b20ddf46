//! A live connection to one company database: the session pool (one or more sessions per
//! tenant and company database, single-flight login, refresh before the idle timeout,
//! transparent re-login) and the one request path, which always goes through the engine.

use crate::auth::{self, SlSession};
use crate::client::SlClassifier;
use connector_core::domain::{ErpKind, ErrorCode};
use connector_core::{
    AccountKey, AccountLimits, ConnectionConfig, ConnectorError, Engine, ExposeSecret, Request,
    RequestContext, Response, SecretString, Session, SessionKey, SessionPool, SharedClock,
};
use futures::FutureExt;
use http::{HeaderName, HeaderValue, Method};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How often one logical request may log in again after `session_expired` before the
/// error is returned (a server that expires every session at once must not loop forever).
const MAX_RELOGINS: usize = 6;

pub struct SlConn {
    pub engine: Engine,
    pub ctx: RequestContext,
    /// The service root with a trailing slash, e.g. `https://h:50000/b1s/v2/`.
    pub root: Url,
    pub v2: bool,
    pub company_db: String,
    user: String,
    password: SecretString,
    pub pool: Arc<SessionPool<SlSession>>,
    /// Sessions this connection may hold at once (parallel bulk writes use one each).
    pub sessions: usize,
    /// The document field that stores a write's idempotency key.
    pub reference_field: String,
    pub clock: SharedClock,
}

impl SlConn {
    pub fn new(
        config: &ConnectionConfig,
        engine: Engine,
        clock: SharedClock,
        root: Url,
    ) -> Result<SlConn, ConnectorError> {
        let company_db = config.require_setting("company_db")?.to_string();
        let user = config.credentials.require("username")?.to_string();
        let password = config.credentials.get("password").cloned().ok_or_else(|| {
            ConnectorError::invalid_input("credential field 'password' is missing")
        })?;
        let sessions = config
            .settings
            .get("sessions")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(2)
            .clamp(1, 16) as usize;
        let reference_field = config
            .setting_str("reference_field")
            .unwrap_or("NumAtCard")
            .to_string();
        if !reference_field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ConnectorError::invalid_input(
                "setting 'reference_field' must be a property name such as NumAtCard or U_ExtRef",
            ));
        }
        let v2 = root.path().contains("/b1s/v2");
        let ctx = RequestContext {
            tenant: config.tenant.clone(),
            erp: ErpKind::SapB1,
            account: AccountKey::new(
                ErpKind::SapB1,
                format!("{}#{}", root.host_str().unwrap_or(""), company_db),
            ),
            limits: AccountLimits::concurrency(sessions as u32),
        };
        Ok(SlConn {
            engine,
            ctx,
            root,
            v2,
            company_db,
            user,
            password,
            pool: Arc::new(SessionPool::new(clock.clone())),
            sessions,
            reference_field,
            clock,
        })
    }

    fn key(&self, slot: usize) -> SessionKey {
        SessionKey::new(
            self.ctx.tenant.clone(),
            format!("company_db:{}#{}", self.company_db, slot % self.sessions),
        )
    }

    pub fn url(&self, path_and_query: &str) -> Result<Url, ConnectorError> {
        self.root.join(path_and_query).map_err(|e| {
            ConnectorError::invalid_input(format!("bad request path '{path_and_query}': {e}"))
        })
    }

    /// Logs in (through the engine) and returns a session with the announced timeout.
    pub async fn login(&self) -> Result<Session<SlSession>, ConnectorError> {
        let body = auth::login_body(&self.company_db, &self.user, self.password.expose_secret());
        let req = Request::new(&self.ctx, "login", Method::POST, self.url("Login")?)
            .json(&body)?
            .idempotent(true);
        let resp = self.engine.send(req, &SlClassifier { login: true }).await?;
        let cookies: Vec<&str> = resp
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let s = auth::parse_login(&cookies, &resp.body)?;
        let idle = Duration::from_secs(s.timeout_minutes as u64 * 60);
        Ok(Session::new(s).idle_timeout(idle))
    }

    /// Sends one request with a session of `slot`, logging in again when the session has
    /// expired (also in the middle of a paginated read or a bulk write).
    pub async fn send(
        self: &Arc<Self>,
        slot: usize,
        req: Request,
    ) -> Result<Response, ConnectorError> {
        let key = self.key(slot);
        let me = self.clone();
        let login = move || {
            let me = me.clone();
            async move { me.login().await }.boxed()
        };
        let apply = |s: &SlSession, r: &mut Request| {
            let v = HeaderValue::from_str(s.cookie_header()).map_err(|_| {
                ConnectorError::invalid_response("session cookie is not a valid header")
            })?;
            r.headers.insert(http::header::COOKIE, v);
            Ok(())
        };
        let mut last = None;
        for _ in 0..MAX_RELOGINS {
            match self
                .engine
                .send_with_session(
                    req.clone(),
                    &SlClassifier { login: false },
                    &self.pool,
                    &key,
                    &login,
                    apply,
                )
                .await
            {
                Err(e) if e.code == ErrorCode::SessionExpired => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| {
            ConnectorError::new(ErrorCode::SessionExpired, "session kept expiring")
        }))
    }

    /// A GET with the given Prefer page size.
    pub async fn get(
        self: &Arc<Self>,
        slot: usize,
        operation: &'static str,
        url: Url,
        page: Option<u32>,
    ) -> Result<Response, ConnectorError> {
        let mut req = Request::new(&self.ctx, operation, Method::GET, url);
        if let Some(n) = page {
            req = req.header(
                HeaderName::from_static("prefer"),
                &format!("odata.maxpagesize={n}"),
            )?;
        }
        self.send(slot, req).await
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
