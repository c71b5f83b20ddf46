//! `switchyard sim` starts every registered simulator from the default scenario and each
//! one answers HTTP on its own port.

#[tokio::test]
async fn every_registered_simulator_starts_from_the_default_scenario() {
    let scenario = connectors::cli::load_scenario(None).unwrap();
    let sims = connectors::cli::start_simulators(&scenario, 0)
        .await
        .unwrap();
    assert_eq!(sims.len(), connectors::ERPS.len());
    let mut ports = std::collections::BTreeSet::new();
    for (kind, running, _) in &sims {
        assert!(ports.insert(running.addr.port()), "{kind} shares a port");
        // Any HTTP answer (even 404 for the root path) proves the server is up.
        let r = reqwest::get(format!("{}/", running.base_url)).await;
        assert!(r.is_ok(), "{kind} did not answer: {r:?}");
    }
}

#[test]
fn a_bad_scenario_file_is_reported_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(
        &p,
        "tenants:\n  - id: a\n    erp: sap_b1\n    volume: lots\n",
    )
    .unwrap();
    let e = connectors::cli::load_scenario(Some(&p))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.yaml:4:13: tenants[0].volume: invalid type"),
        "{e}"
    );
}
