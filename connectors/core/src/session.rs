//! A pool of ERP login sessions keyed by (tenant, company database or entity).
//!
//! Sessions are obtained on demand through a connector-supplied login function; concurrent
//! callers of one key wait for a single login (single flight). A session is considered
//! stale shortly before its idle timeout or absolute expiry (judged by a [`Clock`], so
//! tests move time instead of sleeping) and is then replaced by a fresh login before use.
//! A `session_expired` answer invalidates exactly the session generation that got it, so
//! ten requests failing together cause one new login, not ten.

use crate::clock::SharedClock;
use crate::error::ConnectorError;
use chrono::{DateTime, Utc};
use domain::TenantId;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which session: one per tenant and scope (`company_db:SBODEMOUS`, `entity:WEST`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub tenant: TenantId,
    pub scope: String,
}

impl SessionKey {
    pub fn new(tenant: TenantId, scope: impl Into<String>) -> Self {
        Self {
            tenant,
            scope: scope.into(),
        }
    }
}

/// What a login produced. `value` is the connector's own session type (a cookie, a session
/// id and endpoint); it should wrap secrets in `SecretString`.
#[derive(Clone)]
pub struct Session<S> {
    pub value: S,
    /// The ERP ends the session after this much inactivity (SAP B1 SessionTimeout).
    pub idle_timeout: Option<Duration>,
    /// The ERP ends the session at this time regardless (Intacct sessiontimeout).
    pub expires_at: Option<DateTime<Utc>>,
}

impl<S> Session<S> {
    pub fn new(value: S) -> Self {
        Self {
            value,
            idle_timeout: None,
            expires_at: None,
        }
    }

    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }

    pub fn expires_at(mut self, t: DateTime<Utc>) -> Self {
        self.expires_at = Some(t);
        self
    }
}

/// A session handed to a caller, with the generation used to touch or invalidate it.
#[derive(Clone)]
pub struct SessionLease<S> {
    pub value: S,
    pub generation: u64,
}

impl<S> fmt::Debug for SessionLease<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionLease(generation {})", self.generation)
    }
}

struct Entry<S> {
    session: Session<S>,
    generation: u64,
    last_used: DateTime<Utc>,
}

type Cell<S> = Arc<tokio::sync::Mutex<Option<Entry<S>>>>;

/// The pool. One per connector (or per process); cheap to share behind an `Arc`.
pub struct SessionPool<S> {
    clock: SharedClock,
    /// Refresh this long before the idle timeout or expiry, so a request never starts on
    /// a session about to die.
    margin: Duration,
    cells: Mutex<HashMap<SessionKey, Cell<S>>>,
    generations: AtomicU64,
    logins: AtomicU64,
}

impl<S: Clone + Send + Sync + 'static> SessionPool<S> {
    pub fn new(clock: SharedClock) -> Self {
        Self::with_margin(clock, Duration::from_secs(60))
    }

    pub fn with_margin(clock: SharedClock, margin: Duration) -> Self {
        Self {
            clock,
            margin,
            cells: Mutex::new(HashMap::new()),
            generations: AtomicU64::new(0),
            logins: AtomicU64::new(0),
        }
    }

    /// How many logins this pool performed (for tests and metrics).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::SeqCst)
    }

    fn cell(&self, key: &SessionKey) -> Cell<S> {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.entry(key.clone()).or_default().clone()
    }

    fn fresh(&self, e: &Entry<S>, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(self.margin).unwrap_or_default();
        if let Some(idle) = e.session.idle_timeout {
            let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
            // A margin larger than the timeout itself would refresh on every call, so it
            // is capped at half the timeout.
            let m = margin.min(idle / 2);
            if now >= e.last_used + idle - m {
                return false;
            }
        }
        if let Some(exp) = e.session.expires_at {
            if now >= exp - margin {
                return false;
            }
        }
        true
    }

    /// A usable session for `key`, logging in when there is none or it is about to expire.
    pub async fn get<L>(
        &self,
        key: &SessionKey,
        login: &L,
    ) -> Result<SessionLease<S>, ConnectorError>
    where
        L: Fn() -> BoxFuture<'static, Result<Session<S>, ConnectorError>> + Send + Sync + ?Sized,
    {
        let cell = self.cell(key);
        // Holding the cell's lock across the login is what makes it single flight: the
        // other callers for this key wait here and then find the new session.
        let mut guard = cell.lock().await;
        let now = self.clock.now();
        if let Some(e) = guard.as_ref() {
            if self.fresh(e, now) {
                return Ok(SessionLease {
                    value: e.session.value.clone(),
                    generation: e.generation,
                });
            }
        }
        *guard = None;
        self.logins.fetch_add(1, Ordering::SeqCst);
        let session = login().await?;
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        let lease = SessionLease {
            value: session.value.clone(),
            generation,
        };
        *guard = Some(Entry {
            session,
            generation,
            last_used: self.clock.now(),
        });
        Ok(lease)
    }

    /// Records use of a session: its idle clock restarts. Optionally moves its absolute
    /// expiry (Intacct reports a new sessiontimeout on every response).
    pub async fn touch(&self, key: &SessionKey, generation: u64) {
        self.touch_with_expiry(key, generation, None).await
    }

    pub async fn touch_with_expiry(
        &self,
        key: &SessionKey,
        generation: u64,
        expires_at: Option<DateTime<Utc>>,
    ) {
        let cell = self.cell(key);
        let mut guard = cell.lock().await;
        if let Some(e) = guard.as_mut().filter(|e| e.generation == generation) {
            e.last_used = self.clock.now();
            if expires_at.is_some() {
                e.session.expires_at = expires_at;
            }
        }
    }

    /// Drops the session of that generation (the ERP said it expired). A newer session
    /// obtained meanwhile by another caller is kept.
    pub async fn invalidate(&self, key: &SessionKey, generation: u64) {
        let cell = self.cell(key);
        let mut guard = cell.lock().await;
        if guard.as_ref().is_some_and(|e| e.generation == generation) {
            *guard = None;
        }
    }

    /// Drops every session of a tenant (credentials changed or revoked).
    pub fn forget_tenant(&self, tenant: &TenantId) {
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.retain(|k, _| &k.tenant != tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, TestClock};
    use domain::ErrorCode;
    use futures::FutureExt;
    use std::sync::atomic::AtomicU32;

    fn key() -> SessionKey {
        SessionKey::new(TenantId("t1".into()), "company_db:DEMO")
    }

    fn counting_login(
        n: Arc<AtomicU32>,
        idle: Duration,
    ) -> impl Fn() -> BoxFuture<'static, Result<Session<String>, ConnectorError>> + Send + Sync
    {
        move || {
            let n = n.clone();
            async move {
                // Yield so concurrent callers really overlap with the login.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let i = n.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Session::new(format!("session-{i}")).idle_timeout(idle))
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_login() {
        let clock = TestClock::new();
        let pool = Arc::new(SessionPool::<String>::new(clock.shared()));
        let n = Arc::new(AtomicU32::new(0));
        let login = Arc::new(counting_login(n.clone(), Duration::from_secs(1800)));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (pool, login) = (pool.clone(), login.clone());
            tasks.push(tokio::spawn(async move {
                pool.get(&key(), &*login).await.unwrap().value
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "session-1");
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_before_idle_timeout_and_touch_extends() {
        let clock = TestClock::new();
        let pool = SessionPool::<String>::with_margin(clock.shared(), Duration::from_secs(60));
        let n = Arc::new(AtomicU32::new(0));
        let login = counting_login(n.clone(), Duration::from_secs(30 * 60));
        let l = pool.get(&key(), &login).await.unwrap();
        clock.advance(Duration::from_secs(20 * 60));
        pool.touch(&key(), l.generation).await;
        clock.advance(Duration::from_secs(20 * 60));
        // 40 minutes since login but only 20 idle: still the same session.
        assert_eq!(pool.get(&key(), &login).await.unwrap().value, "session-1");
        // 29.5 minutes idle is inside the refresh margin: a new login happens first.
        clock.advance(Duration::from_secs(29 * 60 + 30));
        assert_eq!(pool.get(&key(), &login).await.unwrap().value, "session-2");
    }

    #[tokio::test]
    async fn invalidate_only_drops_the_failed_generation() {
        let clock = TestClock::new();
        let pool = SessionPool::<String>::new(clock.shared());
        let n = Arc::new(AtomicU32::new(0));
        let login = counting_login(n.clone(), Duration::from_secs(1800));
        let old = pool.get(&key(), &login).await.unwrap();
        pool.invalidate(&key(), old.generation).await;
        let new = pool.get(&key(), &login).await.unwrap();
        assert_eq!(new.value, "session-2");
        // A late failure report about the old session must not kill the new one.
        pool.invalidate(&key(), old.generation).await;
        assert_eq!(pool.get(&key(), &login).await.unwrap().value, "session-2");
        assert_eq!(pool.logins(), 2);
    }

    #[tokio::test]
    async fn failed_login_is_reported_and_retried_next_time() {
        let clock = TestClock::new();
        let pool = SessionPool::<String>::new(clock.shared());
        let fail =
            || async { Err(ConnectorError::new(ErrorCode::AuthRevoked, "bad password")) }.boxed();
        let e = pool.get(&key(), &fail).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthRevoked);
        let ok = || async { Ok(Session::new("s".to_string())) }.boxed();
        assert_eq!(pool.get(&key(), &ok).await.unwrap().value, "s");
    }

    #[tokio::test]
    async fn absolute_expiry_forces_relogin() {
        let clock = TestClock::new();
        let pool = SessionPool::<String>::with_margin(clock.shared(), Duration::from_secs(30));
        let n = Arc::new(AtomicU32::new(0));
        let c2 = clock.clone();
        let login = move || {
            let n = n.clone();
            let exp = c2.now() + chrono::Duration::minutes(10);
            async move {
                let i = n.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Session::new(format!("s{i}")).expires_at(exp))
            }
            .boxed()
        };
        assert_eq!(pool.get(&key(), &login).await.unwrap().value, "s1");
        clock.advance(Duration::from_secs(9 * 60));
        assert_eq!(pool.get(&key(), &login).await.unwrap().value, "s1");
        clock.advance(Duration::from_secs(45));
        assert_eq!(pool.get(&key(), &login).await.unwrap().value, "s2");
    }
}
