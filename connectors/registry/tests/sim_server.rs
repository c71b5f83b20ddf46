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

/// Parses a `switchyard erp ...` command line the way the binary does.
#[derive(clap::Parser)]
struct ErpCli {
    #[command(flatten)]
    erp: connectors::cli::ErpArgs,
}

fn erp_args(base_url: &str, extra: &[&str]) -> connectors::cli::ErpArgs {
    use clap::Parser;
    let mut argv = vec![
        "switchyard-erp".to_string(),
        "--erp".into(),
        "sap_b1".into(),
        "--tenant".into(),
        "globex".into(),
        "--base-url".into(),
        base_url.into(),
        "--setting".into(),
        "allow_loopback=true".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    ErpCli::try_parse_from(argv).unwrap().erp
}

async fn run(args: &connectors::cli::ErpArgs) -> anyhow::Result<serde_json::Value> {
    connectors::cli::run_erp_with(
        args,
        &connectors::connector,
        connector_core::Engine::in_process(),
    )
    .await
}

/// The operator CLI against the SAP Business One simulator of the default scenario:
/// check, discover (with Globex's UDFs), a paged read and an incremental read from its
/// watermark, and a wrong password, all through the same entry point as the binary.
#[tokio::test]
async fn the_erp_cli_checks_discovers_and_reads_the_sap_b1_simulator() {
    let scenario = connector_core::Scenario::default_scenario();
    let sims = connectors::cli::start_simulators(&scenario, 0)
        .await
        .unwrap();
    let (_, sim, _) = sims
        .iter()
        .find(|(k, _, _)| *k == domain::ErpKind::SapB1)
        .expect("the SAP B1 simulator is registered");
    let base = sim.base_url.to_string();
    let creds = [
        "--credential-kind",
        "service_layer_user",
        "--setting",
        "company_db=SBODEMOUS",
        "--credential",
        "username=manager",
    ];
    let with = |more: &[&str]| -> Vec<String> {
        creds
            .iter()
            .chain(more.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let args = |more: &[&str]| {
        let v = with(more);
        erp_args(&base, &v.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let check = run(&args(&[
        "--credential",
        "password=globex-password",
        "check",
    ]))
    .await
    .unwrap();
    println!("check: {check}");
    let label = check["account_label"].as_str().expect("an account label");
    assert!(label.contains("SBODEMOUS"), "{check}");
    assert!(check["warnings"].is_array(), "{check}");

    let schema = run(&args(&[
        "--credential",
        "password=globex-password",
        "discover",
    ]))
    .await
    .unwrap();
    let objects = schema["objects"].as_array().expect("objects");
    let bp = objects
        .iter()
        .find(|o| o["name"] == "BusinessPartners")
        .unwrap_or_else(|| panic!("no BusinessPartners in {schema}"));
    let fields: Vec<&str> = bp["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // The scenario gives OCRD a mandatory UDF U_Region; discovery must show it.
    assert!(fields.contains(&"CardCode"), "{fields:?}");
    assert!(fields.contains(&"U_Region"), "{fields:?}");
    let region =
        &bp["fields"].as_array().unwrap()[fields.iter().position(|f| *f == "U_Region").unwrap()];
    assert_eq!(region["required"], true, "{region}");
    println!(
        "discover: {} objects, BusinessPartners has {} fields",
        objects.len(),
        fields.len()
    );

    let read = run(&args(&[
        "--credential",
        "password=globex-password",
        "read",
        "--object",
        "BusinessPartners",
        "--page-size",
        "8",
    ]))
    .await
    .unwrap();
    let records = read["records"].as_array().expect("records");
    println!(
        "read: {} records in {} pages, watermark {}",
        read["count"], read["pages"], read["watermark"]
    );
    // The default scenario lists Globex's company without seed sizes, so the simulator
    // seeds its default number of business partners; read 8 at a time until caught up.
    let expected = connector_sap_b1::simulator::config::SeedConfig::default().business_partners;
    assert!(expected > 8, "the read should span several pages");
    assert_eq!(read["count"], expected, "{}", read["count"]);
    assert_eq!(records.len(), expected);
    // The connector may need one more (empty) page to learn it has caught up.
    let pages = read["pages"].as_u64().unwrap() as usize;
    assert!(
        (expected.div_ceil(8)..=expected.div_ceil(8) + 1).contains(&pages),
        "{pages} pages"
    );
    assert!(read["next"].is_null(), "caught up: {}", read["next"]);
    assert!(
        !read["watermark"].is_null(),
        "a caught-up read leaves a watermark"
    );
    let ids: std::collections::BTreeSet<String> = records.iter().map(|r| r.to_string()).collect();
    assert_eq!(ids.len(), expected, "records repeat across pages");
    assert!(
        records.iter().all(|r| r.to_string().contains("C000")),
        "records carry their CardCode: {}",
        records[0]
    );

    // Nothing changed since, so a read from the watermark returns nothing.
    let cursor = read["watermark"].to_string();
    let again = run(&args(&[
        "--credential",
        "password=globex-password",
        "read",
        "--object",
        "BusinessPartners",
        "--cursor",
        &cursor,
    ]))
    .await
    .unwrap();
    assert_eq!(again["count"], 0, "{again}");

    // A wrong password is an authentication error that does not repeat the password.
    let e = run(&args(&[
        "--credential",
        "password=not-the-password",
        "check",
    ]))
    .await
    .unwrap_err();
    let msg = format!("{e:#}");
    println!("bad password: {msg}");
    assert!(!msg.contains("not-the-password"), "{msg}");
    let ce = e
        .downcast_ref::<connector_core::ConnectorError>()
        .unwrap_or_else(|| panic!("not a connector error: {msg}"));
    assert_eq!(ce.code.class(), domain::ErrorClass::Reauthenticate, "{msg}");
    for (_, s, _) in sims {
        s.stop().await;
    }
}
