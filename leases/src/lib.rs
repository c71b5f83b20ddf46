//! PostgreSQL-backed account-slot leases for the connector governor.
//!
//! Several Switchyard processes share one ERP account's concurrency limit. Asking the
//! database for every request would add a round trip to each ERP call, so a process
//! instead leases a block of slots per account for a period (the TTL) and renews it in
//! the background; requests then take slots from a local FIFO pool sized to the lease.
//!
//! Invariants:
//! * The sum of live leases of an account never exceeds its limit: every change happens in
//!   a transaction holding the account row's lock, and only expired leases are ignored.
//! * A process never has more requests in flight than its lease: growing happens only after
//!   the database granted it; shrinking happens locally first, and the lease written is
//!   the local limit plus the slots still out that the shrink could not take back.
//! * A crashed holder's slots come back: leases expire `ttl` after their last renewal, and
//!   a holder whose renewals fail stops issuing slots before its lease can have expired.
//! * Shares are fair: the limit is divided by water-filling over what each live holder
//!   wants (in flight + queued), and a holder above its share gives slots back as its
//!   requests finish.
//!
//! Rate budgets ([`RateMode::Fixed`] and learned ones) are shared the same way, without a
//! round trip per request: each lease row also records the requests per second its holder
//! may start (`rate_share`), and every process paces its requests with a local token bucket
//! at that rate. At each renewal a holder takes `rate / active holders` (active: it wants
//! or holds slots), but never more than the rate minus what the other live rows record, so
//! the recorded shares never sum above the account's rate; a newcomer therefore starts at
//! a smaller share and grows as the others renew and give way (within about one renewal
//! period). A holder lowers its bucket before recording a smaller share and raises it only
//! after the commit. The local burst is the account's burst times the fraction held,
//! rounded down but at least one token. A dead holder's share stops counting when its
//! lease expires, and the survivors' shares grow back at their next renewals.
//!
//! Learned rates ([`RateMode::Learn`]) live in `{table}_accounts.learned_rate`: a 429 that
//! lowers a process's estimate is written at once (the lowest concurrent lowering wins),
//! a probe upwards only if nobody changed the stored rate meanwhile, and every renewal
//! adopts the stored rate, so all holders converge on one account-wide rate. A Retry-After
//! pause is not shared: it is short, and the other holders will get their own 429s.
//!
//! DDL (created idempotently by [`PgGovernor::connect`]; the lead may move it into a
//! migration instead, with `table` = `governor_leases`):
//! ```sql
//! CREATE TABLE IF NOT EXISTS {table}_accounts (account TEXT PRIMARY KEY, slot_limit INT NOT NULL,
//!   learned_rate DOUBLE PRECISION);
//! CREATE TABLE IF NOT EXISTS {table} (account TEXT NOT NULL, holder TEXT NOT NULL,
//!   slots INT NOT NULL, wanted INT NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
//!   rate_share DOUBLE PRECISION NOT NULL DEFAULT 0, PRIMARY KEY (account, holder));
//! ```
//! (Tables created by an earlier version get the two new columns with `ADD COLUMN IF NOT EXISTS`.)

use async_trait::async_trait;
use connector_core::governor::{
    AccountKey, AccountLimits, AccountSnapshot, Adaptive, Bucket, Governor, Learned, Outcome,
    Permit, PermitRelease, RateMode, Slot, SlotPool,
};
use connector_core::ConnectorError;
use domain::ErrorCode;
use futures::StreamExt;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait,
    Value,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Lease timing.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Table name (letters, digits and `_`); `{table}_accounts` is created beside it.
    pub table: String,
    /// How long a lease lives without renewal. Must exceed the longest ERP request, since
    /// a request in flight when its lease lapses is not recalled.
    pub ttl: Duration,
    /// How often leases are renewed and rebalanced.
    pub renew_every: Duration,
    /// This process's holder id (defaults to a random UUID).
    pub holder: Option<String>,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            table: "governor_leases".into(),
            ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(2),
            holder: None,
        }
    }
}

struct Acct {
    key: String,
    pool: Arc<SlotPool>,
    limits: Mutex<AccountLimits>,
    adaptive: Mutex<Adaptive>,
    /// Slots recorded in our lease row.
    leased: AtomicU32,
    /// Local deadline after which no slot may be issued without a renewal.
    valid_until: Mutex<Option<Instant>>,
    /// When the last lease transaction for this account committed.
    last_negotiated: Mutex<Option<Instant>>,
    /// This process's part of the account's rate budget. A std mutex, so the renewal task
    /// can change the share while a request waits for a token.
    bucket: Mutex<Bucket>,
    /// Requests waiting for a token queue here in FIFO order.
    rate_turn: tokio::sync::Mutex<()>,
    /// Our rate share is below the fair one (others have not given way yet), so the
    /// renewal task retries sooner than the period.
    rate_short: AtomicBool,
}

/// A bucket that issues nothing until the database granted a rate share.
fn ungranted_bucket(mode: RateMode) -> Bucket {
    let mut b = Bucket::new(mode);
    b.set_share(0.0);
    b
}

struct Inner {
    db: DatabaseConnection,
    table: String,
    holder: String,
    ttl: Duration,
    renew_every: Duration,
    accounts: Mutex<HashMap<AccountKey, Arc<Acct>>>,
    wake: Notify,
    renewals: AtomicU32,
}

/// The PostgreSQL governor backend.
#[derive(Clone)]
pub struct PgGovernor {
    inner: Arc<Inner>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

fn db_err(e: DbErr) -> ConnectorError {
    ConnectorError::new(ErrorCode::Internal, format!("lease store: {e}"))
}

fn valid_table(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 48
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !t.starts_with(|c: char| c.is_ascii_digit())
}

/// Divides `limit` among holders by water-filling over what each wants: nobody gets more
/// than it wants, and what one does not need is shared by the others. Ties are broken by
/// holder id so every process computes the same split.
pub fn fair_shares(limit: u32, wants: &[(String, u32)]) -> HashMap<String, u32> {
    let mut sorted: Vec<&(String, u32)> = wants.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut remaining = limit;
    let mut left = sorted.len() as u32;
    let mut out = HashMap::new();
    for (holder, want) in sorted {
        let share = (*want).min(remaining / left.max(1));
        out.insert(holder.clone(), share);
        remaining -= share;
        left -= 1;
    }
    out
}

impl PgGovernor {
    /// Connects, creates the tables if needed and starts the renewal task.
    pub async fn connect(url: &str, opts: LeaseOptions) -> Result<Self, ConnectorError> {
        let db = Database::connect(url).await.map_err(db_err)?;
        Self::with_connection(db, opts).await
    }

    pub async fn with_connection(
        db: DatabaseConnection,
        opts: LeaseOptions,
    ) -> Result<Self, ConnectorError> {
        if !valid_table(&opts.table) {
            return Err(ConnectorError::invalid_input(format!(
                "lease table name '{}' must be lower-case letters, digits and _",
                opts.table
            )));
        }
        let t = &opts.table;
        // Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalog,
        // so processes starting together serialise on an advisory lock.
        let txn = db.begin().await.map_err(db_err)?;
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock(hashtext('switchyard_leases_ddl'));
             CREATE TABLE IF NOT EXISTS {t}_accounts (account TEXT PRIMARY KEY, slot_limit INT NOT NULL);
             CREATE TABLE IF NOT EXISTS {t} (account TEXT NOT NULL, holder TEXT NOT NULL,
               slots INT NOT NULL, wanted INT NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
               PRIMARY KEY (account, holder));
             ALTER TABLE {t}_accounts ADD COLUMN IF NOT EXISTS learned_rate DOUBLE PRECISION;
             ALTER TABLE {t} ADD COLUMN IF NOT EXISTS rate_share DOUBLE PRECISION NOT NULL DEFAULT 0;"
        ))
        .await
        .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        let inner = Arc::new(Inner {
            db,
            table: opts.table.clone(),
            holder: opts
                .holder
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            ttl: opts.ttl,
            renew_every: opts.renew_every,
            accounts: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            renewals: AtomicU32::new(0),
        });
        let task = tokio::spawn(renew_loop(Arc::downgrade(&inner)));
        Ok(Self {
            inner,
            task: Arc::new(task),
        })
    }

    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// How many lease transactions ran (to show the cost is per period, not per request).
    pub fn renewals(&self) -> u32 {
        self.inner.renewals.load(Ordering::Relaxed)
    }

    /// Gives every lease back (clean shutdown), so others need not wait for expiry.
    pub async fn release_all(&self) -> Result<(), ConnectorError> {
        self.task.abort();
        let accts: Vec<Arc<Acct>> = self
            .inner
            .accounts
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect();
        for a in &accts {
            a.pool.set_limit(0);
            a.bucket.lock().unwrap().set_share(0.0);
        }
        let sql = format!("DELETE FROM {} WHERE holder = $1", self.inner.table);
        self.inner
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [Value::from(self.inner.holder.clone())],
            ))
            .await
            .map_err(db_err)?;
        Ok(())
    }

    fn acct(&self, account: &AccountKey, limits: &AccountLimits) -> Arc<Acct> {
        let mut map = self.inner.accounts.lock().unwrap();
        let a = map
            .entry(account.clone())
            .or_insert_with(|| {
                Arc::new(Acct {
                    key: account.to_string(),
                    // Nothing may be issued before the database granted a lease.
                    pool: Arc::new(SlotPool::new(0)),
                    limits: Mutex::new(*limits),
                    adaptive: Mutex::new(Adaptive::new(limits.max_concurrency)),
                    leased: AtomicU32::new(0),
                    valid_until: Mutex::new(None),
                    last_negotiated: Mutex::new(None),
                    bucket: Mutex::new(ungranted_bucket(limits.rate)),
                    rate_turn: tokio::sync::Mutex::new(()),
                    rate_short: AtomicBool::new(false),
                })
            })
            .clone();
        let old = std::mem::replace(&mut *a.limits.lock().unwrap(), *limits);
        if old.rate != limits.rate {
            // A new rate configuration starts ungranted; the next renewal (asked for at
            // once) records a share of the new rate.
            *a.bucket.lock().unwrap() = ungranted_bucket(limits.rate);
            a.rate_short.store(true, Ordering::SeqCst);
            self.inner.wake.notify_one();
        }
        a
    }

    /// The requests per second this process may currently start for `account` (its share
    /// of the account's rate), None when no rate budget applies.
    pub fn rate_share(&self, account: &AccountKey) -> Option<f64> {
        let map = self.inner.accounts.lock().unwrap();
        let a = map.get(account)?;
        let b = a.bucket.lock().unwrap();
        b.local_rate()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        tracing::debug!(holder = %self.holder, "lease governor dropped");
    }
}

impl Acct {
    /// What this process would use now: in flight plus waiting, within the adaptive limit.
    fn wanted(&self) -> u32 {
        let cap = self.adaptive.lock().unwrap().current;
        (self.pool.in_flight() + self.pool.queued()).min(cap)
    }
}

/// One lease transaction for one account.
async fn negotiate(inner: &Inner, a: &Acct) -> Result<(), DbErr> {
    let t = &inner.table;
    let limits = *a.limits.lock().unwrap();
    let limit = limits.max_concurrency.max(1) as i32;
    let wanted = a.wanted() as i32;
    // What our learning rule changed since the last renewal, to be merged into the store.
    let learned = a.bucket.lock().unwrap().take_learned();
    let (learn_kind, learn_rate, learn_from): (Option<&str>, Option<f64>, Option<f64>) =
        match learned {
            Some(Learned::Lowered(r)) => (Some("lowered"), Some(r), None),
            Some(Learned::Raised { from, to }) => (Some("raised"), Some(to), Some(from)),
            None => (None, None, None),
        };
    let started = Instant::now();
    let txn = inner.db.begin().await?;
    // The upsert takes the account row's lock until commit, serialising all holders. A
    // lowering of the learned rate keeps the lowest value; a raise applies only when the
    // stored rate is still the one it was raised from, so it never undoes a lowering.
    let account_row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO {t}_accounts AS a (account, slot_limit, learned_rate) VALUES ($1, $2, $3)
                 ON CONFLICT (account) DO UPDATE SET slot_limit = EXCLUDED.slot_limit,
                   learned_rate = CASE
                     WHEN $4::text = 'lowered'
                       THEN LEAST(COALESCE(a.learned_rate, EXCLUDED.learned_rate), EXCLUDED.learned_rate)
                     WHEN $4::text = 'raised' AND (a.learned_rate IS NULL
                       OR abs(a.learned_rate - $5::float8) <= 1e-9 * abs($5::float8))
                       THEN EXCLUDED.learned_rate
                     ELSE a.learned_rate END
                 RETURNING learned_rate"
            ),
            [
                Value::from(a.key.clone()),
                Value::from(limit),
                Value::from(learn_rate),
                Value::from(learn_kind.map(str::to_string)),
                Value::from(learn_from),
            ],
        ))
        .await?;
    let stored_rate: Option<f64> = match account_row {
        Some(r) => r.try_get("", "learned_rate")?,
        None => None,
    };
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT holder, slots, wanted, rate_share FROM {t}
                 WHERE account = $1 AND expires_at > now() AND holder <> $2"
            ),
            [
                Value::from(a.key.clone()),
                Value::from(inner.holder.clone()),
            ],
        ))
        .await?;
    let mut others_held: i64 = 0;
    let mut others_rate = 0.0f64;
    let mut others_active = 0u32;
    let mut wants = vec![(inner.holder.clone(), wanted as u32)];
    for r in rows {
        let h: String = r.try_get("", "holder")?;
        let s: i32 = r.try_get("", "slots")?;
        let w: i32 = r.try_get("", "wanted")?;
        let rs: f64 = r.try_get("", "rate_share")?;
        others_held += s.max(0) as i64;
        if rs.is_finite() {
            others_rate += rs.max(0.0);
        }
        if w.max(s) > 0 {
            others_active += 1;
        }
        // A holder still using slots counts as wanting at least those.
        wants.push((h, w.max(s).max(0) as u32));
    }
    let share = fair_shares(limit as u32, &wants)[&inner.holder];
    let free = (limit as i64 - others_held).max(0) as u32;
    let grant = share.min(free);
    let current = a.pool.limit();
    // Shrink locally before recording less; grow locally only after commit.
    if grant < current {
        a.pool.set_limit(grant);
    }
    // Slots still out beyond the new limit stay recorded until they come back.
    let record = grant
        .max(a.pool.in_flight())
        .min(a.leased.load(Ordering::SeqCst).max(grant));
    let rate = rate_grant(
        limits.rate,
        stored_rate,
        wanted > 0 || record > 0,
        others_active,
        others_rate,
    );
    // Lower the local bucket before recording a smaller share (the others may take the
    // difference as soon as we commit); raise it only after the commit.
    {
        let mut b = a.bucket.lock().unwrap();
        let now_local = b.local_rate();
        let new_local = rate.account_rate.map(|r| r * rate.fraction);
        let shrinks = match (now_local, new_local) {
            (None, Some(_)) => true,
            (Some(old), Some(new)) => new < old,
            _ => false,
        };
        if shrinks {
            b.adopt_rate(stored_rate);
            b.set_share(rate.fraction);
        }
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "INSERT INTO {t} (account, holder, slots, wanted, expires_at, rate_share)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6)
             ON CONFLICT (account, holder) DO UPDATE
             SET slots = EXCLUDED.slots, wanted = EXCLUDED.wanted, expires_at = EXCLUDED.expires_at,
                 rate_share = EXCLUDED.rate_share"
        ),
        [
            Value::from(a.key.clone()),
            Value::from(inner.holder.clone()),
            Value::from(record as i32),
            Value::from(wanted),
            Value::from(inner.ttl.as_secs_f64()),
            Value::from(rate.recorded),
        ],
    ))
    .await?;
    // Clean up long-dead rows now and then so the table does not grow.
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("DELETE FROM {t} WHERE account = $1 AND expires_at < now() - interval '1 minute'"),
        [Value::from(a.key.clone())],
    ))
    .await?;
    txn.commit().await?;
    inner.renewals.fetch_add(1, Ordering::Relaxed);
    a.leased.store(record, Ordering::SeqCst);
    // The lease is valid from when the transaction started (conservative), minus a margin
    // for clock and scheduling slack.
    let margin = inner.ttl / 5;
    *a.valid_until.lock().unwrap() = Some(started + inner.ttl - margin);
    *a.last_negotiated.lock().unwrap() = Some(Instant::now());
    if grant > current {
        a.pool.set_limit(grant);
    }
    {
        let mut b = a.bucket.lock().unwrap();
        b.adopt_rate(stored_rate);
        b.set_share(rate.fraction);
    }
    a.rate_short.store(rate.short, Ordering::SeqCst);
    Ok(())
}

/// This holder's part of an account's rate, as computed in a lease transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateGrant {
    /// The account-wide rate (configured, or learned and stored), None when unlimited.
    pub account_rate: Option<f64>,
    /// The fraction of the account's rate and burst this holder's bucket may use.
    pub fraction: f64,
    /// Requests per second recorded in the lease row (what the others must leave us).
    pub recorded: f64,
    /// Below the fair share because the others have not given way yet.
    pub short: bool,
}

/// Splits an account's rate: an active holder's fair share is the rate divided by the
/// active holders (ourselves included), capped by what the other live rows leave free,
/// so the recorded shares never sum above the rate. An inactive holder takes nothing.
/// While the rate is unknown (unlimited, or Learn before a 429) nothing is recorded and
/// the fraction is our expected part of the traffic, which scales a first learned
/// estimate from our own traffic up to the account's.
pub fn rate_grant(
    mode: RateMode,
    stored_learned: Option<f64>,
    active: bool,
    others_active: u32,
    others_recorded: f64,
) -> RateGrant {
    let holders = others_active + u32::from(active);
    let account_rate = match mode {
        RateMode::Unlimited => None,
        RateMode::Fixed { per_second, .. } => Some(per_second.max(0.001)),
        RateMode::Learn => stored_learned.filter(|r| r.is_finite() && *r > 0.0),
    };
    let even = if active { 1.0 / holders as f64 } else { 0.0 };
    match account_rate {
        None => RateGrant {
            account_rate,
            fraction: even,
            recorded: 0.0,
            short: false,
        },
        Some(rate) => {
            let fair = rate * even;
            let free = (rate - others_recorded).max(0.0);
            let granted = fair.min(free);
            RateGrant {
                account_rate,
                fraction: (granted / rate).clamp(0.0, 1.0),
                recorded: granted,
                short: granted + 1e-9 < fair,
            }
        }
    }
}

async fn renew_loop(inner: std::sync::Weak<Inner>) {
    let mut next_full = Instant::now();
    loop {
        let Some(i) = inner.upgrade() else { return };
        let woke = tokio::select! {
            _ = i.wake.notified() => true,
            _ = tokio::time::sleep_until(next_full) => false,
        };
        let now = Instant::now();
        let full = !woke || now >= next_full;
        if full {
            next_full = now + i.renew_every;
        }
        let accts: Vec<Arc<Acct>> = i.accounts.lock().unwrap().values().cloned().collect();
        let due: Vec<Arc<Acct>> = accts
            .into_iter()
            .filter(|a| {
                let limit = a.pool.limit();
                let wanted = a.wanted();
                let leased = a.leased.load(Ordering::SeqCst);
                // The periodic pass renews every account. A wake-up renegotiates an
                // account that owes slots back at once (others may wait for them), and
                // one that wants more at most every quarter period, so the cost stays
                // per period and not per request.
                let last = *a.last_negotiated.lock().unwrap();
                let owes = leased > limit.max(a.pool.in_flight());
                let soon =
                    last.is_none_or(|t| now.saturating_duration_since(t) >= i.renew_every / 4);
                let wants_more = wanted > limit && soon;
                // A rate share below the fair one grows as the others give way; a lowered
                // learned rate is shared at once, since the others are over it.
                let rate_short = a.rate_short.load(Ordering::SeqCst) && soon;
                let lowered = a.bucket.lock().unwrap().lowered_pending();
                full || owes || wants_more || rate_short || lowered
            })
            .collect();
        // Each transaction locks a single account row, so running a few at once cannot
        // deadlock; it keeps the renewal of many accounts within one period.
        futures::stream::iter(due)
            .for_each_concurrent(8, |a| {
                let i = &i;
                async move {
                    if let Err(e) = negotiate(i, &a).await {
                        tracing::warn!(account = %a.key, error = %e, "lease renewal failed");
                    }
                    // A lease that could not be renewed in time stops issuing slots.
                    let expired = a
                        .valid_until
                        .lock()
                        .unwrap()
                        .is_some_and(|v| Instant::now() >= v);
                    if expired {
                        a.pool.set_limit(0);
                        a.bucket.lock().unwrap().set_share(0.0);
                    }
                }
            })
            .await;
        drop(i);
    }
}

struct PgPermit {
    inner: Arc<Inner>,
    acct: Arc<Acct>,
    slot: Option<Slot>,
}

impl PermitRelease for PgPermit {
    fn release(mut self: Box<Self>, outcome: Outcome) {
        let grow_after = self.acct.limits.lock().unwrap().grow_after;
        let (before, after) = {
            let mut ad = self.acct.adaptive.lock().unwrap();
            let before = ad.current;
            (before, ad.observe(outcome, grow_after))
        };
        if after < before && self.acct.pool.limit() > after {
            self.acct.pool.set_limit(after);
        }
        if matches!(outcome, Outcome::RateLimited { .. } | Outcome::Success) {
            let mut b = self.acct.bucket.lock().unwrap();
            b.observe(outcome);
            if b.lowered_pending() {
                self.inner.wake.notify_one();
            }
        }
        self.slot.take();
        let a = &self.acct;
        // Give surplus back promptly (another process may be waiting), and ask for more
        // when demand exceeds the lease.
        if a.leased.load(Ordering::SeqCst) > a.pool.limit().max(a.pool.in_flight())
            || a.wanted() > a.pool.limit()
            || after > before
        {
            self.inner.wake.notify_one();
        }
    }
}

#[async_trait]
impl Governor for PgGovernor {
    async fn acquire(
        &self,
        account: &AccountKey,
        limits: &AccountLimits,
    ) -> Result<Permit, ConnectorError> {
        let acct = self.acct(account, limits);
        {
            let mut ad = acct.adaptive.lock().unwrap();
            if ad.ceiling != limits.max_concurrency.max(1) {
                ad.set_ceiling(limits.max_concurrency);
            }
        }
        let slot = match acct.pool.try_acquire() {
            Some(s) => s,
            None => {
                let fut = acct.pool.acquire();
                // The waiter is queued once the future is polled; wake the renewal task
                // right after so it asks for more slots.
                tokio::pin!(fut);
                match futures_poll_once(&mut fut).await {
                    Some(s) => s,
                    None => {
                        self.inner.wake.notify_one();
                        fut.await
                    }
                }
            }
        };
        if !matches!(limits.rate, RateMode::Unlimited) {
            // One waiter at a time asks the bucket, in arrival order; the bucket's own
            // lock is held only for each look, so the renewal task can change the share.
            let _turn = acct.rate_turn.lock().await;
            loop {
                let (wait, starved) = {
                    let mut b = acct.bucket.lock().unwrap();
                    (b.poll_take(), b.share() <= 0.0 && b.rate().is_some())
                };
                match wait {
                    None => break,
                    Some(d) => {
                        if starved {
                            self.inner.wake.notify_one();
                        }
                        tokio::time::sleep(d).await;
                    }
                }
            }
        }
        Ok(Permit::new(Box::new(PgPermit {
            inner: self.inner.clone(),
            acct,
            slot: Some(slot),
        })))
    }

    fn snapshot(&self, account: &AccountKey) -> Option<AccountSnapshot> {
        let map = self.inner.accounts.lock().unwrap();
        let a = map.get(account)?;
        let ad = a.adaptive.lock().unwrap();
        let rate = a.bucket.lock().unwrap().rate();
        Some(AccountSnapshot {
            ceiling: ad.ceiling,
            limit: a.pool.limit(),
            in_flight: a.pool.in_flight(),
            queued: a.pool.queued(),
            rate_per_second: rate,
        })
    }
}

/// Polls a future once; Some when it completed.
async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    use std::task::Poll;
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *f).poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[(&str, u32)]) -> Vec<(String, u32)> {
        v.iter().map(|(h, n)| (h.to_string(), *n)).collect()
    }

    #[test]
    fn fair_shares_water_fill() {
        let s = fair_shares(5, &w(&[("a", 5), ("b", 5), ("c", 5)]));
        assert_eq!(s.values().sum::<u32>(), 5);
        assert!(s.values().all(|&v| (1..=2).contains(&v)));
        let s = fair_shares(5, &w(&[("a", 1), ("b", 8)]));
        assert_eq!((s["a"], s["b"]), (1, 4));
        let s = fair_shares(5, &w(&[("a", 0), ("b", 0)]));
        assert_eq!(s.values().sum::<u32>(), 0);
        let s = fair_shares(5, &w(&[("solo", 9)]));
        assert_eq!(s["solo"], 5);
    }

    #[test]
    fn rate_is_split_among_active_holders_within_what_is_free() {
        let fixed = RateMode::Fixed {
            per_second: 20.0,
            burst: 5,
        };
        // Alone: the whole rate.
        let g = rate_grant(fixed, None, true, 0, 0.0);
        assert_eq!((g.recorded, g.fraction, g.short), (20.0, 1.0, false));
        // A newcomer while two others still record 10 each gets nothing yet, and knows
        // it is short of its fair third.
        let g = rate_grant(fixed, None, true, 2, 20.0);
        assert_eq!((g.recorded, g.short), (0.0, true));
        // Once the others recorded their thirds, it takes the rest.
        let g = rate_grant(fixed, None, true, 2, 40.0 / 3.0);
        assert!((g.recorded - 20.0 / 3.0).abs() < 1e-9 && !g.short, "{g:?}");
        // An idle holder takes nothing; an unlimited account records nothing.
        assert_eq!(rate_grant(fixed, None, false, 1, 0.0).recorded, 0.0);
        let g = rate_grant(RateMode::Unlimited, Some(5.0), true, 1, 0.0);
        assert_eq!((g.account_rate, g.recorded, g.fraction), (None, 0.0, 0.5));
        // Learn mode uses the stored learned rate, and is unlimited until there is one.
        let g = rate_grant(RateMode::Learn, Some(9.0), true, 2, 0.0);
        assert_eq!((g.account_rate, g.recorded), (Some(9.0), 3.0));
        assert_eq!(
            rate_grant(RateMode::Learn, None, true, 2, 0.0).account_rate,
            None
        );
    }

    #[test]
    fn table_names_are_checked() {
        assert!(valid_table("governor_leases"));
        assert!(!valid_table("x; drop table y"));
        assert!(!valid_table("Upper"));
        assert!(!valid_table("1abc"));
    }
}
