//! Benchmark: a full sync of 100,000 records from one NetSuite account with a concurrency
//! limit of 5 and 50 ms latency per request, through the governed engine. Prints the
//! ratio of elapsed time to the theoretical minimum, and peak memory.
//!
//! Run: `cargo run --release -p connector-netsuite --example full_sync_bench [records]`

use connector_core::domain::{ConnectionId, Environment, TenantId};
use connector_core::{Connection, ConnectionConfig, Credentials, Engine, ReadRequest, TestClock};
use connector_netsuite::read::plan_full_sync;
use connector_netsuite::simulator::{AccountSpec, Simulator, TokenSpec};
use connector_netsuite::NetsuiteConnection;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

const LIMIT: usize = 5;
const LATENCY_MS: u64 = 50;
const PAGE: u32 = 1000;

/// Peak and current resident memory of this process, in MiB (Linux /proc).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (num(11) + num(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let records: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let clock = TestClock::new();
    let sim = Simulator::new(clock.shared());
    let token = TokenSpec {
        consumer_key: "ck-bench".into(),
        consumer_secret: "cs-bench".into(),
        token_id: "tk-bench".into(),
        token_secret: "ts-bench".into(),
    };
    let mut spec = AccountSpec::new("1234567");
    spec.seed.insert("customer".into(), records);
    spec.tokens.push(token.clone());
    spec.concurrency_limit = Some(LIMIT);
    spec.latency_ms = LATENCY_MS;
    sim.add_account(spec).expect("account");
    let server = sim.serve().await.expect("bind");
    let (_, rss_seeded) = memory_mib();

    let cfg = ConnectionConfig {
        tenant: TenantId("bench".into()),
        connection: ConnectionId("bench".into()),
        environment: Environment::Production,
        base_url: Some(server.base_url("1234567")),
        settings: [
            ("allow_loopback".to_string(), json!(true)),
            ("account_id".to_string(), json!("1234567")),
            ("concurrency_limit".to_string(), json!(LIMIT)),
        ]
        .into_iter()
        .collect(),
        credentials: Credentials::new("tba")
            .with("consumer_key", token.consumer_key)
            .with("consumer_secret", token.consumer_secret)
            .with("token_id", token.token_id)
            .with("token_secret", token.token_secret),
    };
    let conn = Arc::new(NetsuiteConnection::new(cfg, Engine::in_process()).expect("connection"));

    let cpu_before = cpu_secs();
    let started = Instant::now();
    // Sequential prerequisites: the object's metadata, the partition plan (two queries).
    let plan = plan_full_sync(&conn, "customer", LIMIT as u32)
        .await
        .expect("plan");
    let tasks: Vec<_> = plan
        .partitions
        .iter()
        .cloned()
        .map(|cursor| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let (mut n, mut pages, mut cursor) = (0u64, 0u64, Some(cursor));
                while let Some(c) = cursor {
                    let p = conn
                        .read_page(ReadRequest {
                            object: "customer".into(),
                            cursor: Some(c),
                            page_size: PAGE,
                        })
                        .await
                        .expect("page");
                    n += p.records.len() as u64;
                    pages += 1;
                    cursor = p.next;
                }
                (n, pages)
            })
        })
        .collect();
    let (mut got, mut pages) = (0, 0);
    for t in tasks {
        let (n, p) = t.await.expect("task");
        got += n;
        pages += p;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_before;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (peak, _) = memory_mib();
    let stats = sim.stats("1234567");
    assert_eq!(got, records, "every record read exactly once");

    // The least possible time: 3 dependent calls (metadata, count/range, newest time),
    // then ceil(records / 1000) pages spread over LIMIT slots, each costing the latency.
    let min_pages = records.div_ceil(PAGE as u64);
    let theoretical = (3 + min_pages.div_ceil(LIMIT as u64)) as f64 * LATENCY_MS as f64 / 1000.0;
    println!("netsuite full sync: {records} records, limit {LIMIT}, latency {LATENCY_MS} ms, page {PAGE}");
    println!("  requests to NetSuite: {} (pages {pages}, minimum pages {min_pages}); concurrency rejections: {}; peak in flight: {}", stats.requests, stats.rejected_concurrency, stats.peak_in_flight);
    println!("  elapsed {elapsed:.3} s; theoretical minimum {theoretical:.3} s; ratio elapsed/minimum = {:.2}", elapsed / theoretical);
    println!("  throughput {:.0} records/s; CPU used by connector + in-process simulator {cpu:.2} s ({:.1} us/record); load average {}", records as f64 / elapsed, cpu * 1e6 / records as f64, load.split_whitespace().next().unwrap_or("?"));
    println!("  memory: resident after seeding the in-process simulator {rss_seeded:.1} MiB; peak resident {peak:.1} MiB; peak above the seeded simulator {:.1} MiB", peak - rss_seeded);
}
