//! Benchmark: a 10,000-document bulk write in `$batch` change sets of 100 against the
//! simulator with a fixed latency per batch, printing the ratio of elapsed time to the
//! theoretical minimum (batches x batch latency / allowed parallel sessions).
//!
//! Run with `cargo bench -p connector-sap-b1 --bench bulk_write`.

use connector_core::domain::{ConnectionId, Environment, TenantId};
use connector_core::{ConnectionConfig, Credentials, Engine, SystemClock, WriteItem, WriteOp};
use connector_sap_b1::simulator::config::{CompanyConfig, SeedConfig};
use connector_sap_b1::simulator::{Latency, SimConfig, Simulator};
use connector_sap_b1::write::{write_all, WriteOptions};
use connector_sap_b1::SapB1Connection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let docs = 10_000usize;
    let chunk = 100usize;
    let batch_ms = 50u64;
    for parallel in [1usize, 2, 4] {
        let cfg = SimConfig {
            companies: vec![CompanyConfig {
                seed: SeedConfig {
                    business_partners: 10,
                    items: 10,
                    orders: 0,
                    invoices: 0,
                    purchase_orders: 0,
                    journal_entries: 0,
                    ..SeedConfig::default()
                },
                ..CompanyConfig::default()
            }],
            latency: Latency {
                request_ms: batch_ms,
                batch_item_ms: 0,
                login_ms: 0,
            },
            ..SimConfig::default()
        };
        let sim = Simulator::new(cfg, Arc::new(connector_sap_b1::simulator::SystemClock));
        let (base, _task) = sim.serve().await.expect("bind");
        let config = ConnectionConfig {
            tenant: TenantId("bench".into()),
            connection: ConnectionId("bench".into()),
            environment: Environment::Production,
            base_url: Some(base),
            settings: BTreeMap::from([
                ("company_db".to_string(), serde_json::json!("SBODEMOUS")),
                ("allow_loopback".to_string(), serde_json::json!(true)),
                ("sessions".to_string(), serde_json::json!(parallel)),
            ]),
            credentials: Credentials::new("service_layer_user")
                .with("username", "manager")
                .with("password", "1234"),
        };
        let conn = SapB1Connection::with_clock(config, Engine::in_process(), Arc::new(SystemClock))
            .expect("connect");
        let items: Vec<WriteItem> = (0..docs)
            .map(|i| WriteItem {
                idempotency_key: format!("BENCH{parallel}-{i:05}"),
                op: WriteOp::Create,
                external_id: None,
                fields: BTreeMap::from([
                    ("CardCode".to_string(), serde_json::json!(format!("C{:05}", i % 10 + 1))),
                    ("DocumentLines".to_string(), serde_json::json!([{"ItemCode": "A00001", "Quantity": 1, "UnitPrice": 9.5}])),
                ]),
            })
            .collect();
        let start = Instant::now();
        let out = write_all(
            &conn.conn,
            "Invoices",
            &items,
            vec![],
            WriteOptions { chunk, parallel },
            &mut |_| {},
        )
        .await
        .expect("bulk write");
        let elapsed = start.elapsed().as_secs_f64();
        let written = out
            .iter()
            .filter(|o| matches!(o, connector_core::ItemOutcome::Written { .. }))
            .count();
        let batches = docs.div_ceil(chunk) as f64;
        let minimum = batches * (batch_ms as f64 / 1000.0) / parallel as f64;
        println!(
            "bulk_write docs={docs} chunk={chunk} batch_latency_ms={batch_ms} parallel_sessions={parallel} written={written} elapsed_s={elapsed:.3} theoretical_min_s={minimum:.3} ratio={:.3} logins={}",
            elapsed / minimum,
            sim.stats().logins
        );
    }
}
