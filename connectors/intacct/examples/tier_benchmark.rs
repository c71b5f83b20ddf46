//! Benchmark: two tenants on 5 and 20 requests-per-second tiers read at the same time
//! through one shared engine and governor. Prints each tenant's achieved request rate as a
//! ratio to its tier (target >= 0.9) and the number of 429 answers after warm-up (target 0),
//! then the same for a tenant whose tier is unknown and learned from 429 answers.
//!
//! Run: cargo run --release -p connector-intacct --example tier_benchmark [seconds]

use connector_core::domain::{ConnectionId, Environment, TenantId};
use connector_core::{Connection, ConnectionConfig, Credentials, Engine, ReadRequest};
use connector_intacct::simulator::{SimConfig, Simulator};
use connector_intacct::IntacctConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn conn(
    url: &str,
    engine: Engine,
    company: &str,
    pw: &str,
    tier: Option<f64>,
) -> Arc<IntacctConnection> {
    let mut settings: std::collections::BTreeMap<String, serde_json::Value> =
        [("allow_loopback".to_string(), serde_json::json!(true))]
            .into_iter()
            .collect();
    if let Some(t) = tier {
        settings.insert("tier_rps".into(), serde_json::json!(t));
    }
    let cfg = ConnectionConfig {
        tenant: TenantId(company.to_lowercase()),
        connection: ConnectionId("bench".into()),
        environment: Environment::Production,
        base_url: Some(url.to_string()),
        settings,
        credentials: Credentials::new("web_services_user")
            .with("sender_id", "switchyard")
            .with("sender_password", "sender-secret")
            .with("company_id", company)
            .with("user_id", "ws_user")
            .with("user_password", pw),
    };
    Arc::new(IntacctConnection::new(cfg, engine).expect("config is valid"))
}

/// Reads pages back to back for `secs`; returns (requests after warm-up, seconds measured).
async fn drive(c: Arc<IntacctConnection>, secs: f64, warm: f64, workers: usize) -> (u64, f64) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut cursor = None;
            while start.elapsed().as_secs_f64() < secs {
                let p = c
                    .read_page(ReadRequest {
                        object: "VENDOR".into(),
                        cursor: cursor.clone(),
                        page_size: 5,
                    })
                    .await;
                // A request counts once it finished after warm-up.
                if start.elapsed().as_secs_f64() >= warm {
                    n += 1;
                }
                match p {
                    Ok(p) => cursor = p.next,
                    Err(e) => {
                        eprintln!("read failed: {e}");
                        cursor = None;
                    }
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    (total, secs - warm)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(8.0);
    let warm = 1.0;
    let sim = Simulator::new(SimConfig::demo()).unwrap();
    let (url, _h) = sim.serve().await.unwrap();
    // Login and discovery requests count too; sessions are opened before measuring.
    let engine = Engine::in_process();
    let a = conn(&url, engine.clone(), "BUILDCO", "user-secret", Some(5.0));
    let b = conn(
        &url,
        engine.clone(),
        "CAREHEALTH",
        "care-secret",
        Some(20.0),
    );
    a.check().await.unwrap();
    b.check().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (a0, b0) = (
        sim.company_stats("BUILDCO"),
        sim.company_stats("CAREHEALTH"),
    );
    let ha = tokio::spawn(drive(a.clone(), secs, warm, 2));
    let hb = tokio::spawn(drive(b.clone(), secs, warm, 2));
    // 429s are counted from the end of warm-up.
    tokio::time::sleep(Duration::from_secs_f64(warm)).await;
    let (a1, b1) = (
        sim.company_stats("BUILDCO"),
        sim.company_stats("CAREHEALTH"),
    );
    let t1 = Instant::now();
    // The simulator counts the requests it received, so the rate is measured at the ERP.
    tokio::time::sleep(Duration::from_secs_f64(secs - warm - 0.5)).await;
    let (a2, b2) = (
        sim.company_stats("BUILDCO"),
        sim.company_stats("CAREHEALTH"),
    );
    let t = t1.elapsed().as_secs_f64();
    let _ = (ha.await.unwrap(), hb.await.unwrap(), a0, b0);
    for (name, tier, s1, s2) in [("BUILDCO", 5.0, a1, a2), ("CAREHEALTH", 20.0, b1, b2)] {
        let rate = (s2.0 - s1.0) as f64 / t;
        println!(
            "tenant {name:<11} tier {tier:>4.0} rps  achieved {rate:>6.2} rps  ratio {:.3} (target >= 0.90)  429s after warm-up {} (target 0)",
            rate / tier,
            s2.1 - s1.1
        );
    }

    // Unknown tier: the governor learns the rate from 429 answers.
    let sim2 = Simulator::new(SimConfig::demo()).unwrap();
    let (url2, _h2) = sim2.serve().await.unwrap();
    let engine2 = Engine::in_process();
    let c = conn(&url2, engine2.clone(), "CAREHEALTH", "care-secret", None);
    c.check().await.unwrap();
    let learn_warm = secs.max(4.0) / 2.0;
    let h = tokio::spawn(drive(c.clone(), secs.max(4.0), learn_warm, 4));
    tokio::time::sleep(Duration::from_secs_f64(learn_warm)).await;
    let s1 = sim2.company_stats("CAREHEALTH");
    let t1 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs.max(4.0) - learn_warm - 0.5)).await;
    let s2 = sim2.company_stats("CAREHEALTH");
    let t = t1.elapsed().as_secs_f64();
    let _ = h.await.unwrap();
    // Accepted requests only: a 429 is not useful throughput.
    let rate = ((s2.0 - s1.0) - (s2.1 - s1.1)) as f64 / t;
    println!(
        "tenant CAREHEALTH tier unknown (really 20 rps, learned)  achieved {rate:>6.2} rps  ratio {:.3}  429s before learning settled {}  after {}",
        rate / 20.0,
        s1.1,
        s2.1 - s1.1
    );
}
