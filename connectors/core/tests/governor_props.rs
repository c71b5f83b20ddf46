//! Property tests of the in-process governor: the per-account limit holds under random
//! arrivals, hold times and failures; one account's backlog never delays another; FIFO
//! within an account; cancelled waiters and dropped permits never leak a slot.

use connector_core::domain::ErpKind;
use connector_core::governor::{
    AccountKey, AccountLimits, Governor, InProcessGovernor, Outcome, RateMode,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

fn key(i: usize) -> AccountKey {
    AccountKey::new(ErpKind::Netsuite, format!("acct{i}"))
}

#[derive(Debug, Clone)]
struct Arrival {
    account: usize,
    at_ms: u64,
    hold_ms: u64,
    outcome: u8,
    cancel_after_ms: Option<u64>,
}

fn arrival(accounts: usize) -> impl Strategy<Value = Arrival> {
    (
        0..accounts,
        0u64..200,
        1u64..50,
        0u8..4,
        prop::option::weighted(0.2, 0u64..60),
    )
        .prop_map(
            |(account, at_ms, hold_ms, outcome, cancel_after_ms)| Arrival {
                account,
                at_ms,
                hold_ms,
                outcome,
                cancel_after_ms,
            },
        )
}

fn outcome(o: u8) -> Outcome {
    match o {
        0 => Outcome::ConcurrencyLimited,
        1 => Outcome::Neutral,
        _ => Outcome::Success,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn never_more_than_the_limit_in_flight_and_nothing_leaks(
        limit in 1u32..6,
        arrivals in prop::collection::vec(arrival(3), 1..80),
    ) {
        rt().block_on(async move {
            let g = Arc::new(InProcessGovernor::new());
            let limits = AccountLimits { max_concurrency: limit, grow_after: 3, rate: RateMode::Unlimited };
            let in_flight: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
            let max_seen: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
            let mut tasks = Vec::new();
            for a in arrivals {
                let (g, in_flight, max_seen) = (g.clone(), in_flight.clone(), max_seen.clone());
                let work = async move {
                    tokio::time::sleep(Duration::from_millis(a.at_ms)).await;
                    let acquire_and_hold = async {
                        let p = g.acquire(&key(a.account), &limits).await.unwrap();
                        let n = in_flight[a.account].fetch_add(1, Ordering::SeqCst) + 1;
                        max_seen[a.account].fetch_max(n, Ordering::SeqCst);
                        // The guard decrements even when this future is cancelled mid-hold.
                        struct Dec<'a>(&'a AtomicUsize);
                        impl Drop for Dec<'_> { fn drop(&mut self) { self.0.fetch_sub(1, Ordering::SeqCst); } }
                        let _d = Dec(&in_flight[a.account]);
                        tokio::time::sleep(Duration::from_millis(a.hold_ms)).await;
                        drop(_d);
                        p.finish(outcome(a.outcome));
                    };
                    match a.cancel_after_ms {
                        // Cancellation while queued or while holding: the permit drops.
                        Some(c) => { let _ = tokio::time::timeout(Duration::from_millis(c), acquire_and_hold).await; }
                        None => acquire_and_hold.await,
                    }
                };
                tasks.push(tokio::spawn(work));
            }
            for t in tasks { t.await.unwrap(); }
            for i in 0..3 {
                let m = max_seen[i].load(Ordering::SeqCst);
                assert!(m <= limit as usize, "account {i}: {m} in flight, limit {limit}");
                if let Some(s) = g.snapshot(&key(i)) {
                    assert_eq!((s.in_flight, s.queued), (0, 0), "account {i} leaked: {s:?}");
                    assert!(s.limit >= 1 && s.limit <= limit);
                    // Exactly `s.limit` permits are obtainable now: none leaked, none extra.
                    let mut held = Vec::new();
                    for _ in 0..s.limit { held.push(g.acquire(&key(i), &limits).await.unwrap()); }
                    let extra = tokio::time::timeout(Duration::from_millis(1), g.acquire(&key(i), &limits)).await;
                    assert!(extra.is_err(), "account {i}: more than {} permits", s.limit);
                }
            }
        });
    }

    #[test]
    fn one_accounts_backlog_never_delays_another(
        backlog in 5usize..60,
        limit in 1u32..4,
        late_at_ms in 1u64..100,
    ) {
        rt().block_on(async move {
            let g = Arc::new(InProcessGovernor::new());
            let limits = AccountLimits::concurrency(limit);
            for _ in 0..backlog {
                let g = g.clone();
                tokio::spawn(async move {
                    let p = g.acquire(&key(0), &limits).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    p.finish(Outcome::Success);
                });
            }
            tokio::time::sleep(Duration::from_millis(late_at_ms)).await;
            let t0 = tokio::time::Instant::now();
            let p = g.acquire(&key(1), &limits).await.unwrap();
            assert_eq!(t0.elapsed(), Duration::ZERO, "account 1 waited behind account 0");
            p.finish(Outcome::Success);
            assert!(g.snapshot(&key(0)).unwrap().queued as usize <= backlog);
        });
    }

    #[test]
    fn waiters_of_one_account_are_served_in_arrival_order(n in 2usize..30, limit in 1u32..4) {
        rt().block_on(async move {
            let g = Arc::new(InProcessGovernor::new());
            let limits = AccountLimits::concurrency(limit);
            let order = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..n {
                let (g, order) = (g.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i as u64)).await;
                    let p = g.acquire(&key(0), &limits).await.unwrap();
                    order.lock().unwrap().push(i);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    p.finish(Outcome::Success);
                }));
            }
            for t in tasks { t.await.unwrap(); }
            let order = order.lock().unwrap().clone();
            assert_eq!(order, (0..n).collect::<Vec<_>>());
        });
    }
}
