//! Several OS processes share one ERP account's limit through PostgreSQL leases. A tiny
//! HTTP server in the test counts concurrent requests: it must never see more than the
//! limit, and it should be kept busy. A killed holder's slots come back after expiry.
//! Processes sharing an account's rate budget together start no more requests per second
//! than the account's rate, and use most of it.
//!
//! Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth, database `test`);
//! each run uses its own table names.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use sea_orm::{ConnectionTrait, Database};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DB: &str = "postgres://postgres@127.0.0.1:5432/test";
const LIMIT: usize = 5;

#[derive(Clone)]
struct Counter {
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    busy_us: Arc<AtomicU64>,
    window: Arc<Mutex<(Option<Instant>, Option<Instant>)>>,
    over: Arc<AtomicU64>,
    latency: Duration,
}

async fn work(State(c): State<Counter>) -> &'static str {
    let start = Instant::now();
    let n = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    // The handler is dropped when a killed client's connection closes; the guard keeps
    // the count right in that case too.
    struct Leave(Arc<AtomicUsize>);
    impl Drop for Leave {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let leave = Leave(c.in_flight.clone());
    c.max.fetch_max(n, Ordering::SeqCst);
    if n > LIMIT {
        c.over.fetch_add(1, Ordering::SeqCst);
    }
    tokio::time::sleep(c.latency).await;
    drop(leave);
    let end = Instant::now();
    c.busy_us
        .fetch_add((end - start).as_micros() as u64, Ordering::SeqCst);
    let mut w = c.window.lock().unwrap();
    w.0 = Some(w.0.map_or(start, |s: Instant| s.min(start)));
    w.1 = Some(w.1.map_or(end, |e: Instant| e.max(end)));
    "ok"
}

async fn counter_server(latency: Duration) -> (Counter, String) {
    let c = Counter {
        in_flight: Default::default(),
        max: Default::default(),
        busy_us: Default::default(),
        window: Default::default(),
        over: Default::default(),
        latency,
    };
    let app = Router::new()
        .route("/work", get(work))
        .with_state(c.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/work", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (c, url)
}

fn table() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("lt_{}_{nanos}", std::process::id())
}

fn worker(
    table: &str,
    target: &str,
    duration_ms: u64,
    conc: usize,
    ttl_ms: u64,
    renew_ms: u64,
) -> Child {
    worker_with(table, target, duration_ms, conc, ttl_ms, renew_ms, &[])
}

fn worker_with(
    table: &str,
    target: &str,
    duration_ms: u64,
    conc: usize,
    ttl_ms: u64,
    renew_ms: u64,
    extra: &[String],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_leases-worker"))
        .args([
            DB,
            table,
            "acct-1",
            &LIMIT.to_string(),
            target,
            &duration_ms.to_string(),
            &conc.to_string(),
            &ttl_ms.to_string(),
            &renew_ms.to_string(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn leases-worker")
}

/// Reads a worker's stdout to the end on a thread; returns its JSON summary.
fn summary(child: Child) -> std::thread::JoinHandle<serde_json::Value> {
    std::thread::spawn(move || {
        let mut child = child;
        let out = child.stdout.take().unwrap();
        let mut last = String::new();
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            if line.starts_with('{') {
                last = line;
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "worker failed: {status}");
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("bad summary '{last}': {e}"))
    })
}

async fn drop_tables(t: &str) {
    let db = Database::connect(DB).await.unwrap();
    db.execute_unprepared(&format!(
        "DROP TABLE IF EXISTS {t}; DROP TABLE IF EXISTS {t}_accounts;"
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_limit_of_five_and_keep_it_busy() {
    let (c, url) = counter_server(Duration::from_millis(20)).await;
    let t = table();
    let duration = 4000;
    let handles: Vec<_> = (0..3)
        .map(|_| summary(worker(&t, &url, duration, 8, 2000, 200)))
        .collect();
    let results: Vec<serde_json::Value> = tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
    .await
    .unwrap();
    let (start, end) = *c.window.lock().unwrap();
    let window = end.unwrap() - start.unwrap();
    let busy = Duration::from_micros(c.busy_us.load(Ordering::SeqCst));
    let utilisation = busy.as_secs_f64() / (LIMIT as f64 * window.as_secs_f64());
    let total: u64 = results.iter().map(|r| r["ok"].as_u64().unwrap()).sum();
    let leases: u64 = results
        .iter()
        .map(|r| r["lease_transactions"].as_u64().unwrap())
        .sum();
    println!(
        "3 processes, limit {LIMIT}: max in flight {}, {total} requests in {:.2}s, utilisation {:.3}, {leases} lease transactions; per process {:?}",
        c.max.load(Ordering::SeqCst),
        window.as_secs_f64(),
        utilisation,
        results.iter().map(|r| r["ok"].as_u64().unwrap()).collect::<Vec<_>>()
    );
    drop_tables(&t).await;
    assert!(
        c.max.load(Ordering::SeqCst) <= LIMIT,
        "limit exceeded: {}",
        c.max.load(Ordering::SeqCst)
    );
    assert_eq!(c.over.load(Ordering::SeqCst), 0);
    for r in &results {
        assert_eq!(r["failed"], 0, "{r}");
        assert!(r["ok"].as_u64().unwrap() > 50, "a process was starved: {r}");
    }
    assert!(utilisation > 0.7, "utilisation {utilisation:.3}");
    // Leases cost a transaction per renewal period, not per request.
    assert!(
        leases < total / 3,
        "{leases} lease transactions for {total} requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_slots_come_back_after_expiry() {
    let (c, url) = counter_server(Duration::from_millis(20)).await;
    let t = table();
    let ttl_ms = 1500;
    let mut holder = worker(&t, &url, 0, 8, ttl_ms, 200);
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "started");
    tokio::time::sleep(Duration::from_millis(400)).await;
    holder.kill().unwrap(); // SIGKILL: no clean release.
    holder.wait().unwrap();
    let killed_at = Instant::now();
    let next = summary(worker(&t, &url, 3000, 8, ttl_ms, 200));
    let r = tokio::task::spawn_blocking(move || next.join().unwrap())
        .await
        .unwrap();
    let first = r["first_request_ms"].as_u64().unwrap();
    println!("after kill -9: the new process got its first slot after {first} ms (ttl {ttl_ms} ms), {} requests, max in flight {}", r["ok"], c.max.load(Ordering::SeqCst));
    drop_tables(&t).await;
    assert!(c.max.load(Ordering::SeqCst) <= LIMIT);
    assert!(r["ok"].as_u64().unwrap() > 100, "{r}");
    // It had to wait for the dead lease to expire, and not much longer.
    assert!(
        first >= 300,
        "slots were available before the dead lease expired: {first} ms"
    );
    assert!(
        first <= ttl_ms + 1000,
        "slots came back too late: {first} ms"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(10));
}

/// Records when each request arrived.
async fn arrivals_server() -> (Arc<Mutex<Vec<Instant>>>, String) {
    let seen: Arc<Mutex<Vec<Instant>>> = Default::default();
    let app = Router::new()
        .route(
            "/rate",
            get(|State(s): State<Arc<Mutex<Vec<Instant>>>>| async move {
                s.lock().unwrap().push(Instant::now());
                // A little latency so requests overlap, as ERP calls do.
                tokio::time::sleep(Duration::from_millis(5)).await;
                "ok"
            }),
        )
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rate", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (seen, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_rate_of_twenty_per_second() {
    const RATE: f64 = 20.0;
    const BURST: u32 = 5;
    let (seen, url) = arrivals_server().await;
    let t = table();
    let extra = [RATE.to_string(), BURST.to_string()];
    // Concurrency is not the bottleneck here (limit 5, 5 ms per request): the rate is.
    let handles: Vec<_> = (0..3)
        .map(|_| summary(worker_with(&t, &url, 3000, 4, 2000, 200, &extra)))
        .collect();
    let results: Vec<serde_json::Value> = tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
    .await
    .unwrap();
    drop_tables(&t).await;
    let mut at = seen.lock().unwrap().clone();
    at.sort();
    assert!(at.len() > 10, "too few requests: {}", at.len());
    let (first, last) = (at[0], *at.last().unwrap());
    // The busiest one-second window anywhere in the run (the burst allowed).
    let mut max_1s = 0usize;
    let mut j = 0;
    for i in 0..at.len() {
        while j < at.len() && at[j] < at[i] + Duration::from_secs(1) {
            j += 1;
        }
        max_1s = max_1s.max(j - i);
    }
    // The steady state: leave out the first and last half second, when processes are
    // still joining or have already left.
    let (lo, hi) = (
        first + Duration::from_millis(500),
        last - Duration::from_millis(500),
    );
    let steady = at.iter().filter(|t| **t >= lo && **t < hi).count();
    let steady_rate = steady as f64 / (hi - lo).as_secs_f64();
    let overall_rate = at.len() as f64 / (last - first).as_secs_f64();
    let per_process: Vec<u64> = results.iter().map(|r| r["ok"].as_u64().unwrap()).collect();
    println!(
        "3 processes sharing {RATE} req/s (burst {BURST}): {} requests in {:.2}s; steady {steady_rate:.2} req/s = {:.3} of the rate; overall {overall_rate:.2} req/s; busiest 1 s window {max_1s}; per process {per_process:?}; lease transactions {:?}",
        at.len(),
        (last - first).as_secs_f64(),
        steady_rate / RATE,
        results.iter().map(|r| r["lease_transactions"].as_u64().unwrap()).collect::<Vec<_>>(),
    );
    for r in &results {
        assert_eq!(r["failed"], 0, "{r}");
        assert!(r["ok"].as_u64().unwrap() >= 5, "a process was starved: {r}");
    }
    assert!(
        max_1s as f64 <= RATE + BURST as f64 + 2.0,
        "{max_1s} requests in one second against a rate of {RATE} (burst {BURST})"
    );
    // Counting ~50 requests in a cut window is good to a request or two, hence 10%; the
    // one-second window above is the strict check.
    assert!(
        steady_rate <= RATE * 1.1,
        "steady {steady_rate:.2} req/s exceeds {RATE}"
    );
    assert!(
        steady_rate >= RATE * 0.8,
        "steady {steady_rate:.2} req/s is below 0.8 of {RATE}"
    );
}
