//! Plugs the Service Layer simulator into connector-core's harness: builds company
//! databases from a scenario's `sap_b1` tenants and `erps.sap_b1` section, takes time from
//! the harness clock, and exposes fault switches, revocation and change injection.

use crate::simulator::config::{ApprovalConfig, CompanyConfig, SeedConfig, UserConfig};
use crate::simulator::store::Key;
use crate::simulator::{
    CompanyKnobs, ErrorKind, Faults, SimClock, SimConfig, SimHandle, Simulator,
};
use connector_core::domain::ErpKind;
use connector_core::{
    ErpSimulator, ScenarioError, ScenarioSection, SharedClock, SimControl, SimInstance,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub struct SapB1Simulator;

pub static SIMULATOR: SapB1Simulator = SapB1Simulator;

/// The harness clock seen as the simulator's clock.
pub struct CoreClock(pub SharedClock);

impl SimClock for CoreClock {
    fn now(&self) -> chrono::NaiveDateTime {
        self.0.now().naive_utc()
    }
}

/// Builds a simulator configuration from a scenario section: the `erps.sap_b1` section
/// (a full [`SimConfig`]) when present, plus one company database per `sap_b1` tenant.
pub fn config_from(
    section: &ScenarioSection,
) -> Result<(SimConfig, BTreeMap<String, String>), ScenarioError> {
    let mut cfg: SimConfig = section.parse::<SimConfig>()?.unwrap_or_default();
    let mut tenants = BTreeMap::new();
    for t in &section.tenants {
        let db = t
            .credentials
            .get("company_db")
            .cloned()
            .unwrap_or_else(|| t.id.to_uppercase());
        let user = t
            .credentials
            .get("username")
            .cloned()
            .unwrap_or_else(|| "manager".into());
        let password = t.credentials.get("password").cloned().ok_or_else(|| {
            ScenarioError::new(
                &section.file,
                format!(
                    "tenant {}: credentials.password is required for sap_b1",
                    t.id
                ),
            )
        })?;
        tenants.insert(t.id.clone(), db.to_uppercase());
        let idx = match cfg
            .companies
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(&db))
        {
            Some(i) => i,
            None => {
                let v = t.volume as usize;
                cfg.companies.push(CompanyConfig {
                    name: db.clone(),
                    users: vec![UserConfig {
                        name: user.clone(),
                        password,
                        id: 1,
                    }],
                    seed: SeedConfig {
                        business_partners: v.max(1),
                        items: v.max(1),
                        orders: v,
                        invoices: v,
                        purchase_orders: v / 2,
                        journal_entries: v / 2,
                        ..SeedConfig::default()
                    },
                    approvals: if t.faults.approvals {
                        vec![ApprovalConfig {
                            name: "All orders".into(),
                            documents: vec!["Orders".into()],
                            min_total: None,
                            approver: user,
                        }]
                    } else {
                        vec![]
                    },
                    ..CompanyConfig::default()
                });
                cfg.companies.len() - 1
            }
        };
        // The tenant's latency and faults are its company's alone: other tenants on this
        // simulator keep the server-wide conditions.
        let server_faults = cfg.faults.clone();
        let server_latency = cfg.latency.clone();
        let company = &mut cfg.companies[idx];
        if let Some(s) = t.faults.idle_timeout_secs {
            company.session_timeout_minutes = Some(s.div_ceil(60).max(1) as u32);
        }
        if let Some(n) = t.faults.error_5xx_every {
            let f = company.faults.get_or_insert(server_faults);
            f.error_every = (n > 0).then_some(n as u64);
        }
        if let Some(n) = t.faults.concurrency_limit {
            company.max_sessions_per_user = Some(n as usize);
        }
        if t.latency_ms > 0 {
            let l = company.latency.get_or_insert(server_latency);
            l.request_ms = l.request_ms.max(t.latency_ms);
        }
    }
    Ok((cfg, tenants))
}

impl ErpSimulator for SapB1Simulator {
    fn kind(&self) -> ErpKind {
        ErpKind::SapB1
    }

    fn router(
        &self,
        section: &ScenarioSection,
        clock: SharedClock,
    ) -> Result<SimInstance, ScenarioError> {
        let (cfg, tenants) = config_from(section)?;
        let sim = Simulator::new(cfg, Arc::new(CoreClock(clock)));
        let control = Control::new(sim.clone(), tenants);
        for t in section.tenants.iter().filter(|t| t.faults.revoked) {
            control
                .set_fault(&t.id, "revoked", Value::Bool(true))
                .map_err(|e| ScenarioError::new(&section.file, format!("tenant {}: {e}", t.id)))?;
        }
        Ok(SimInstance {
            router: sim.router(),
            control: Arc::new(control),
        })
    }
}

/// The control handle for one running simulator.
pub struct Control {
    pub sim: SimHandle,
    /// Scenario tenant id -> company database.
    pub tenants: BTreeMap<String, String>,
    bumps: Mutex<u64>,
}

impl Control {
    pub fn new(sim: SimHandle, tenants: BTreeMap<String, String>) -> Control {
        Control {
            sim,
            tenants,
            bumps: Mutex::new(0),
        }
    }

    /// Changes one company's overrides; the other companies keep theirs.
    fn knobs(&self, company: &str, f: impl FnOnce(&mut CompanyKnobs)) -> Result<(), String> {
        if self.sim.update_company(company, f) {
            Ok(())
        } else {
            Err(format!("unknown company '{company}'"))
        }
    }

    /// Changes one company's faults, starting from the server-wide ones when the company
    /// had none of its own.
    fn faults(&self, company: &str, f: impl FnOnce(&mut Faults)) -> Result<(), String> {
        let server = self.sim.faults();
        self.knobs(company, |k| f(k.faults.get_or_insert(server)))
    }

    fn company(&self, tenant: &str) -> Result<String, String> {
        self.tenants
            .get(tenant)
            .cloned()
            .ok_or_else(|| format!("unknown sap_b1 tenant '{tenant}'"))
    }
}

impl SimControl for Control {
    fn set_fault(&self, tenant: &str, fault: &str, value: Value) -> Result<(), String> {
        let company = self.company(tenant)?;
        let num = || {
            value
                .as_u64()
                .ok_or_else(|| format!("fault {fault} needs a number, got {value}"))
        };
        match fault {
            "revoked" => {
                if value.as_bool().unwrap_or(false) {
                    self.sim.with_company(&company, |c| {
                        for u in c.users.values_mut() {
                            u.0 = format!("revoked-{}", uuid::Uuid::new_v4());
                        }
                    });
                    self.sim.expire_company_sessions(&company);
                }
                Ok(())
            }
            "error_5xx_every" => {
                let n = num()?;
                self.faults(&company, |f| {
                    f.error_every = (n > 0).then_some(n);
                    f.error_kind = ErrorKind::ProxyError502;
                })
            }
            "error_burst" => {
                let n = num()?;
                self.faults(&company, |f| f.error_burst = n)
            }
            "expire_every" => {
                let n = num()?;
                self.faults(&company, |f| f.expire_every = (n > 0).then_some(n))
            }
            "slow_ms" => {
                let n = num()?;
                self.faults(&company, |f| f.slow_ms = n)
            }
            "idle_timeout_secs" => {
                let n = num()?;
                self.knobs(&company, |k| {
                    k.session_timeout_minutes = Some(n.div_ceil(60).max(1) as u32)
                })
            }
            "latency_ms" => {
                let n = num()?;
                let server = self.sim.latency();
                self.knobs(&company, |k| {
                    k.latency.get_or_insert(server).request_ms = n;
                })
            }
            "concurrency_limit" => {
                let n = num()?;
                // Zero lifts this company's limit; it does not fall back to the server's.
                self.knobs(&company, |k| {
                    k.max_sessions_per_user = Some(if n > 0 { n as usize } else { usize::MAX })
                })
            }
            "approvals" => {
                let on = value.as_bool().unwrap_or(false);
                self.sim.with_company(&company, |c| {
                    c.approvals = if on {
                        vec![ApprovalConfig {
                            name: "All orders".into(),
                            documents: vec!["Orders".into()],
                            min_total: None,
                            approver: "manager".into(),
                        }]
                    } else {
                        vec![]
                    };
                });
                Ok(())
            }
            "expire_sessions" => {
                self.sim.expire_company_sessions(&company);
                Ok(())
            }
            other => Err(format!("unknown sap_b1 fault '{other}'")),
        }
    }

    fn inject_changes(
        &self,
        tenant: &str,
        object: &str,
        count: usize,
    ) -> Result<Vec<String>, String> {
        let company = self.company(tenant)?;
        let now = self.sim.now();
        let mut bump = self.bumps.lock().unwrap_or_else(|e| e.into_inner());
        *bump += 1;
        let tag = *bump;
        self.sim
            .with_company(&company, |c| {
                let def = c
                    .def(object)
                    .cloned()
                    .ok_or_else(|| format!("unknown object '{object}'"))?;
                let keys: Vec<Key> = c
                    .tables
                    .get(&def.set)
                    .map(|t| t.keys().take(count).cloned().collect())
                    .unwrap_or_default();
                if keys.len() < count {
                    return Err(format!("{object} has only {} records", keys.len()));
                }
                let mut ids = Vec::new();
                for k in keys {
                    let mut row = c
                        .tables
                        .get(&def.set)
                        .and_then(|t| t.get(&k))
                        .cloned()
                        .unwrap_or_default();
                    let field = if def.prop("Comments").is_some() {
                        "Comments"
                    } else if def.prop("CardName").is_some() {
                        "CardName"
                    } else {
                        "Name"
                    };
                    row.insert(field.into(), json!(format!("changed #{tag}")));
                    crate::simulator::store::stamp(&mut row, now, &def);
                    ids.push(match &k {
                        Key::Int(i) => i.to_string(),
                        Key::Str(s) => s.clone(),
                    });
                    c.put(&def.set, k, Some(row));
                }
                Ok(ids)
            })
            .ok_or_else(|| format!("unknown company '{company}'"))?
    }

    fn describe(&self) -> Value {
        json!({"erp": "sap_b1", "paths": ["/b1s/v1", "/b1s/v2"], "tenants": self.tenants})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::Scenario;

    fn section(text: &str) -> ScenarioSection {
        Scenario::parse("scen.yaml", text)
            .expect("scenario parses")
            .section(ErpKind::SapB1)
    }

    const GOOD: &str = "\
name: two sap tenants
tenants:
  - id: globex
    erp: sap_b1
    volume: 4
    latency_ms: 250
    credentials: { company_db: sbodemous, username: manager, password: pw1 }
    faults: { idle_timeout_secs: 90, error_5xx_every: 3, concurrency_limit: 2 }
  - id: hooli
    erp: sap_b1
    volume: 6
    credentials: { username: boss, password: pw2 }
  - id: other
    erp: netsuite
erps:
  sap_b1:
    page_size: 7
    companies:
      - name: SBODEMOUS
        users: [{ name: manager, password: from-section, id: 1 }]
        latency: { request_ms: 20, login_ms: 5 }
";

    #[test]
    fn a_good_section_gives_each_tenant_its_own_company_conditions() {
        let (cfg, tenants) = config_from(&section(GOOD)).expect("valid section");
        assert_eq!(
            tenants,
            BTreeMap::from([
                ("globex".to_string(), "SBODEMOUS".to_string()),
                ("hooli".to_string(), "HOOLI".to_string()),
            ])
        );
        assert_eq!(cfg.page_size, 7);
        // The server-wide knobs are untouched by the tenants' faults and latency.
        assert_eq!(cfg.session_timeout_minutes, 30);
        assert_eq!(cfg.faults, Faults::default());
        assert_eq!(cfg.latency.request_ms, 0);
        assert_eq!(cfg.max_sessions_per_user, None);
        assert_eq!(cfg.companies.len(), 2);

        let globex = &cfg.companies[0];
        assert_eq!(globex.name, "SBODEMOUS");
        // The section's company is used as written; the tenant adds its conditions.
        assert_eq!(globex.users[0].password, "from-section");
        assert_eq!(globex.session_timeout_minutes, Some(2), "90 s rounds up");
        assert_eq!(globex.max_sessions_per_user, Some(2));
        assert_eq!(globex.faults.as_ref().unwrap().error_every, Some(3));
        let lat = globex.latency.as_ref().unwrap();
        assert_eq!((lat.request_ms, lat.login_ms), (250, 5));

        let hooli = &cfg.companies[1];
        assert_eq!(hooli.name, "hooli".to_uppercase());
        assert_eq!(hooli.users[0].name, "boss");
        assert_eq!(hooli.users[0].password, "pw2");
        assert_eq!(hooli.seed.orders, 6);
        assert_eq!(hooli.seed.purchase_orders, 3);
        assert_eq!(hooli.latency, None);
        assert_eq!(hooli.faults, None);
        assert_eq!(hooli.session_timeout_minutes, None);
        assert_eq!(hooli.max_sessions_per_user, None);
    }

    #[test]
    fn set_fault_changes_only_the_named_tenants_company() {
        let (cfg, tenants) = config_from(&section(GOOD)).unwrap();
        let sim = Simulator::new(
            cfg,
            crate::simulator::ManualClock::at("2024-06-01T12:00:00"),
        );
        let control = Control::new(sim.clone(), tenants);
        control
            .set_fault("hooli", "expire_every", json!(2))
            .unwrap();
        control.set_fault("hooli", "slow_ms", json!(300)).unwrap();
        control.set_fault("hooli", "latency_ms", json!(40)).unwrap();
        let h = sim.company_knobs("HOOLI").unwrap();
        let f = h.faults.unwrap();
        assert_eq!((f.expire_every, f.slow_ms), (Some(2), 300));
        assert_eq!(h.latency.unwrap().request_ms, 40);
        let g = sim.company_knobs("SBODEMOUS").unwrap();
        assert_eq!(g.faults.unwrap().expire_every, None);
        assert_eq!(g.latency.unwrap().request_ms, 250);
        assert_eq!(
            sim.faults(),
            Faults::default(),
            "server-wide faults unchanged"
        );
        assert!(control
            .set_fault("nobody", "slow_ms", json!(1))
            .unwrap_err()
            .contains("unknown sap_b1 tenant 'nobody'"));
        assert!(control
            .set_fault("hooli", "slow_ms", json!("fast"))
            .unwrap_err()
            .contains("needs a number"));
        assert!(control
            .set_fault("hooli", "meteor", json!(1))
            .unwrap_err()
            .contains("unknown sap_b1 fault 'meteor'"));
    }

    #[test]
    fn a_misspelt_field_is_an_error_naming_file_line_and_field() {
        let text = "\
tenants: []
erps:
  sap_b1:
    companies:
      - name: SBODEMOUS
        latency: { request_ms: 5 }
        fautls: { slow_ms: 10 }
";
        let e = config_from(&section(text)).unwrap_err();
        assert_eq!(e.file, "scen.yaml");
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("fautls"), "{e}");
        assert!(e.message.contains("companies[0]"), "{e}");
        assert!(e.to_string().starts_with("scen.yaml:7:"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_value_is_an_error_naming_its_path() {
        let text = "\
tenants: []
erps:
  sap_b1:
    companies:
      - name: SBODEMOUS
        faults:
          error_kind: teapot_418
";
        let e = config_from(&section(text)).unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("companies[0].faults.error_kind"), "{e}");
        assert!(e.message.contains("teapot_418"), "{e}");
    }

    #[test]
    fn a_tenant_without_a_password_is_an_error_naming_the_tenant() {
        let text = "\
tenants:
  - id: initrode
    erp: sap_b1
    credentials: { company_db: SBOINI, username: manager }
";
        let e = config_from(&section(text)).unwrap_err();
        assert_eq!(e.file, "scen.yaml");
        assert!(
            e.message
                .contains("tenant initrode: credentials.password is required"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_tenant_revoked_from_the_start_cannot_log_in_but_the_others_can() {
        use tower::ServiceExt;
        let text = "\
tenants:
  - id: revoked
    erp: sap_b1
    volume: 1
    credentials: { company_db: SBOREV, password: pw }
    faults: { revoked: true }
  - id: fine
    erp: sap_b1
    volume: 1
    credentials: { company_db: SBOFINE, password: pw }
";
        let clock = connector_core::TestClock::at(chrono::Utc::now());
        let inst = SIMULATOR
            .router(&section(text), clock.shared())
            .expect("router");
        assert_eq!(inst.control.describe()["tenants"]["revoked"], "SBOREV");
        for (db, want) in [("SBOREV", 401), ("SBOFINE", 200)] {
            let req = http::Request::builder()
                .method("POST")
                .uri("/b1s/v1/Login")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"CompanyDB": db, "UserName": "manager", "Password": "pw"}).to_string(),
                ))
                .unwrap();
            let resp = inst.router.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status().as_u16(), want, "{db}");
        }
    }
}
