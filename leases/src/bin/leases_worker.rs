//! A worker process for the multi-process lease tests: it sends requests for one account
//! through the engine with the PostgreSQL governor and prints a JSON summary.
//!
//! Usage: leases-worker DB_URL TABLE ACCOUNT LIMIT TARGET_URL DURATION_MS CONCURRENCY TTL_MS RENEW_MS [RATE BURST]
//! A DURATION_MS of 0 runs until killed. RATE (requests per second, or `learn`) and BURST
//! give the account a token-bucket rate budget as well. The line `started` is printed after the first
//! successful request.

use connector_core::domain::{ErpKind, TenantId};
use connector_core::{
    classify_by_status, AccountKey, AccountLimits, Engine, EngineConfig, RateMode, Request,
    RequestContext,
};
use leases::{LeaseOptions, PgGovernor};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(a.len() == 9 || a.len() == 11, "usage: leases-worker DB_URL TABLE ACCOUNT LIMIT TARGET_URL DURATION_MS CONCURRENCY TTL_MS RENEW_MS [RATE BURST]");
    let (db, table, account) = (&a[0], &a[1], &a[2]);
    let limit: u32 = a[3].parse()?;
    let target: url::Url = a[4].parse()?;
    let duration_ms: u64 = a[5].parse()?;
    let concurrency: usize = a[6].parse()?;
    let ttl = Duration::from_millis(a[7].parse()?);
    let renew = Duration::from_millis(a[8].parse()?);
    let rate = match a.get(9).map(String::as_str) {
        None => RateMode::Unlimited,
        Some("learn") => RateMode::Learn,
        Some(r) => RateMode::Fixed {
            per_second: r.parse()?,
            burst: a[10].parse()?,
        },
    };
    let gov = PgGovernor::connect(
        db,
        LeaseOptions {
            table: table.clone(),
            ttl,
            renew_every: renew,
            holder: None,
        },
    )
    .await?;
    let engine = Engine::new(EngineConfig::default(), Arc::new(gov.clone()))?;
    let ctx = RequestContext {
        tenant: TenantId("lease-test".into()),
        erp: ErpKind::Netsuite,
        account: AccountKey::new(ErpKind::Netsuite, account.clone()),
        limits: AccountLimits::concurrency(limit).with_rate(rate),
    };
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let first_ms = Arc::new(AtomicU64::new(u64::MAX));
    let deadline = (duration_ms > 0).then(|| t0 + Duration::from_millis(duration_ms));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (engine, ctx, target, ok, failed, first_ms) = (
            engine.clone(),
            ctx.clone(),
            target.clone(),
            ok.clone(),
            failed.clone(),
            first_ms.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while deadline.is_none_or(|d| Instant::now() < d) {
                let req = Request::new(&ctx, "work", http::Method::GET, target.clone());
                match engine.send(req, &classify_by_status).await {
                    Ok(_) => {
                        if ok.fetch_add(1, Ordering::SeqCst) == 0 {
                            first_ms.store(t0.elapsed().as_millis() as u64, Ordering::SeqCst);
                            println!("started");
                            let _ = std::io::stdout().flush();
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let final_share = gov.rate_share(&ctx.account);
    gov.release_all().await?;
    println!(
        "{}",
        serde_json::json!({
            "holder": gov.holder(),
            "ok": ok.load(Ordering::SeqCst),
            "failed": failed.load(Ordering::SeqCst),
            "first_request_ms": first_ms.load(Ordering::SeqCst),
            "lease_transactions": gov.renewals(),
            "rate_share_at_end": final_share,
        })
    );
    Ok(())
}
