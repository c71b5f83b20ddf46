//! Helpers shared by the integration tests: a simulator on a local port with a test
//! clock, connection configs for it, and the conformance Harness.
#![allow(dead_code)]

use connector_core::conformance::{Creds, Expect, FaultCase, Harness, Op, SimUnderTest};
use connector_core::domain::{ConnectionId, Environment, ErrorClass, TenantId};
use connector_core::{
    async_trait, ConnectionConfig, Credentials, ErpConnector, SimControl, TestClock,
};
use connector_sap_b1::sim_adapter::{Control, CoreClock};
use connector_sap_b1::simulator::config::{CompanyConfig, SeedConfig, UserConfig};
use connector_sap_b1::simulator::{SimConfig, SimHandle, Simulator};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct TestSim {
    pub sim: SimHandle,
    pub clock: TestClock,
    pub base_url: String,
    pub control: Control,
    _task: tokio::task::JoinHandle<()>,
}

pub fn test_clock() -> TestClock {
    TestClock::at(
        chrono::DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
            .unwrap()
            .into(),
    )
}

/// One company database, SBODEMOUS (manager / 1234), seeded as given.
pub fn company(seed: SeedConfig) -> CompanyConfig {
    CompanyConfig {
        name: "SBODEMOUS".into(),
        users: vec![UserConfig {
            name: "manager".into(),
            password: "1234".into(),
            id: 1,
        }],
        seed,
        ..CompanyConfig::default()
    }
}

pub async fn start(cfg: SimConfig) -> TestSim {
    let clock = test_clock();
    let sim = Simulator::new(cfg, Arc::new(CoreClock(clock.shared())));
    let (base_url, task) = sim.serve().await.expect("bind simulator");
    let control = Control::new(
        sim.clone(),
        BTreeMap::from([("acme".to_string(), "SBODEMOUS".to_string())]),
    );
    TestSim {
        sim,
        clock,
        base_url,
        control,
        _task: task,
    }
}

pub fn config(
    base_url: &str,
    company_db: &str,
    user: &str,
    password: &str,
    extra: &[(&str, serde_json::Value)],
) -> ConnectionConfig {
    let mut settings = BTreeMap::from([
        ("company_db".to_string(), serde_json::json!(company_db)),
        ("allow_loopback".to_string(), serde_json::json!(true)),
    ]);
    for (k, v) in extra {
        settings.insert(k.to_string(), v.clone());
    }
    ConnectionConfig {
        tenant: TenantId("acme".into()),
        connection: ConnectionId("acme-sap".into()),
        environment: Environment::Production,
        base_url: Some(base_url.to_string()),
        settings,
        credentials: Credentials::new("service_layer_user")
            .with("username", user)
            .with("password", password),
    }
}

pub struct SapHarness;

#[async_trait]
impl SimUnderTest for TestSim {
    fn config(&self, creds: Creds) -> ConnectionConfig {
        let pw = match creds {
            Creds::Good => "1234",
            Creds::Bad => "not-the-password",
        };
        config(&self.base_url, "SBODEMOUS", "manager", pw, &[])
    }
    async fn revoke(&self) -> Result<(), String> {
        self.control.revoke("acme")
    }
    async fn inject_changes(&self, object: &str, count: usize) -> Result<Vec<String>, String> {
        self.control.inject_changes("acme", object, count)
    }
    async fn set_fault(&self, fault: &str, value: serde_json::Value) -> Result<(), String> {
        self.control.set_fault("acme", fault, value)
    }
    fn advance_clock(&self, by: Duration) {
        self.clock.advance(by)
    }
}

#[async_trait]
impl Harness for SapHarness {
    fn connector(&self) -> &'static dyn ErpConnector {
        connector_sap_b1::connector()
    }
    fn read_object(&self) -> String {
        "Orders".into()
    }
    fn write_object(&self) -> String {
        "Orders".into()
    }
    fn new_record(&self, n: usize) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([
            ("CardCode".to_string(), serde_json::json!("C00001")),
            (
                "DocumentLines".to_string(),
                serde_json::json!([{"ItemCode": "A00001", "Quantity": n + 1, "UnitPrice": 10.0}]),
            ),
        ])
    }
    fn invalid_record(&self) -> Option<BTreeMap<String, serde_json::Value>> {
        Some(BTreeMap::from([
            ("CardCode".to_string(), serde_json::json!("NO-SUCH-BP")),
            (
                "DocumentLines".to_string(),
                serde_json::json!([{"ItemCode": "A00001", "Quantity": 1}]),
            ),
        ]))
    }
    fn fault_cases(&self) -> Vec<FaultCase> {
        vec![
            FaultCase {
                name: "proxy_502_every_request",
                fault: "error_5xx_every",
                on: serde_json::json!(1),
                op: Op::Read,
                parallel: 1,
                advance_clock: None,
                warm_up: false,
                expect: Expect::Class(ErrorClass::Retry),
            },
            FaultCase {
                name: "idle_timeout_relogin",
                fault: "idle_timeout_secs",
                on: serde_json::json!(1800),
                op: Op::Read,
                parallel: 3,
                advance_clock: Some(Duration::from_secs(31 * 60)),
                warm_up: true,
                expect: Expect::Recovers,
            },
            FaultCase {
                name: "session_expires_every_2nd_request",
                fault: "expire_every",
                on: serde_json::json!(2),
                op: Op::Read,
                parallel: 2,
                advance_clock: None,
                warm_up: true,
                expect: Expect::Recovers,
            },
            FaultCase {
                name: "revoked_password",
                fault: "revoked",
                on: serde_json::json!(true),
                op: Op::Check,
                parallel: 1,
                advance_clock: None,
                warm_up: true,
                expect: Expect::Class(ErrorClass::Reauthenticate),
            },
        ]
    }
    async fn start(&self, records: usize) -> Result<Box<dyn SimUnderTest>, String> {
        let seed = SeedConfig {
            orders: records,
            invoices: 0,
            purchase_orders: 0,
            journal_entries: 0,
            business_partners: 5,
            items: 5,
            per_second: 3,
            ..SeedConfig::default()
        };
        Ok(Box::new(
            start(SimConfig {
                companies: vec![company(seed)],
                ..SimConfig::default()
            })
            .await,
        ))
    }
}
