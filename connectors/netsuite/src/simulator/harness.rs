//! The simulator as the registry and scenario files see it: `ErpSimulator` over the
//! scenario's NetSuite tenants, and `SimControl` for faults and injected changes.

use super::{AccountSpec, Simulator, SlotGuard, TokenSpec};
use connector_core::domain::ErpKind;
use connector_core::sim::TenantSpec;
use connector_core::{
    ErpSimulator, ScenarioError, ScenarioSection, SharedClock, SimControl, SimInstance,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct NetsuiteSim;
pub static SIMULATOR: NetsuiteSim = NetsuiteSim;

/// The `erps.netsuite` section: per-account customizations keyed by account id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsSection {
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
}

/// Maps scenario tenants to accounts and implements the test controls.
pub struct Control {
    pub sim: Simulator,
    /// tenant id -> (account id, token id)
    pub tenants: HashMap<String, (String, String)>,
    held: Mutex<HashMap<String, SlotGuard>>,
}

fn tenant_account(t: &TenantSpec) -> String {
    t.credentials
        .get("account")
        .cloned()
        .unwrap_or_else(|| "1234567".into())
}

impl ErpSimulator for NetsuiteSim {
    fn kind(&self) -> ErpKind {
        ErpKind::Netsuite
    }

    fn router(
        &self,
        section: &ScenarioSection,
        clock: SharedClock,
    ) -> Result<SimInstance, ScenarioError> {
        let own: NsSection = section.parse()?.unwrap_or_default();
        let sim = Simulator::new(clock);
        let mut specs: HashMap<String, AccountSpec> = own
            .accounts
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let mut tenants = HashMap::new();
        for t in &section.tenants {
            let account = tenant_account(t);
            let spec = specs.entry(account.clone()).or_insert_with(|| {
                let mut s = AccountSpec::new(&account);
                for o in ["customer", "salesOrder", "inventoryItem"] {
                    s.seed.insert(o.into(), t.volume as u64);
                }
                s
            });
            spec.latency_ms = spec.latency_ms.max(t.latency_ms);
            if let Some(l) = t.faults.concurrency_limit {
                spec.concurrency_limit = Some(l as usize);
            }
            let c = &t.credentials;
            let token = TokenSpec {
                consumer_key: c
                    .get("consumer_key")
                    .cloned()
                    .unwrap_or_else(|| format!("ck-{}", t.id)),
                consumer_secret: c
                    .get("consumer_secret")
                    .cloned()
                    .unwrap_or_else(|| format!("cs-{}", t.id)),
                token_id: c
                    .get("token_id")
                    .cloned()
                    .unwrap_or_else(|| format!("tk-{}", t.id)),
                token_secret: c
                    .get("token_secret")
                    .cloned()
                    .unwrap_or_else(|| format!("ts-{}", t.id)),
            };
            tenants.insert(t.id.clone(), (account.clone(), token.token_id.clone()));
            spec.tokens.push(token);
        }
        for (_, spec) in specs {
            let id = spec.id.clone();
            sim.add_account(spec).map_err(|e| {
                ScenarioError::new(&section.file, format!("erps.netsuite account {id}: {e}"))
            })?;
        }
        let control = Arc::new(Control {
            sim: sim.clone(),
            tenants,
            held: Mutex::new(HashMap::new()),
        });
        for t in &section.tenants {
            if t.faults.revoked {
                control
                    .set_fault(&t.id, "revoked", serde_json::json!(true))
                    .map_err(|e| ScenarioError::new(&section.file, e))?;
            }
            if let Some(n) = t.faults.error_5xx_every {
                control
                    .set_fault(&t.id, "error_5xx_every", serde_json::json!(n))
                    .map_err(|e| ScenarioError::new(&section.file, e))?;
            }
        }
        Ok(SimInstance {
            router: sim.router(),
            control,
        })
    }
}

impl Control {
    pub fn new(sim: Simulator, tenants: HashMap<String, (String, String)>) -> Self {
        Control {
            sim,
            tenants,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, tenant: &str) -> Result<(String, String), String> {
        self.tenants
            .get(tenant)
            .cloned()
            .ok_or_else(|| format!("no NetSuite tenant {tenant}"))
    }
}

impl SimControl for Control {
    fn set_fault(&self, tenant: &str, fault: &str, value: serde_json::Value) -> Result<(), String> {
        let (account, token) = self.lookup(tenant)?;
        let num = || {
            value
                .as_u64()
                .ok_or_else(|| format!("fault {fault} needs a number, got {value}"))
        };
        match fault {
            "revoked" => {
                if value.as_bool() == Some(true) {
                    self.sim.revoke_token(&account, &token);
                    self.sim.revoke_access_tokens(&account);
                }
            }
            "concurrency_limit" => self.sim.set_concurrency_limit(&account, num()? as usize),
            "latency_ms" => self.sim.set_latency_ms(&account, num()?),
            "error_5xx_every" => self.sim.set_5xx_every(&account, num()? as u32),
            "error_5xx_next" => self.sim.inject_5xx(&account, num()? as u32),
            "malformed_next" => self.sim.inject_malformed(&account, num()? as u32),
            "foreign_slots" => {
                let n = num()? as usize;
                let mut held = self.held.lock().unwrap();
                held.remove(&account);
                if n > 0 {
                    held.insert(
                        account,
                        self.sim.occupy_slots(&account_of(&self.tenants, tenant), n),
                    );
                }
            }
            "rate_per_second" | "idle_timeout_secs" | "approvals" => {
                return Err(format!(
                "NetSuite has no {fault} (its governance is concurrency only, TBA has no sessions)"
            ))
            }
            other => return Err(format!("unknown NetSuite fault {other}")),
        }
        Ok(())
    }

    fn inject_changes(
        &self,
        tenant: &str,
        object: &str,
        count: usize,
    ) -> Result<Vec<String>, String> {
        let (account, _) = self.lookup(tenant)?;
        self.sim.touch_records(&account, object, count)
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "accounts": self.sim.account_ids(),
            "tenants": self.tenants.iter().map(|(t, (a, _))| (t.clone(), serde_json::json!({"account": a, "base_path": format!("/a/{a}")}))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn account_of(t: &HashMap<String, (String, String)>, tenant: &str) -> String {
    t[tenant].0.clone()
}
