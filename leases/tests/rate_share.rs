//! Two governors (two holders, as two processes would be) on one account share its rate:
//! a dead holder's share returns to the survivor after its lease expires, and a rate one
//! holder learned from a 429 reaches the other at its next renewal.
//!
//! Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth, database `test`).

use connector_core::domain::ErpKind;
use connector_core::{AccountKey, AccountLimits, Governor, Outcome, RateMode};
use leases::{LeaseOptions, PgGovernor};
use sea_orm::{ConnectionTrait, Database};
use std::time::{Duration, Instant};

const DB: &str = "postgres://postgres@127.0.0.1:5432/test";

fn table(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("lr_{tag}_{}_{nanos}", std::process::id())
}

async fn governor(t: &str, ttl_ms: u64) -> PgGovernor {
    governor_on(Database::connect(DB).await.unwrap(), t, ttl_ms).await
}

async fn governor_on(db: sea_orm::DatabaseConnection, t: &str, ttl_ms: u64) -> PgGovernor {
    PgGovernor::with_connection(
        db,
        LeaseOptions {
            table: t.into(),
            ttl: Duration::from_millis(ttl_ms),
            renew_every: Duration::from_millis(100),
            holder: None,
        },
    )
    .await
    .unwrap()
}

async fn drop_tables(t: &str) {
    let db = Database::connect(DB).await.unwrap();
    db.execute_unprepared(&format!(
        "DROP TABLE IF EXISTS {t}; DROP TABLE IF EXISTS {t}_accounts;"
    ))
    .await
    .unwrap();
}

/// Polls `f` until it is true or `within` passed; returns how long it took.
async fn until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if f() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn near(v: Option<f64>, want: f64) -> bool {
    v.is_some_and(|v| (v - want).abs() < 0.01)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_rate_share_returns_to_the_survivor() {
    let t = table("dead");
    let k = AccountKey::new(ErpKind::Intacct, "co-1");
    let limits = AccountLimits::concurrency(4).with_rate(RateMode::Fixed {
        per_second: 20.0,
        burst: 4,
    });
    let db_b = Database::connect(DB).await.unwrap();
    let (a, b) = (
        governor(&t, 800).await,
        governor_on(db_b.clone(), &t, 800).await,
    );
    // Holding a permit keeps each holder active, so each wants its part of the rate.
    let pa = a.acquire(&k, &limits).await.unwrap();
    let pb = b.acquire(&k, &limits).await.unwrap();
    let split = until(Duration::from_secs(3), || {
        near(a.rate_share(&k), 10.0) && near(b.rate_share(&k), 10.0)
    })
    .await;
    println!(
        "two holders of 20 req/s: {:?} and {:?} after {split:?}",
        a.rate_share(&k),
        b.rate_share(&k)
    );
    assert!(split.is_some(), "shares did not converge on 10 + 10");
    // B loses the database without giving its lease back (as a killed process would):
    // its row stays as it was until it expires.
    db_b.close_by_ref().await.unwrap();
    let died = Instant::now();
    let back = until(Duration::from_secs(4), || near(a.rate_share(&k), 20.0)).await;
    println!(
        "after the other holder died: {:?} after {back:?} (ttl 800 ms)",
        a.rate_share(&k)
    );
    assert!(back.is_some(), "the survivor never got the whole rate");
    assert!(
        died.elapsed() >= Duration::from_millis(500),
        "the dead holder's share was reused before its lease expired"
    );
    // B stopped issuing tokens too, once its lease could have lapsed.
    assert_eq!(b.rate_share(&k), Some(0.0));
    pa.finish(Outcome::Success);
    pb.finish(Outcome::Success);
    a.release_all().await.unwrap();
    drop_tables(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learned_rate_reaches_the_other_holder() {
    let t = table("learn");
    let k = AccountKey::new(ErpKind::Intacct, "co-2");
    let limits = AccountLimits::concurrency(4).with_rate(RateMode::Learn);
    let (a, b) = (governor(&t, 2000).await, governor(&t, 2000).await);
    let _pb = b.acquire(&k, &limits).await.unwrap();
    // A sends about 20 requests in a second, then gets a 429.
    for _ in 0..20 {
        a.acquire(&k, &limits)
            .await
            .unwrap()
            .finish(Outcome::Success);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(
        b.snapshot(&k).unwrap().rate_per_second,
        None,
        "nothing learned yet"
    );
    a.acquire(&k, &limits)
        .await
        .unwrap()
        .finish(Outcome::RateLimited { retry_after: None });
    let learned = a
        .snapshot(&k)
        .unwrap()
        .rate_per_second
        .expect("A learned a rate");
    let seen = until(Duration::from_secs(3), || {
        b.snapshot(&k).unwrap().rate_per_second == Some(learned)
    })
    .await;
    println!(
        "A learned {learned:.2} req/s for the account; B adopted it after {seen:?}; shares {:?} / {:?}",
        a.rate_share(&k),
        b.rate_share(&k)
    );
    assert!(seen.is_some(), "B never adopted the learned rate");
    // A is active again while it holds a permit (granted once B makes room).
    let _pa = tokio::time::timeout(Duration::from_secs(3), a.acquire(&k, &limits))
        .await
        .expect("A got a permit under the learned rate")
        .unwrap();
    let both = until(Duration::from_secs(3), || {
        let (sa, sb) = (
            a.rate_share(&k).unwrap_or(0.0),
            b.rate_share(&k).unwrap_or(0.0),
        );
        sa > 0.0 && sb > 0.0 && sa + sb <= learned + 1e-6
    })
    .await;
    assert!(
        both.is_some(),
        "the learned rate was not split between the holders"
    );
    a.release_all().await.unwrap();
    b.release_all().await.unwrap();
    drop_tables(&t).await;
}
