//! The account governor: how many requests may be in flight against one ERP account and
//! how fast they may start. Every engine request holds a [`Permit`] while on the wire.
//!
//! The limit belongs to the ERP account, not to us (other integrations share it), so the
//! pool adapts: a concurrency rejection shrinks it by one (never below one) and a run of
//! successes grows it back by one (never above the configured ceiling). The in-process
//! backend here serves one node; the `leases` crate provides a PostgreSQL backend with the
//! same trait for several nodes.

use crate::error::ConnectorError;
use async_trait::async_trait;
use domain::ErpKind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The ERP account whose limits a request counts against (a NetSuite account id, an SAP
/// company database, an Intacct company).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountKey {
    pub erp: ErpKind,
    pub account: String,
}

impl AccountKey {
    pub fn new(erp: ErpKind, account: impl Into<String>) -> Self {
        Self {
            erp,
            account: account.into(),
        }
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.erp, self.account)
    }
}

/// How the request-rate budget of an account is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum RateMode {
    /// No rate budget (NetSuite: concurrency is the only governance).
    Unlimited,
    /// A known tier: a token bucket of `burst` tokens refilled at `per_second`.
    Fixed { per_second: f64, burst: u32 },
    /// The tier is unknown: run unlimited until the ERP answers 429, then hold the rate
    /// just below what was achieved, lower it on further 429s and probe upwards slowly.
    Learn,
}

/// The limits of one account, supplied by the connector on each acquire (they come from
/// connection settings, so they may change; the governor follows).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AccountLimits {
    /// The ceiling of concurrent requests.
    pub max_concurrency: u32,
    /// Consecutive successes after which a shrunken pool grows by one slot.
    pub grow_after: u32,
    pub rate: RateMode,
}

impl AccountLimits {
    pub const fn concurrency(max_concurrency: u32) -> Self {
        Self {
            max_concurrency,
            grow_after: 20,
            rate: RateMode::Unlimited,
        }
    }

    pub const fn with_rate(mut self, rate: RateMode) -> Self {
        self.rate = rate;
        self
    }
}

impl Default for AccountLimits {
    fn default() -> Self {
        Self::concurrency(5)
    }
}

/// How a governed request ended; it steers the adaptive limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Success,
    /// The ERP rejected the request for its concurrency limit.
    ConcurrencyLimited,
    /// The ERP rejected the request for its rate limit.
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// Any other failure: says nothing about limits.
    Neutral,
}

/// What the governor knows about an account right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountSnapshot {
    pub ceiling: u32,
    /// The current (possibly shrunken) concurrency limit.
    pub limit: u32,
    pub in_flight: u32,
    pub queued: u32,
    /// The current rate budget in requests per second, when one applies.
    pub rate_per_second: Option<f64>,
}

/// The behaviour a permit's backend provides; implemented by each governor backend.
pub trait PermitRelease: Send + Sync {
    fn release(self: Box<Self>, outcome: Outcome);
}

/// The right to have one request in flight. Release it with [`Permit::finish`]; dropping
/// it (a cancelled future, a panic) releases it as a neutral outcome, so a slot is never
/// lost.
pub struct Permit {
    inner: Option<Box<dyn PermitRelease>>,
}

impl Permit {
    pub fn new(inner: Box<dyn PermitRelease>) -> Self {
        Self { inner: Some(inner) }
    }

    pub fn finish(mut self, outcome: Outcome) {
        if let Some(inner) = self.inner.take() {
            inner.release(outcome);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.release(Outcome::Neutral);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

/// A governor backend.
#[async_trait]
pub trait Governor: Send + Sync + 'static {
    /// Waits (FIFO per account, cancellation safe) for a slot and, when a rate budget
    /// applies, a token. One account's queue never delays another account.
    async fn acquire(
        &self,
        account: &AccountKey,
        limits: &AccountLimits,
    ) -> Result<Permit, ConnectorError>;

    fn snapshot(&self, account: &AccountKey) -> Option<AccountSnapshot>;
}

// ---------------------------------------------------------------------------------------
// Adaptive slot pool (shared with the leases backend)
// ---------------------------------------------------------------------------------------

/// A FIFO pool of slots whose size can shrink while slots are held. Shrinking takes free
/// permits away; when none is free it records a debt that the next released permits pay
/// by being forgotten instead of returned. That keeps "permits in circulation == limit"
/// at all times without waiting.
pub struct SlotPool {
    sem: Arc<Semaphore>,
    state: Mutex<PoolState>,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
}

#[derive(Debug)]
struct PoolState {
    /// The size the pool is moving towards (what new permits are issued against).
    limit: u32,
    /// Permits to forget when released, because the limit dropped while they were held.
    debt: u32,
}

impl SlotPool {
    pub fn new(limit: u32) -> Self {
        Self {
            sem: Arc::new(Semaphore::new(limit as usize)),
            state: Mutex::new(PoolState { limit, debt: 0 }),
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub fn limit(&self) -> u32 {
        self.lock().limit
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst) as u32
    }

    pub fn queued(&self) -> u32 {
        self.queued.load(Ordering::SeqCst) as u32
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the limit to `target`, taking effect immediately for new acquisitions.
    pub fn set_limit(&self, target: u32) {
        let mut st = self.lock();
        while st.limit < target {
            st.limit += 1;
            if st.debt > 0 {
                st.debt -= 1;
            } else {
                self.sem.add_permits(1);
            }
        }
        while st.limit > target {
            st.limit -= 1;
            if self.sem.forget_permits(1) == 0 {
                st.debt += 1;
            }
        }
    }

    /// Waits for a slot in FIFO order. Dropping the future leaves the queue cleanly.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        self.queued.fetch_add(1, Ordering::SeqCst);
        struct Dequeue<'a>(&'a AtomicUsize);
        impl Drop for Dequeue<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let guard = Dequeue(&self.queued);
        // The semaphore is never closed, so acquire cannot fail.
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .expect("slot semaphore is never closed");
        drop(guard);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Slot {
            pool: self.clone(),
            permit: Some(permit),
        }
    }

    /// Takes a slot if one is free now.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.sem.clone().try_acquire_owned().ok()?;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Some(Slot {
            pool: self.clone(),
            permit: Some(permit),
        })
    }
}

/// A held slot of a [`SlotPool`]; returned (or forgotten, to pay a debt) on drop.
pub struct Slot {
    pool: Arc<SlotPool>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let mut st = self.pool.lock();
            self.pool.in_flight.fetch_sub(1, Ordering::SeqCst);
            if st.debt > 0 {
                st.debt -= 1;
                permit.forget();
            } else {
                drop(permit);
            }
        }
    }
}

/// The shrink/grow rule, kept apart from the pool so both backends share it.
#[derive(Debug, Clone)]
pub struct Adaptive {
    pub ceiling: u32,
    pub current: u32,
    streak: u32,
}

impl Adaptive {
    pub fn new(ceiling: u32) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            ceiling,
            current: ceiling,
            streak: 0,
        }
    }

    /// Applies an outcome; returns the new limit.
    pub fn observe(&mut self, outcome: Outcome, grow_after: u32) -> u32 {
        match outcome {
            Outcome::ConcurrencyLimited => {
                self.current = self.current.saturating_sub(1).max(1);
                self.streak = 0;
            }
            Outcome::Success => {
                self.streak += 1;
                if self.streak >= grow_after.max(1) && self.current < self.ceiling {
                    self.current += 1;
                    self.streak = 0;
                }
            }
            Outcome::RateLimited { .. } | Outcome::Neutral => {}
        }
        self.current
    }

    /// Follows a changed configured ceiling. An unshrunken pool moves with the ceiling;
    /// a shrunken one stays where it is (capped) and grows back through successes.
    pub fn set_ceiling(&mut self, ceiling: u32) -> u32 {
        let ceiling = ceiling.max(1);
        if self.current == self.ceiling {
            self.current = ceiling;
        }
        self.ceiling = ceiling;
        self.current = self.current.min(ceiling);
        self.current
    }
}

// ---------------------------------------------------------------------------------------
// Token bucket
// ---------------------------------------------------------------------------------------

/// A change the learning rule made to an account's rate, to be shared with the other
/// processes that hold the same account (see [`Bucket::take_learned`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Learned {
    /// A 429 lowered the account's rate to this value. Lowerings win over raises, so a
    /// store should keep the lowest of concurrent lowerings.
    Lowered(f64),
    /// A run of successes probed the rate up from `from` to `to`. A store should apply it
    /// only if the stored rate is still `from`, so a concurrent lowering is not undone.
    Raised { from: f64, to: f64 },
}

/// A token bucket with an optional "blocked until" (from Retry-After) and the learning
/// rule for unknown tiers. Waiters queue FIFO on the async mutex around it.
///
/// The rate and burst are the whole account's. A bucket may hold only a `share` of them
/// (a fraction in 0..=1, default 1): several processes holding one account each take a
/// share so that together they stay within the account's budget. The local burst is the
/// account's burst times the share, rounded down but never below one token (a share of
/// zero issues nothing).
#[derive(Debug)]
pub struct Bucket {
    mode: RateMode,
    /// The account-wide rate. None: unlimited (also Learn mode before the first 429).
    rate: Option<f64>,
    /// The account-wide burst.
    burst: f64,
    /// The fraction of the account's rate and burst this bucket may use.
    share: f64,
    tokens: f64,
    refilled: Instant,
    blocked_until: Option<Instant>,
    /// Start times in the last second, to estimate the achieved rate in Learn mode.
    recent: std::collections::VecDeque<Instant>,
    successes: u32,
    /// The learned rate when last reported or adopted, and whether a 429 lowered it since.
    reported: Option<f64>,
    lowered: bool,
}

/// The longest a waiter sleeps before looking at the bucket again, so a share that grows
/// while it sleeps (set by another task) is noticed promptly.
const MAX_BUCKET_WAIT: Duration = Duration::from_millis(100);

impl Bucket {
    pub fn new(mode: RateMode) -> Self {
        let (rate, burst) = match mode {
            RateMode::Fixed { per_second, burst } => {
                (Some(per_second.max(0.001)), burst.max(1) as f64)
            }
            _ => (None, 1.0),
        };
        Self {
            mode,
            rate,
            burst,
            share: 1.0,
            tokens: burst,
            refilled: Instant::now(),
            blocked_until: None,
            recent: Default::default(),
            successes: 0,
            reported: None,
            lowered: false,
        }
    }

    /// The mode this bucket was built for.
    pub fn mode(&self) -> RateMode {
        self.mode
    }

    /// The account-wide rate (configured or learned), None while unlimited.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// The fraction of the account's budget this bucket holds.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// The rate this bucket issues tokens at: the account's rate times the share.
    pub fn local_rate(&self) -> Option<f64> {
        self.rate.map(|r| r * self.share)
    }

    /// The local bucket depth: the account's burst times the share, rounded down, at
    /// least one token unless the share is zero.
    pub fn local_burst(&self) -> f64 {
        if self.share <= 0.0 {
            0.0
        } else {
            (self.burst * self.share + 1e-9).floor().max(1.0)
        }
    }

    /// Sets the fraction of the account's budget this bucket may use (clamped to 0..=1).
    /// Tokens earned at the old share are kept up to the new depth; a smaller share takes
    /// effect at once.
    pub fn set_share(&mut self, share: f64) {
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.refill(Instant::now());
        self.share = share;
        self.tokens = self.tokens.min(self.local_burst());
    }

    /// Adopts an account-wide learned rate from elsewhere (another process's learning,
    /// kept in a shared store). Only meaningful in Learn mode; ignored otherwise.
    pub fn adopt_rate(&mut self, rate: Option<f64>) {
        if !matches!(self.mode, RateMode::Learn) {
            return;
        }
        if self.lowered {
            // A 429 lowered the rate after the shared store was read: the store's value is
            // older news. Keep ours until the next renewal reports it.
            return;
        }
        let rate = rate.filter(|r| r.is_finite() && *r > 0.0);
        if rate == self.rate {
            self.reported = rate;
            return;
        }
        self.refill(Instant::now());
        self.rate = rate;
        self.burst = rate.map_or(1.0, |r| r.ceil().max(1.0));
        self.tokens = self.tokens.min(self.local_burst());
        self.reported = rate;
        self.lowered = false;
        self.successes = 0;
    }

    /// Whether a 429 lowered the learned rate since it was last reported: worth sharing
    /// with the other holders at once rather than at the next periodic renewal.
    pub fn lowered_pending(&self) -> bool {
        self.lowered
    }

    /// What the learning rule changed since the last call (or the last adoption), for a
    /// shared store. None when nothing changed or the mode is not Learn.
    pub fn take_learned(&mut self) -> Option<Learned> {
        if !matches!(self.mode, RateMode::Learn) {
            return None;
        }
        let out = match (self.rate, self.reported) {
            (Some(r), _) if self.lowered => Some(Learned::Lowered(r)),
            (Some(to), Some(from)) if to != from => Some(Learned::Raised { from, to }),
            (Some(r), None) => Some(Learned::Lowered(r)),
            _ => None,
        };
        self.reported = self.rate;
        self.lowered = false;
        out
    }

    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.local_rate() {
            let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
            self.tokens = (self.tokens + dt * rate).min(self.local_burst());
        }
        self.refilled = now;
    }

    /// Takes a token if one is available now (None), or says how long to wait before
    /// asking again. Waits are capped at 100 ms so a share that changes meanwhile is seen.
    /// Callers that want FIFO order serialise on a lock of their own around this.
    pub fn poll_take(&mut self) -> Option<Duration> {
        self.try_take(Instant::now())
    }

    /// How long to wait before a token is available, taking it when zero.
    fn try_take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Some(until - now);
            }
            self.blocked_until = None;
        }
        self.refill(now);
        match self.local_rate() {
            None => {
                if matches!(self.mode, RateMode::Learn) {
                    self.recent.push_back(now);
                    while self
                        .recent
                        .front()
                        .is_some_and(|t| now.saturating_duration_since(*t) > Duration::from_secs(1))
                    {
                        self.recent.pop_front();
                    }
                }
                None
            }
            // A zero share issues nothing until the share grows.
            Some(rate) if rate <= 0.0 => Some(MAX_BUCKET_WAIT),
            Some(rate) => {
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    None
                } else {
                    Some(Duration::from_secs_f64((1.0 - self.tokens) / rate).min(MAX_BUCKET_WAIT))
                }
            }
        }
    }

    /// Waits for a token. Call with the bucket's async mutex held so waiters stay FIFO.
    pub async fn take(&mut self) {
        loop {
            match self.try_take(Instant::now()) {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    pub fn observe(&mut self, outcome: Outcome) {
        let now = Instant::now();
        match outcome {
            Outcome::RateLimited { retry_after } => {
                if let Some(d) = retry_after {
                    let until = now + d;
                    self.blocked_until = Some(self.blocked_until.map_or(until, |u| u.max(until)));
                }
                if matches!(self.mode, RateMode::Learn) {
                    let new_rate = match self.rate {
                        None => {
                            // What this bucket achieved is its share of what the account
                            // saw, so scale it up to an account-wide estimate.
                            let achieved = self.recent.len() as f64;
                            let account = if self.share > 0.0 {
                                achieved / self.share
                            } else {
                                achieved
                            };
                            (account * 0.9).max(0.5)
                        }
                        Some(r) => (r * 0.7).max(0.1),
                    };
                    self.rate = Some(new_rate);
                    self.burst = new_rate.ceil().max(1.0);
                    self.tokens = self.tokens.min(self.local_burst()).min(0.0);
                    self.refilled = now;
                    self.successes = 0;
                    self.lowered = true;
                }
            }
            Outcome::Success => {
                if matches!(self.mode, RateMode::Learn) {
                    if let Some(r) = self.rate {
                        // Probe upwards slowly: +5% after about ten seconds of successes
                        // at this bucket's own rate.
                        self.successes += 1;
                        if self.successes as f64 >= (r * self.share * 10.0).max(10.0) {
                            self.rate = Some(r * 1.05);
                            self.burst = (r * 1.05).ceil().max(1.0);
                            self.successes = 0;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// In-process backend
// ---------------------------------------------------------------------------------------

struct AccountState {
    pool: Arc<SlotPool>,
    adaptive: Mutex<Adaptive>,
    grow_after: std::sync::atomic::AtomicU32,
    bucket: tokio::sync::Mutex<Bucket>,
    rate_mode: Mutex<RateMode>,
}

/// The governor for a single process.
#[derive(Default)]
pub struct InProcessGovernor {
    accounts: Mutex<HashMap<AccountKey, Arc<AccountState>>>,
}

impl InProcessGovernor {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self, account: &AccountKey, limits: &AccountLimits) -> Arc<AccountState> {
        let mut map = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let st = map
            .entry(account.clone())
            .or_insert_with(|| {
                Arc::new(AccountState {
                    pool: Arc::new(SlotPool::new(limits.max_concurrency.max(1))),
                    adaptive: Mutex::new(Adaptive::new(limits.max_concurrency)),
                    grow_after: limits.grow_after.into(),
                    bucket: tokio::sync::Mutex::new(Bucket::new(limits.rate)),
                    rate_mode: Mutex::new(limits.rate),
                })
            })
            .clone();
        drop(map);
        // Follow configuration changes without resetting learned state needlessly.
        {
            let mut a = st.adaptive.lock().unwrap_or_else(|p| p.into_inner());
            if a.ceiling != limits.max_concurrency.max(1) {
                let limit = a.set_ceiling(limits.max_concurrency);
                st.pool.set_limit(limit);
            }
        }
        st.grow_after.store(limits.grow_after, Ordering::Relaxed);
        {
            let mut mode = st.rate_mode.lock().unwrap_or_else(|p| p.into_inner());
            if *mode != limits.rate {
                *mode = limits.rate;
                if let Ok(mut b) = st.bucket.try_lock() {
                    *b = Bucket::new(limits.rate);
                }
            }
        }
        st
    }
}

struct InProcessPermit {
    state: Arc<AccountState>,
    slot: Option<Slot>,
}

impl PermitRelease for InProcessPermit {
    fn release(mut self: Box<Self>, outcome: Outcome) {
        {
            let mut a = self
                .state
                .adaptive
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let before = a.current;
            let after = a.observe(outcome, self.state.grow_after.load(Ordering::Relaxed));
            if after != before {
                self.state.pool.set_limit(after);
            }
        }
        if matches!(outcome, Outcome::RateLimited { .. } | Outcome::Success) {
            // A busy bucket (someone waiting on it) misses this observation; only the
            // learning rule uses successes and a 429 will be seen again if it persists.
            if let Ok(mut b) = self.state.bucket.try_lock() {
                b.observe(outcome);
            } else if matches!(outcome, Outcome::RateLimited { .. }) {
                let state = self.state.clone();
                tokio::spawn(async move { state.bucket.lock().await.observe(outcome) });
            }
        }
        // Returning the slot last means the limit change above applies to it.
        self.slot.take();
    }
}

#[async_trait]
impl Governor for InProcessGovernor {
    async fn acquire(
        &self,
        account: &AccountKey,
        limits: &AccountLimits,
    ) -> Result<Permit, ConnectorError> {
        let state = self.state(account, limits);
        let slot = state.pool.acquire().await;
        if !matches!(limits.rate, RateMode::Unlimited) {
            state.bucket.lock().await.take().await;
        }
        Ok(Permit::new(Box::new(InProcessPermit {
            state,
            slot: Some(slot),
        })))
    }

    fn snapshot(&self, account: &AccountKey) -> Option<AccountSnapshot> {
        let map = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let st = map.get(account)?;
        let a = st.adaptive.lock().unwrap_or_else(|p| p.into_inner());
        Some(AccountSnapshot {
            ceiling: a.ceiling,
            limit: st.pool.limit(),
            in_flight: st.pool.in_flight(),
            queued: st.pool.queued(),
            rate_per_second: st.bucket.try_lock().ok().and_then(|b| b.rate()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> AccountKey {
        AccountKey::new(ErpKind::Netsuite, n)
    }

    #[tokio::test]
    async fn shrinks_on_concurrency_error_and_grows_back() {
        let g = InProcessGovernor::new();
        let limits = AccountLimits {
            max_concurrency: 3,
            grow_after: 2,
            rate: RateMode::Unlimited,
        };
        let k = key("a");
        for _ in 0..5 {
            g.acquire(&k, &limits)
                .await
                .unwrap()
                .finish(Outcome::ConcurrencyLimited);
        }
        assert_eq!(g.snapshot(&k).unwrap().limit, 1, "floor of one");
        // With a limit of one a second permit must not be available.
        let p = g.acquire(&k, &limits).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(20), g.acquire(&k, &limits)).await;
        assert!(second.is_err());
        p.finish(Outcome::Success);
        for _ in 0..10 {
            g.acquire(&k, &limits)
                .await
                .unwrap()
                .finish(Outcome::Success);
        }
        assert_eq!(
            g.snapshot(&k).unwrap().limit,
            3,
            "back to the ceiling, not above"
        );
    }

    #[tokio::test]
    async fn shrink_while_all_slots_are_held_takes_effect_on_release() {
        let g = InProcessGovernor::new();
        let limits = AccountLimits::concurrency(2);
        let k = key("b");
        let p1 = g.acquire(&k, &limits).await.unwrap();
        let p2 = g.acquire(&k, &limits).await.unwrap();
        p1.finish(Outcome::ConcurrencyLimited);
        // The released slot paid the debt, so nothing is free while p2 is held.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), g.acquire(&k, &limits))
                .await
                .is_err()
        );
        p2.finish(Outcome::Neutral);
        let s = g.snapshot(&k).unwrap();
        assert_eq!((s.limit, s.in_flight), (1, 0));
        let _p = g.acquire(&k, &limits).await.unwrap();
    }

    #[tokio::test]
    async fn dropped_permit_and_cancelled_waiter_release_cleanly() {
        let g = Arc::new(InProcessGovernor::new());
        let limits = AccountLimits::concurrency(1);
        let k = key("c");
        let held = g.acquire(&k, &limits).await.unwrap();
        let waiter = {
            let (g, k) = (g.clone(), k.clone());
            tokio::spawn(async move { g.acquire(&k, &limits).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(g.snapshot(&k).unwrap().queued, 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(g.snapshot(&k).unwrap().queued, 0);
        drop(held);
        let s = g.snapshot(&k).unwrap();
        assert_eq!((s.in_flight, s.limit), (0, 1));
        let _again = g.acquire(&k, &limits).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_paces_starts() {
        let g = InProcessGovernor::new();
        let limits = AccountLimits::concurrency(100).with_rate(RateMode::Fixed {
            per_second: 10.0,
            burst: 2,
        });
        let k = key("d");
        let t0 = Instant::now();
        for _ in 0..12 {
            g.acquire(&k, &limits)
                .await
                .unwrap()
                .finish(Outcome::Success);
        }
        // Two from the burst, then ten at 10/s: about one second.
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(990) && took <= Duration::from_millis(1100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_share_scales_rate_and_burst() {
        let mut b = Bucket::new(RateMode::Fixed {
            per_second: 20.0,
            burst: 5,
        });
        b.set_share(1.0 / 3.0);
        assert_eq!(b.local_burst(), 1.0, "5 / 3 rounds down to one token");
        let t0 = Instant::now();
        for _ in 0..11 {
            b.take().await;
        }
        // One from the burst, then ten at 20/3 per second: 1.5 s.
        let took = t0.elapsed().as_secs_f64();
        assert!((1.45..=1.6).contains(&took), "{took}");
        // A zero share issues nothing, however long one waits.
        b.set_share(0.0);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(b.poll_take().is_some());
        b.set_share(1.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(b.local_burst(), 5.0);
        for _ in 0..5 {
            assert_eq!(
                b.poll_take(),
                None,
                "a full burst after the share came back"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowering_not_yet_reported_survives_an_older_stored_rate() {
        let mut b = Bucket::new(RateMode::Learn);
        for _ in 0..10 {
            b.take().await;
        }
        b.observe(Outcome::RateLimited { retry_after: None });
        // A renewal that read the store before the 429 comes back with "nothing learned".
        b.adopt_rate(None);
        assert_eq!(b.rate(), Some(9.0), "the 429's lesson was lost");
        assert_eq!(b.take_learned(), Some(Learned::Lowered(9.0)));
        // Once reported, the store's value is adopted again.
        b.adopt_rate(Some(7.0));
        assert_eq!(b.rate(), Some(7.0));
    }

    #[tokio::test(start_paused = true)]
    async fn learned_changes_are_reported_once() {
        let mut b = Bucket::new(RateMode::Learn);
        b.set_share(0.5);
        for _ in 0..10 {
            b.take().await;
        }
        assert_eq!(b.take_learned(), None);
        b.observe(Outcome::RateLimited { retry_after: None });
        assert!(b.lowered_pending());
        // Ten starts at half the account's traffic: about 20 for the account, times 0.9.
        assert_eq!(b.take_learned(), Some(Learned::Lowered(18.0)));
        assert_eq!(b.take_learned(), None);
        b.adopt_rate(Some(12.0));
        assert_eq!((b.rate(), b.local_rate()), (Some(12.0), Some(6.0)));
        assert_eq!(
            b.take_learned(),
            None,
            "an adopted rate is not reported back"
        );
        for _ in 0..60 {
            b.observe(Outcome::Success);
        }
        match b.take_learned() {
            Some(Learned::Raised { from, to }) => {
                assert_eq!(from, 12.0);
                assert!((to - 12.6).abs() < 1e-9, "{to}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_the_account_only() {
        let g = InProcessGovernor::new();
        let limits = AccountLimits::concurrency(5).with_rate(RateMode::Fixed {
            per_second: 1000.0,
            burst: 10,
        });
        let (a, b) = (key("e"), key("f"));
        g.acquire(&a, &limits)
            .await
            .unwrap()
            .finish(Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
            });
        let t0 = Instant::now();
        g.acquire(&b, &limits)
            .await
            .unwrap()
            .finish(Outcome::Success);
        assert!(t0.elapsed() < Duration::from_millis(10));
        g.acquire(&a, &limits)
            .await
            .unwrap()
            .finish(Outcome::Success);
        assert!(t0.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn learn_mode_sets_a_rate_after_a_429() {
        let g = InProcessGovernor::new();
        let limits = AccountLimits::concurrency(5).with_rate(RateMode::Learn);
        let k = key("g");
        for _ in 0..20 {
            g.acquire(&k, &limits)
                .await
                .unwrap()
                .finish(Outcome::Success);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(g.snapshot(&k).unwrap().rate_per_second, None);
        g.acquire(&k, &limits)
            .await
            .unwrap()
            .finish(Outcome::RateLimited { retry_after: None });
        let r = g
            .snapshot(&k)
            .unwrap()
            .rate_per_second
            .expect("learned a rate");
        // About 20 starts per second were achieved; the learned rate sits just below.
        assert!((15.0..=20.0).contains(&r), "{r}");
    }
}
