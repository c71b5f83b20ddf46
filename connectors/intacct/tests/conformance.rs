//! Conformance of the simulator and connector: an independent client library from PyPI
//! (fylein's sageintacctsdk) runs unchanged against the simulator.

use connector_intacct::simulator::Simulator;
use std::process::Command;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_sageintacctsdk_works_against_the_simulator() {
    let sim = Simulator::demo();
    // The SDK does not back off; the tier limit is exercised by the governor tests instead.
    sim.set_tier("BUILDCO", None);
    let (url, _h) = sim.serve().await.unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/sageintacctsdk_check.py"
    );
    let probe = Command::new(python())
        .args(["-c", "import sageintacctsdk, xmltodict, requests"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for this test ({e}); install it and `pip install -r connectors/intacct/conformance/requirements.txt`"));
    assert!(
        probe.status.success(),
        "the third-party client is missing: run `pip install -r connectors/intacct/conformance/requirements.txt` ({})",
        String::from_utf8_lossy(&probe.stderr)
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .args([
                &url,
                "switchyard",
                "sender-secret",
                "BUILDCO",
                "ws_user",
                "user-secret",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "sageintacctsdk script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Session: a real-looking opaque id and the simulator's own endpoint.
    assert!(v["session_id"].as_str().unwrap().ends_with(".."));
    assert!(v["session_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));

    // query paging saw exactly the vendors visible at the top level (private LAB hidden),
    // as they were before the script created its own vendor.
    let mut all = sim.records("BUILDCO", "VENDOR");
    all.retain(|(_, f)| f["VENDORID"] != "PYV0001");
    let visible: Vec<String> = all
        .iter()
        .filter(|(_, f)| f.get("MEGAENTITYID").map(String::as_str) != Some("LAB"))
        .map(|(_, f)| f["VENDORID"].clone())
        .collect();
    assert!(
        visible.len() < all.len(),
        "the scenario must hide some private records"
    );
    assert_eq!(v["vendor_count"].as_u64().unwrap() as usize, visible.len());
    let ids: Vec<String> = serde_json::from_value(v["vendor_ids"].clone()).unwrap();
    assert_eq!(ids, visible);
    let active = all
        .iter()
        .filter(|(_, f)| f.get("MEGAENTITYID").map(String::as_str) != Some("LAB"))
        .filter(|(_, f)| f["STATUS"] == "active")
        .count();
    assert_eq!(v["active_count"].as_u64().unwrap() as usize, active);

    // readByQuery with the raw code 'T' finds the active customers.
    let customers = sim.records("BUILDCO", "CUSTOMER");
    let active_c = customers
        .iter()
        .filter(|(_, f)| f.get("MEGAENTITYID").map(String::as_str) != Some("LAB"))
        .filter(|(_, f)| f["STATUS"] == "active")
        .count();
    assert_eq!(v["rbq_totalcount"].as_u64().unwrap() as usize, active_c);
    assert_eq!(
        v["rbq_count"].as_u64().unwrap() as usize,
        active_c.min(1000)
    );

    // create: the record exists in the simulator with the RECORDNO the SDK received.
    let recno: u64 = v["created"]["RECORDNO"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["created"]["VENDORID"], "PYV0001");
    let rec = sim
        .records("BUILDCO", "VENDOR")
        .into_iter()
        .find(|(n, _)| *n == recno)
        .expect("created vendor is stored");
    assert_eq!(rec.1["NAME"], "Python SDK Vendor");
    assert_eq!(rec.1["DISPLAYCONTACT.EMAIL1"], "py@vendor.example");
    assert_eq!(
        v["duplicate_error"],
        serde_json::json!(["BL34000061", "BL01001973"])
    );

    // Schema and dimensions, as the SDK reads them.
    let lf: Vec<String> = serde_json::from_value(v["lookup_fields"].clone()).unwrap();
    assert!(lf.contains(&"VENDORID".to_string()) && lf.contains(&"WHENMODIFIED".to_string()));
    let dims: Vec<(String, String)> = serde_json::from_value(v["dimensions"].clone()).unwrap();
    assert!(dims.contains(&("jobsite".to_string(), "true".to_string())));
    assert!(dims.contains(&("DEPARTMENT".to_string(), "false".to_string())));
    assert_eq!(
        v["bad_sender"],
        "Incorrect Intacct XML Partner ID or password."
    );
}

mod core_suite {
    use connector_core::conformance::{
        run_all, Creds, Expect, FaultCase, Harness, Op, SimUnderTest,
    };
    use connector_core::domain::{ConnectionId, Environment, ErrorClass, TenantId};
    use connector_core::{async_trait, ConnectionConfig, Credentials, ErpConnector, TestClock};
    use connector_intacct::simulator::config::{
        CompanyConfig, SenderConfig, SimConfig, UserConfig,
    };
    use connector_intacct::simulator::Simulator;
    use std::collections::BTreeMap;
    use std::time::Duration;

    struct H;

    struct Sut {
        sim: Simulator,
        url: String,
        clock: TestClock,
        _server: tokio::task::JoinHandle<()>,
    }

    fn config(records: usize) -> SimConfig {
        SimConfig {
            senders: vec![SenderConfig {
                id: "switchyard".into(),
                password: "sender-secret".into(),
            }],
            companies: vec![CompanyConfig {
                id: "CONF".into(),
                tier_rps: None,
                burst: None,
                max_in_flight: None,
                authorized_senders: vec!["switchyard".into()],
                entities: vec![],
                users: vec![UserConfig {
                    id: "ws_user".into(),
                    password: "user-secret".into(),
                    entities: None,
                    session_minutes: 60,
                    denied: vec![],
                }],
                udds: vec![],
                required: BTreeMap::new(),
                term_labels: BTreeMap::new(),
                seed: [("VENDOR".to_string(), records)].into_iter().collect(),
                latency: Default::default(),
            }],
            result_id_ttl_secs: 3600,
        }
    }

    #[async_trait]
    impl SimUnderTest for Sut {
        fn config(&self, creds: Creds) -> ConnectionConfig {
            let pw = match creds {
                Creds::Good => "user-secret",
                Creds::Bad => "wrong-password",
            };
            ConnectionConfig {
                tenant: TenantId("conf-tenant".into()),
                connection: ConnectionId("conf-conn".into()),
                environment: Environment::Production,
                base_url: Some(self.url.clone()),
                settings: [("allow_loopback".to_string(), serde_json::json!(true))]
                    .into_iter()
                    .collect(),
                credentials: Credentials::new("web_services_user")
                    .with("sender_id", "switchyard")
                    .with("sender_password", "sender-secret")
                    .with("company_id", "CONF")
                    .with("user_id", "ws_user")
                    .with("user_password", pw),
            }
        }
        async fn revoke(&self) -> Result<(), String> {
            self.sim.revoke_sender("CONF", "switchyard");
            Ok(())
        }
        async fn inject_changes(&self, object: &str, count: usize) -> Result<Vec<String>, String> {
            let recs = self.sim.records("CONF", object);
            let mut out = vec![];
            for (n, _) in recs.iter().take(count) {
                self.sim.touch(
                    "CONF",
                    object,
                    *n,
                    "DISPLAYCONTACT.EMAIL2",
                    "changed@example.com",
                );
                out.push(n.to_string());
            }
            Ok(out)
        }
        async fn set_fault(&self, fault: &str, value: serde_json::Value) -> Result<(), String> {
            self.sim.set_fault("CONF", fault, &value)
        }
        fn advance_clock(&self, by: Duration) {
            self.clock.advance(by);
        }
    }

    #[async_trait]
    impl Harness for H {
        fn connector(&self) -> &'static dyn ErpConnector {
            connector_intacct::connector()
        }
        fn read_object(&self) -> String {
            "VENDOR".into()
        }
        fn write_object(&self) -> String {
            "VENDOR".into()
        }
        fn new_record(&self, n: usize) -> BTreeMap<String, serde_json::Value> {
            [
                ("VENDORID", format!("CONF{n:04}")),
                ("NAME", format!("Conformance vendor {n}")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect()
        }
        fn invalid_record(&self) -> Option<BTreeMap<String, serde_json::Value>> {
            // VENDORID is required: discovery knows it, so validation refuses the item.
            Some(
                [("NAME".to_string(), serde_json::json!("No id"))]
                    .into_iter()
                    .collect(),
            )
        }
        fn fault_cases(&self) -> Vec<FaultCase> {
            vec![
                FaultCase {
                    name: "gateway_5xx",
                    fault: "error_5xx_every",
                    on: serde_json::json!(1),
                    op: Op::Read,
                    parallel: 1,
                    advance_clock: None,
                    warm_up: false,
                    expect: Expect::Class(ErrorClass::Retry),
                },
                FaultCase {
                    name: "sender_revoked",
                    fault: "revoked",
                    on: serde_json::json!(true),
                    op: Op::Check,
                    parallel: 1,
                    advance_clock: None,
                    warm_up: true,
                    expect: Expect::Class(ErrorClass::Reauthenticate),
                },
                FaultCase {
                    name: "session_expires_on_the_clock",
                    fault: "idle_timeout_secs",
                    on: serde_json::json!(60),
                    op: Op::Read,
                    parallel: 2,
                    advance_clock: Some(Duration::from_secs(120)),
                    warm_up: true,
                    expect: Expect::Recovers,
                },
            ]
        }
        async fn start(&self, records: usize) -> Result<Box<dyn SimUnderTest>, String> {
            let clock = TestClock::new();
            let sim = Simulator::with_clock(config(records), clock.shared())?;
            let (url, h) = sim.serve().await.map_err(|e| e.to_string())?;
            Ok(Box::new(Sut {
                sim,
                url,
                clock,
                _server: h,
            }))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connector_core_conformance_suite_passes() {
        let report = run_all(&H).await;
        println!("{report}");
        report.assert_all_passed();
    }
}

#[tokio::test]
async fn default_scenario_builds_and_its_tenant_connects() {
    use connector_core::domain::ErpKind;
    use connector_core::{Scenario, TestClock};
    let scenario = Scenario::default_scenario();
    let section = scenario.section(ErpKind::Intacct);
    let inst = connector_intacct::simulator()
        .router(&section, TestClock::new().shared())
        .expect("default scenario builds");
    let running = connector_core::sim::serve(inst.router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let t = section.tenant("initech").unwrap();
    let mut creds = connector_core::Credentials::new("web_services_user");
    for (k, v) in &t.credentials {
        creds.insert(k.clone(), v.clone());
    }
    let cfg = connector_core::ConnectionConfig {
        tenant: connector_core::domain::TenantId("initech".into()),
        connection: connector_core::domain::ConnectionId("c".into()),
        environment: t.environment,
        base_url: Some(running.base_url.clone()),
        settings: [("allow_loopback".to_string(), serde_json::json!(true))]
            .into_iter()
            .collect(),
        credentials: creds,
    };
    let conn = connector_intacct::connector()
        .connect(cfg, connector_core::Engine::in_process())
        .unwrap();
    assert!(conn
        .check()
        .await
        .unwrap()
        .account_label
        .contains("INITECH"));
    let ids = inst.control.inject_changes("initech", "VENDOR", 2).unwrap();
    assert_eq!(ids.len(), 2);
    assert!(inst
        .control
        .set_fault("initech", "no_such_fault", serde_json::json!(1))
        .is_err());
    // A typo in the intacct section is reported with its path.
    let bad = Scenario::parse(
        "bad.yaml",
        "tenants: []\nerps:\n  intacct:\n    compnies: {}\n",
    )
    .unwrap();
    let err = connector_intacct::simulator()
        .router(&bad.section(ErpKind::Intacct), TestClock::new().shared())
        .err()
        .expect("typo refused");
    assert!(err.to_string().contains("compnies"), "{err}");
}
