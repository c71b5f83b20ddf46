//! Conformance of the SAP B1 simulator and connector: the independent b1sl-python client
//! against the simulator, and the connector's protocol-level behaviour.

mod common;

use connector_sap_b1::simulator::{SimConfig, Simulator, SystemClock};
use std::process::Command;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_b1sl_python_client_works_unchanged_against_the_simulator() {
    let sim = Simulator::new(SimConfig::demo(), Arc::new(SystemClock));
    let (base, _task) = sim.serve().await.expect("bind");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/b1sl_check.py");
    let out = tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(&base).output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("python3 could not be started ({e}); install python3 and pip install -r connectors/sap_b1/conformance/requirements.txt"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "b1sl-python check failed (exit {:?}).\nstdout: {stdout}\nstderr: {}",
        out.status.code(),
        stderr
            .chars()
            .rev()
            .take(3000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("script prints JSON");
    assert_eq!(v["v2_bp_count"], 20);
    assert_eq!(v["v1_bp_count"], 20);
    // The simulator saw what the client claims: logins happened and the creates landed.
    let stats = sim.stats();
    assert!(stats.logins >= 5, "{stats:?}");
    assert!(stats.batches >= 2, "{stats:?}");
    let orders = sim.rows("SBODEMOUS", "Orders");
    assert!(orders
        .iter()
        .any(|o| o["NumAtCard"] == "PY-v2-1" && o["U_ProjectCode"] == "PRJ-42"));
    assert!(orders.iter().any(|o| o["NumAtCard"] == "PY-v1-1"));
    let items = sim.rows("SBODEMOUS", "Items");
    assert!(items.iter().any(|i| i["ItemCode"] == "PYB-2"));
    assert!(
        !items.iter().any(|i| i["ItemCode"] == "PYB-1"),
        "rolled-back create persisted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_core_conformance_suite_passes() {
    let report = connector_core::conformance::run_all(&common::SapHarness).await;
    println!("{report}");
    report.assert_all_passed();
}
