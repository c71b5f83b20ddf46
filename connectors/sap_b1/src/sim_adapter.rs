//! Plugs the Service Layer simulator into connector-core's harness: builds company
//! databases from a scenario's `sap_b1` tenants and `erps.sap_b1` section, takes time from
//! the harness clock, and exposes fault switches, revocation and change injection.

use crate::simulator::config::{ApprovalConfig, CompanyConfig, SeedConfig, UserConfig};
use crate::simulator::store::Key;
use crate::simulator::{ErrorKind, SimClock, SimConfig, SimHandle, Simulator};
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
        if let Some(s) = t.faults.idle_timeout_secs {
            cfg.session_timeout_minutes = s.div_ceil(60).max(1) as u32;
        }
        if let Some(n) = t.faults.error_5xx_every {
            cfg.faults.error_every = Some(n as u64);
        }
        cfg.latency.request_ms = cfg.latency.request_ms.max(t.latency_ms);
        if cfg
            .companies
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&db))
        {
            continue;
        }
        let v = t.volume as usize;
        cfg.companies.push(CompanyConfig {
            name: db,
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
        Ok(SimInstance {
            router: sim.router(),
            control: Arc::new(Control {
                sim,
                tenants,
                bumps: Mutex::new(0),
            }),
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
                    self.sim.expire_all_sessions();
                }
                Ok(())
            }
            "error_5xx_every" => {
                let n = num()?;
                self.sim.update_config(|c| {
                    c.faults.error_every = (n > 0).then_some(n);
                    c.faults.error_kind = ErrorKind::ProxyError502;
                });
                Ok(())
            }
            "expire_every" => {
                let n = num()?;
                self.sim
                    .update_config(|c| c.faults.expire_every = (n > 0).then_some(n));
                Ok(())
            }
            "idle_timeout_secs" => {
                let n = num()?;
                self.sim
                    .update_config(|c| c.session_timeout_minutes = n.div_ceil(60).max(1) as u32);
                Ok(())
            }
            "latency_ms" => {
                let n = num()?;
                self.sim.update_config(|c| c.latency.request_ms = n);
                Ok(())
            }
            "slow_ms" => {
                let n = num()?;
                self.sim.update_config(|c| c.faults.slow_ms = n);
                Ok(())
            }
            "concurrency_limit" => {
                let n = num()?;
                self.sim
                    .update_config(|c| c.max_sessions_per_user = (n > 0).then_some(n as usize));
                Ok(())
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
                self.sim.expire_all_sessions();
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
