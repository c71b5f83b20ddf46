//! The one path every ERP request takes: governed by the account governor, sent with
//! timeouts, classified by the ERP's own classifier, retried with jittered exponential
//! backoff when that is safe, traced as a span and counted.
//!
//! ERP crates build a [`Request`], supply a [`Classifier`] (only they can read their error
//! bodies) and call [`Engine::send`], or [`Engine::send_with_session`] when the ERP works
//! with login sessions, which adds "session expired: log in again and retry once".

use crate::error::ConnectorError;
use crate::governor::{AccountKey, AccountLimits, Governor, InProcessGovernor, Outcome};
use crate::session::{Session, SessionKey, SessionPool};
use bytes::Bytes;
use domain::{ErpKind, ErrorClass, ErrorCode, TenantId};
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rand::Rng;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;
use url::Url;

/// When and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub max_attempts: u32,
    /// The first backoff; each further attempt doubles it (full jitter below the cap).
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A Retry-After longer than this is not waited out inside a request: the error goes
    /// back to the caller (the job scheduler), which can park the job instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`, given the ERP's Retry-After, or None when
    /// the Retry-After exceeds what we wait out in-line.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20))
            .min(self.max_delay);
        // Full jitter in [exp/2, exp] keeps retries of many workers from synchronising
        // while still growing the expected delay.
        let half = exp / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..=half)
        };
        let backoff = half + jitter;
        match retry_after {
            Some(ra) if ra > self.max_retry_after => None,
            Some(ra) => Some(ra.max(backoff)),
            None => Some(backoff),
        }
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub connect_timeout: Duration,
    /// Default whole-request timeout; a request may set its own.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// Let host names resolve to loopback, private and link-local addresses. Off by
    /// default: customer-supplied hosts are untrusted (see `netguard`). An operator turns
    /// it on for on-premises ERPs on a private network, or for local simulators.
    pub allow_private_networks: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            user_agent: concat!("switchyard/", env!("CARGO_PKG_VERSION")).to_string(),
            allow_private_networks: false,
        }
    }
}

/// Who a request is for: set once per connection, copied into each request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub tenant: TenantId,
    pub erp: ErpKind,
    pub account: AccountKey,
    pub limits: AccountLimits,
}

/// Adds authentication to each attempt (OAuth 1.0a signatures need a fresh nonce and
/// timestamp per attempt, so signing cannot happen once up front).
pub trait Signer: Send + Sync {
    fn sign(
        &self,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<(), ConnectorError>;
}

/// A request description. Build with [`Request::new`] and the builder methods.
#[derive(Clone)]
pub struct Request {
    pub ctx: RequestContext,
    /// A stable operation name for spans, metrics and error context (`suiteql`, `Login`).
    pub operation: Cow<'static, str>,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Safe to send twice. Defaults from the method (GET, HEAD, PUT, DELETE, OPTIONS).
    pub idempotent: bool,
    pub timeout: Option<Duration>,
    pub signer: Option<Arc<dyn Signer>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers and bodies may carry credentials, so they are never printed.
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("tenant", &self.ctx.tenant)
            .finish_non_exhaustive()
    }
}

impl Request {
    pub fn new(
        ctx: &RequestContext,
        operation: impl Into<Cow<'static, str>>,
        method: Method,
        url: Url,
    ) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Self {
            ctx: ctx.clone(),
            operation: operation.into(),
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            idempotent,
            timeout: None,
            signer: None,
        }
    }

    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Self, ConnectorError> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            ConnectorError::invalid_input(format!("header {name} has an invalid value"))
        })?;
        self.headers.insert(name, v);
        Ok(self)
    }

    pub fn body(mut self, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        self.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        self.body = body.into();
        self
    }

    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, ConnectorError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ConnectorError::new(ErrorCode::Internal, format!("json body: {e}")))?;
        Ok(self.body("application/json", body))
    }

    /// Marks a POST as safe to repeat (a query, a read-only RPC such as SuiteQL or
    /// readByQuery, or a write protected by an idempotency key).
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    pub fn signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(signer);
        self
    }
}

/// A complete ERP answer (body read fully, so the classifier can look at it).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Parses a JSON body; a body that does not parse is `invalid_response`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::invalid_response(format!("response body is not the expected JSON: {e}"))
                .with_http_status(self.status)
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Retry-After as seconds or an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        parse_retry_after(self.header("retry-after")?)
    }
}

/// Parses a Retry-After value: delta seconds or an IMF-fixdate.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// An ERP's verdict that a response is a failure.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub error: ConnectorError,
    /// The ERP guarantees the request did no work (a concurrency or rate rejection before
    /// processing), so even a non-idempotent request may be retried.
    pub did_no_work: bool,
}

impl Rejection {
    pub fn new(error: ConnectorError) -> Self {
        Self {
            error,
            did_no_work: false,
        }
    }

    pub fn no_work(error: ConnectorError) -> Self {
        Self {
            error,
            did_no_work: true,
        }
    }
}

impl From<ConnectorError> for Rejection {
    fn from(error: ConnectorError) -> Self {
        Self::new(error)
    }
}

/// Decides whether a response is a success. Supplied by each ERP crate.
pub trait Classifier: Send + Sync {
    fn classify(&self, request: &Request, response: &Response) -> Result<(), Rejection>;
}

impl<F> Classifier for F
where
    F: Fn(&Request, &Response) -> Result<(), Rejection> + Send + Sync,
{
    fn classify(&self, request: &Request, response: &Response) -> Result<(), Rejection> {
        self(request, response)
    }
}

/// A status-only classifier, a starting point for ERPs whose bodies add detail: 2xx ok,
/// 401 auth_revoked, 403 permission_denied, 404 not_found, 409 conflict, 400/422
/// validation_failed, 429 rate_limited (no work done), 5xx erp_unavailable.
pub fn classify_by_status(_request: &Request, response: &Response) -> Result<(), Rejection> {
    let s = response.status;
    let code = match s {
        200..=299 => return Ok(()),
        401 => ErrorCode::AuthRevoked,
        403 => ErrorCode::PermissionDenied,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        400 | 422 => ErrorCode::ValidationFailed,
        429 => {
            return Err(Rejection::no_work(
                ConnectorError::new(ErrorCode::RateLimited, "the ERP answered 429")
                    .with_http_status(s),
            ))
        }
        500..=599 => ErrorCode::ErpUnavailable,
        _ => ErrorCode::InvalidResponse,
    };
    Err(Rejection::new(
        ConnectorError::new(code, format!("the ERP answered HTTP {s}")).with_http_status(s),
    ))
}

/// One counter row of [`MetricsSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterRow {
    pub erp: ErpKind,
    /// `ok` or an error class (`retry`, `refresh_session`, `reauthenticate`, ...). A small
    /// fixed set, safe as a metrics label.
    pub outcome: &'static str,
    pub count: u64,
}

/// Attempt counters per (erp, outcome), for a metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MetricsSnapshot {
    pub counters: Vec<CounterRow>,
}

impl MetricsSnapshot {
    pub fn get(&self, erp: ErpKind, outcome: &str) -> u64 {
        self.counters
            .iter()
            .filter(|r| r.erp == erp && r.outcome == outcome)
            .map(|r| r.count)
            .sum()
    }
}

pub fn class_label(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Retry => "retry",
        ErrorClass::RefreshSession => "refresh_session",
        ErrorClass::Reauthenticate => "reauthenticate",
        ErrorClass::FailItem => "fail_item",
        ErrorClass::Track => "track",
        ErrorClass::Reject => "reject",
    }
}

struct Inner {
    http: reqwest::Client,
    governor: Arc<dyn Governor>,
    config: EngineConfig,
    counters: Mutex<BTreeMap<(ErpKind, &'static str), u64>>,
}

/// The shared request engine. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Engine {
    pub fn new(config: EngineConfig, governor: Arc<dyn Governor>) -> Result<Self, ConnectorError> {
        let mut builder = reqwest::Client::builder();
        if !config.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(crate::netguard::PublicOnlyResolver));
        }
        let http = builder
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            // Redirects are not followed: a base URL was validated, a Location header was not.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConnectorError::new(ErrorCode::Internal, format!("http client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                governor,
                config,
                counters: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// An engine with default settings and an in-process governor (tests, the CLI).
    pub fn in_process() -> Self {
        Self::new(EngineConfig::default(), Arc::new(InProcessGovernor::new()))
            .expect("default http client builds")
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub fn governor(&self) -> &Arc<dyn Governor> {
        &self.inner.governor
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        let c = self
            .inner
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        MetricsSnapshot {
            counters: c
                .iter()
                .map(|((erp, outcome), count)| CounterRow {
                    erp: *erp,
                    outcome,
                    count: *count,
                })
                .collect(),
        }
    }

    fn count(&self, erp: ErpKind, outcome: &'static str) {
        let mut c = self
            .inner
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *c.entry((erp, outcome)).or_default() += 1;
    }

    /// Sends a request: governed, classified, retried when safe. Returns the successful
    /// response or the last error (with operation and HTTP status in its context).
    pub async fn send(
        &self,
        request: Request,
        classifier: &dyn Classifier,
    ) -> Result<Response, ConnectorError> {
        let span = tracing::info_span!(
            "erp_request",
            tenant = %request.ctx.tenant,
            erp = %request.ctx.erp,
            account = %request.ctx.account.account,
            operation = %request.operation,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            error_class = tracing::field::Empty,
        );
        self.send_inner(request, classifier).instrument(span).await
    }

    async fn send_inner(
        &self,
        request: Request,
        classifier: &dyn Classifier,
    ) -> Result<Response, ConnectorError> {
        let policy = self.inner.config.retry;
        let span = tracing::Span::current();
        let mut attempt = 0;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let permit = self
                .inner
                .governor
                .acquire(&request.ctx.account, &request.ctx.limits)
                .await?;
            let (error, retryable) = match self.attempt(&request).await {
                Ok(response) => {
                    span.record("status", response.status);
                    match classifier.classify(&request, &response) {
                        Ok(()) => {
                            permit.finish(Outcome::Success);
                            self.count(request.ctx.erp, "ok");
                            tracing::debug!("erp request succeeded");
                            return Ok(response);
                        }
                        Err(rejection) => {
                            let mut error = rejection.error;
                            error.context.http_status.get_or_insert(response.status);
                            if error.retry_after.is_none() {
                                error.retry_after = response.retry_after();
                            }
                            permit.finish(match error.code {
                                ErrorCode::ConcurrencyLimited => Outcome::ConcurrencyLimited,
                                ErrorCode::RateLimited => Outcome::RateLimited {
                                    retry_after: error.retry_after,
                                },
                                _ => Outcome::Neutral,
                            });
                            let retryable = error.class() == ErrorClass::Retry
                                && (request.idempotent || rejection.did_no_work);
                            (error, retryable)
                        }
                    }
                }
                Err((error, never_sent)) => {
                    permit.finish(Outcome::Neutral);
                    // A request that never reached the ERP (connection refused, DNS) did
                    // no work, so even a write may be sent again.
                    let retryable = request.idempotent || never_sent;
                    (error, retryable)
                }
            };
            let error = error.with_operation(request.operation.clone());
            let class = error.class();
            span.record("error_class", class_label(class));
            self.count(request.ctx.erp, class_label(class));
            if !retryable || attempt >= policy.max_attempts {
                tracing::warn!(code = %error.code, "erp request failed");
                return Err(error);
            }
            let Some(delay) = policy.delay(attempt, error.retry_after) else {
                tracing::warn!(code = %error.code, "erp asked to wait longer than we wait in-line");
                return Err(error);
            };
            tracing::info!(code = %error.code, delay_ms = delay.as_millis() as u64, "retrying erp request");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt on the wire. The error side says whether the request surely never
    /// reached the ERP.
    async fn attempt(&self, request: &Request) -> Result<Response, (ConnectorError, bool)> {
        let mut headers = request.headers.clone();
        if let Some(signer) = &request.signer {
            signer
                .sign(&request.method, &request.url, &mut headers, &request.body)
                .map_err(|e| (e, true))?;
        }
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .headers(headers);
        if !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        if let Some(t) = request.timeout {
            builder = builder.timeout(t);
        }
        let transport = |e: reqwest::Error| {
            // A host that resolves only to internal addresses is the caller's error, not
            // the ERP's: never retried, named plainly.
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                if let Some(np) = s.downcast_ref::<crate::netguard::NonPublicHost>() {
                    return (ConnectorError::invalid_input(np.to_string()), false);
                }
                source = s.source();
            }
            let never_sent = e.is_connect();
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "transport error"
            };
            // reqwest errors may include the URL, which never carries secrets here
            // (credentials travel in headers and bodies), so its text is kept.
            (
                ConnectorError::unavailable(format!("{what}: {}", error_chain(&e))),
                never_sent,
            )
        };
        let resp = builder.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Sends a request that needs a login session. The pool logs in on demand (once for
    /// concurrent callers); `apply` puts the session into the request (a cookie, a
    /// sessionid element, a session-specific endpoint). When the ERP answers
    /// `session_expired` the session is dropped, a new one is obtained and the request is
    /// sent once more.
    pub async fn send_with_session<S, L, A>(
        &self,
        request: Request,
        classifier: &dyn Classifier,
        sessions: &SessionPool<S>,
        key: &SessionKey,
        login: L,
        apply: A,
    ) -> Result<Response, ConnectorError>
    where
        S: Clone + Send + Sync + 'static,
        L: Fn() -> BoxFuture<'static, Result<Session<S>, ConnectorError>> + Send + Sync,
        A: Fn(&S, &mut Request) -> Result<(), ConnectorError> + Send + Sync,
    {
        let mut relogged = false;
        loop {
            let lease = sessions.get(key, &login).await?;
            let mut req = request.clone();
            apply(&lease.value, &mut req)?;
            match self.send(req, classifier).await {
                Ok(resp) => {
                    sessions.touch(key, lease.generation).await;
                    return Ok(resp);
                }
                Err(e) if e.code == ErrorCode::SessionExpired && !relogged => {
                    tracing::info!(tenant = %key.tenant, scope = %key.scope, "session expired; logging in again");
                    sessions.invalidate(key, lease.generation).await;
                    relogged = true;
                }
                Err(e) => {
                    if e.context.http_status.is_some() && e.code != ErrorCode::SessionExpired {
                        // The ERP saw the request, so the session's idle clock restarted.
                        sessions.touch(key, lease.generation).await;
                    }
                    if e.code == ErrorCode::SessionExpired {
                        sessions.invalidate(key, lease.generation).await;
                    }
                    return Err(e);
                }
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}
