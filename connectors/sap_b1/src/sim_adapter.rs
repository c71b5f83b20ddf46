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
