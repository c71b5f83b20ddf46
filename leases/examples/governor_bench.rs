//! Benchmark of both governor backends: 200 simulated accounts, each with a concurrency
//! limit of 5, against a local server that answers after 200 ms and rejects (429) any
//! request above an account's limit. Prints achieved throughput as a fraction of the
//! theoretical maximum (accounts x slots / latency) and the number of limit errors.
//!
//! Run: cargo run --release -p leases --example governor_bench [-- SECONDS]
//! The PostgreSQL backend needs 127.0.0.1:5432 (user postgres, database test).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use connector_core::domain::{ErpKind, TenantId};
use connector_core::{
    classify_by_status, AccountKey, AccountLimits, Engine, EngineConfig, Governor,
    InProcessGovernor, Request, RequestContext, RetryPolicy,
};
use leases::{LeaseOptions, PgGovernor};
use sea_orm::{ConnectionTrait, Database};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 200;
const LIMIT: usize = 5;
const LATENCY: Duration = Duration::from_millis(200);
/// Workers per account: more than the limit, so the governor has a queue to manage.
const WORKERS: usize = 8;

#[derive(Clone)]
struct Server {
    in_flight: Arc<Vec<AtomicUsize>>,
    rejected: Arc<AtomicU64>,
}

async fn work(State(s): State<Server>, Path(acct): Path<usize>) -> StatusCode {
    let slot = &s.in_flight[acct];
    let n = slot.fetch_add(1, Ordering::SeqCst) + 1;
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _leave = Leave(slot);
    if n > LIMIT {
        s.rejected.fetch_add(1, Ordering::SeqCst);
        return StatusCode::TOO_MANY_REQUESTS;
    }
    tokio::time::sleep(LATENCY).await;
    StatusCode::OK
}

async fn run(name: &str, governor: Arc<dyn Governor>, base: &str, server: &Server, secs: f64) {
    server.rejected.store(0, Ordering::SeqCst);
    let config = EngineConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::new(config, governor).unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let warmup = Duration::from_millis(500);
    let end = t0 + warmup + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for a in 0..ACCOUNTS {
        let ctx = RequestContext {
            tenant: TenantId(format!("tenant{a}")),
            erp: ErpKind::Netsuite,
            account: AccountKey::new(ErpKind::Netsuite, format!("bench{a}")),
            limits: AccountLimits::concurrency(LIMIT as u32),
        };
        let url: url::Url = format!("{base}/acct/{a}").parse().unwrap();
        for _ in 0..WORKERS {
            let (engine, ctx, url, done) = (engine.clone(), ctx.clone(), url.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let r = engine
                        .send(
                            Request::new(&ctx, "bench", http::Method::GET, url.clone()),
                            &classify_by_status,
                        )
                        .await;
                    let now = Instant::now();
                    // Only completions inside the measured window count.
                    if r.is_ok() && now >= t0 + warmup && now <= end {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let achieved = done.load(Ordering::SeqCst) as f64 / secs;
    let theoretical = (ACCOUNTS * LIMIT) as f64 / LATENCY.as_secs_f64();
    println!(
        "{name:<11} accounts {ACCOUNTS} x limit {LIMIT} @ {} ms: {achieved:.0} req/s of {theoretical:.0} theoretical = {:.3}; limit errors {}",
        LATENCY.as_millis(),
        achieved / theoretical,
        server.rejected.load(Ordering::SeqCst)
    );
}

#[tokio::main]
async fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6.0);
    let server = Server {
        in_flight: Arc::new((0..ACCOUNTS).map(|_| AtomicUsize::new(0)).collect()),
        rejected: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/acct/{id}", get(work))
        .with_state(server.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    run(
        "in-process",
        Arc::new(InProcessGovernor::new()),
        &base,
        &server,
        secs,
    )
    .await;

    let db = "postgres://postgres@127.0.0.1:5432/test";
    let table = format!("bench_{}", std::process::id());
    match PgGovernor::connect(
        db,
        LeaseOptions {
            table: table.clone(),
            ..LeaseOptions::default()
        },
    )
    .await
    {
        Ok(g) => {
            run("postgres", Arc::new(g.clone()), &base, &server, secs).await;
            println!(
                "postgres lease transactions: {} (for all accounts, whole run)",
                g.renewals()
            );
            let _ = g.release_all().await;
            if let Ok(c) = Database::connect(db).await {
                let _ = c
                    .execute_unprepared(&format!(
                        "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_accounts;"
                    ))
                    .await;
            }
        }
        Err(e) => println!("postgres    skipped: {e}"),
    }
}
