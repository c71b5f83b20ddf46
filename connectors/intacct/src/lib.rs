//! Native Sage Intacct connector and a simulator that speaks its wire protocol.
//!
//! The ERP is declared as data in [`DECLARATION`]; [`connector()`] builds connections that
//! send every request through the core engine (governor token bucket sized by the tenant's
//! tier, or learned from 429 answers), keep one session per entity in the core session pool,
//! discover dimensions and required fields, read incrementally and write in packed batches.

pub mod auth;
pub mod client;
pub mod protocol;
pub mod read;
pub mod schema;
pub mod simulator;
pub mod write;
pub mod xml;

use connector_core::domain::{Environment, ErpKind, ErrorCode, Schema};
use connector_core::{
    async_trait, validate_base_url, AccountKey, AccountLimits, Capabilities, CheckReport,
    Connection, ConnectionConfig, ConnectorError, CredentialKind, Engine, ErpConnector,
    ErpDeclaration, ErpSimulator, FieldSpec, ItemResult, Page, RateMode, ReadRequest,
    RequestContext, ScenarioError, ScenarioSection, SessionPool, SharedClock, SimControl,
    SimInstance, SystemClock, UrlPolicy, WriteBatch,
};
use std::sync::{Arc, Mutex};

/// The public XML gateway.
pub const DEFAULT_GATEWAY: &str = "https://api.intacct.com/ia/xml/xmlgw.phtml";

pub static DECLARATION: ErpDeclaration = ErpDeclaration {
    kind: ErpKind::Intacct,
    display_name: "Sage Intacct",
    credential_kinds: &[CredentialKind {
        key: "web_services_user",
        label: "Web Services user",
        help: "A company user (ideally a Web Services-only user) of the tenant's company. The \
               Web Services sender is Switchyard's own; the company must authorize it under \
               Company > Security > Web Services authorizations.",
        fields: &[
            FieldSpec {
                key: "company_id",
                label: "Company ID",
                secret: false,
                required: true,
                help: "The Intacct company ID (for a console: the client company).",
            },
            FieldSpec {
                key: "user_id",
                label: "User ID",
                secret: false,
                required: true,
                help: "The Web Services user's ID.",
            },
            FieldSpec {
                key: "user_password",
                label: "User password",
                secret: true,
                required: true,
                help: "The Web Services user's password.",
            },
            FieldSpec {
                key: "sender_id",
                label: "Sender ID (optional)",
                secret: false,
                required: false,
                help: "Only for a partner sender other than the deployment's.",
            },
            FieldSpec {
                key: "sender_password",
                label: "Sender password (optional)",
                secret: true,
                required: false,
                help: "The password of that sender.",
            },
        ],
    }],
    settings: &[
        FieldSpec {
            key: "entity_id",
            label: "Entity (location ID)",
            secret: false,
            required: false,
            help: "Work inside this entity of a multi-entity company; empty for the top level.",
        },
        FieldSpec {
            key: "tier_rps",
            label: "Performance tier (requests per second)",
            secret: false,
            required: false,
            help: "The tenant's tier rate; when empty it is learned from 429 answers.",
        },
        FieldSpec {
            key: "max_concurrency",
            label: "Concurrent requests",
            secret: false,
            required: false,
            help: "In-flight requests per company (default 2).",
        },
    ],
    environments: &[Environment::Production, Environment::Sandbox],
    capabilities: Capabilities {
        check: true,
        discover: true,
        read: true,
        write: true,
        change_feed: false,
    },
    allowed_host_suffixes: &[".intacct.com"],
};

pub struct IntacctConnector;

static CONNECTOR: IntacctConnector = IntacctConnector;

pub fn connector() -> &'static dyn ErpConnector {
    &CONNECTOR
}

/// Splits `APBILL@WEST` into the object and an entity override.
pub fn split_object(object: &str) -> (&str, Option<&str>) {
    match object.split_once('@') {
        Some((o, e)) if !e.is_empty() => (o, Some(e)),
        _ => (object, None),
    }
}

/// The governor limits for a tenant: a fixed token bucket for a known tier (burst 1 so
/// requests are spaced evenly and never trip the gateway), learning otherwise.
pub fn limits_for(tier_rps: Option<f64>, max_concurrency: u32) -> AccountLimits {
    let rate = match tier_rps {
        Some(r) if r > 0.0 => RateMode::Fixed {
            per_second: r,
            burst: 1,
        },
        _ => RateMode::Learn,
    };
    AccountLimits::concurrency(max_concurrency.max(1)).with_rate(rate)
}

impl ErpConnector for IntacctConnector {
    fn declaration(&self) -> &'static ErpDeclaration {
        &DECLARATION
    }

    fn connect(
        &self,
        config: ConnectionConfig,
        engine: Engine,
    ) -> Result<Arc<dyn Connection>, ConnectorError> {
        Ok(Arc::new(IntacctConnection::new(config, engine)?))
    }
}

pub struct IntacctConnection {
    pub client: client::Client,
    discovery: Mutex<Option<schema::Discovery>>,
    pub functions_per_request: usize,
}

impl IntacctConnection {
    pub fn new(
        config: ConnectionConfig,
        engine: Engine,
    ) -> Result<IntacctConnection, ConnectorError> {
        DECLARATION.validate(&config)?;
        let (sender, user) = auth::credentials(&config)?;
        let allow_loopback = config
            .settings
            .get("allow_loopback")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let raw = config
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_GATEWAY.to_string());
        let mut gateway = validate_base_url(
            &raw,
            UrlPolicy {
                allowed_host_suffixes: DECLARATION.allowed_host_suffixes,
                allow_loopback,
            },
        )?;
        if gateway.path() == "/" || gateway.path().is_empty() {
            gateway.set_path(simulator::GATEWAY_PATH);
        }
        let num = |k: &str| {
            config.settings.get(k).and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        let tier = num("tier_rps");
        let conc = num("max_concurrency").map(|v| v as u32).unwrap_or(2);
        let ctx = RequestContext {
            tenant: config.tenant.clone(),
            erp: ErpKind::Intacct,
            // The tier and the concurrency allowance belong to the company, not to us.
            account: AccountKey::new(ErpKind::Intacct, user.company_id.clone()),
            limits: limits_for(tier, conc),
        };
        let entity = config
            .setting_str("entity_id")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let pool = Arc::new(SessionPool::new(Arc::new(SystemClock)));
        Ok(IntacctConnection {
            client: client::Client::new(
                engine,
                ctx,
                gateway,
                sender,
                user,
                entity,
                allow_loopback,
                pool,
            ),
            discovery: Mutex::new(None),
            functions_per_request: write::DEFAULT_FUNCTIONS_PER_REQUEST,
        })
    }

    fn entity<'a>(&'a self, explicit: Option<&'a str>) -> Option<&'a str> {
        explicit.or(self.client.default_entity.as_deref())
    }

    /// Discovery with its Intacct-specific parts (dimensions, required map), cached for writes.
    pub async fn discovery(
        &self,
        entity: Option<&str>,
    ) -> Result<schema::Discovery, ConnectorError> {
        let d = schema::discover(&self.client, self.entity(entity)).await?;
        *self.discovery.lock().unwrap() = Some(d.clone());
        Ok(d)
    }

    /// Entities whose last request was refused for permission, with the reason.
    pub fn denied_entities(&self) -> Vec<(String, String)> {
        self.client
            .denied_entities
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[async_trait]
impl Connection for IntacctConnection {
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let f = protocol::Function {
            control_id: "check".into(),
            body: xml::Element::new("inspect").with_child(xml::Element::leaf("object", "*")),
        };
        let entity = self.entity(None);
        let r = self
            .client
            .call(entity, "check", vec![f], false, false, true)
            .await?;
        if r[0].status != protocol::Status::Success {
            return Err(client::function_error(&r[0], &|_| None));
        }
        Ok(CheckReport {
            account_label: format!(
                "{} as {}{}",
                self.client.user.company_id,
                self.client.user.user_id,
                entity.map(|e| format!(" (entity {e})")).unwrap_or_default()
            ),
            warnings: self
                .denied_entities()
                .into_iter()
                .map(|(e, why)| format!("entity {e}: {why}"))
                .collect(),
        })
    }

    async fn discover(&self) -> Result<Schema, ConnectorError> {
        Ok(self.discovery(None).await?.schema)
    }

    async fn read_page(&self, request: ReadRequest) -> Result<Page, ConnectorError> {
        let (object, entity) = split_object(&request.object);
        read::read_page(
            &self.client,
            object,
            self.entity(entity),
            request.cursor.as_ref(),
            request.page_size,
        )
        .await
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<Vec<ItemResult>, ConnectorError> {
        let (object, entity) = split_object(&batch.object);
        let entity = self.entity(entity);
        let cached = self.discovery.lock().unwrap().clone();
        let d = match cached {
            Some(d) => d,
            None => self.discovery(entity).await?,
        };
        if !schema::OBJECTS.iter().any(|(o, _)| *o == object) {
            return Err(ConnectorError::new(
                ErrorCode::InvalidInput,
                format!("the Intacct connector does not write {object}"),
            ));
        }
        write::write_batch(
            &self.client,
            object,
            entity,
            &batch,
            &d,
            self.functions_per_request,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Simulator entry point
// ---------------------------------------------------------------------------------------

pub struct IntacctSimulator;

static SIMULATOR: IntacctSimulator = IntacctSimulator;

pub fn simulator() -> &'static dyn ErpSimulator {
    &SIMULATOR
}

/// The `erps.intacct` scenario section: full company definitions (entities, users,
/// dimensions, required fields) keyed by the scenario tenant they refine.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntacctSection {
    #[serde(default)]
    pub senders: Vec<simulator::config::SenderConfig>,
    /// Tenant id -> company definition (its `id` is the Intacct company ID).
    #[serde(default)]
    pub companies: std::collections::BTreeMap<String, simulator::config::CompanyConfig>,
}

struct Control {
    sim: simulator::Simulator,
    /// Scenario tenant id -> Intacct company ID.
    companies: std::collections::BTreeMap<String, String>,
}

impl Control {
    fn company(&self, tenant: &str) -> Result<&str, String> {
        self.companies
            .get(tenant)
            .map(String::as_str)
            .ok_or_else(|| format!("unknown intacct tenant '{tenant}'"))
    }
}

impl SimControl for Control {
    fn set_fault(&self, tenant: &str, fault: &str, value: serde_json::Value) -> Result<(), String> {
        self.sim.set_fault(self.company(tenant)?, fault, &value)
    }

    fn inject_changes(
        &self,
        tenant: &str,
        object: &str,
        count: usize,
    ) -> Result<Vec<String>, String> {
        let c = self.company(tenant)?;
        let recs = self.sim.records(c, object);
        let mut out = Vec::new();
        for (n, _) in recs.iter().rev().take(count) {
            self.sim.touch(
                c,
                object,
                *n,
                "DISPLAYCONTACT.EMAIL2",
                &format!("changed-{n}@example.com"),
            );
            out.push(n.to_string());
        }
        Ok(out)
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "erp": "intacct", "path": simulator::GATEWAY_PATH, "companies": self.companies })
    }
}

/// Builds the simulator's configuration from a scenario section.
pub fn sim_config(
    section: &ScenarioSection,
) -> Result<
    (
        simulator::SimConfig,
        std::collections::BTreeMap<String, String>,
    ),
    ScenarioError,
> {
    let own: IntacctSection = section.parse()?.unwrap_or_default();
    let mut cfg = simulator::SimConfig {
        senders: own.senders.clone(),
        companies: vec![],
        result_id_ttl_secs: 3600,
    };
    let mut map = std::collections::BTreeMap::new();
    for t in &section.tenants {
        let cred = |k: &str| t.credentials.get(k).cloned();
        let need = |k: &str| {
            cred(k).ok_or_else(|| {
                ScenarioError::new(
                    &section.file,
                    format!("tenants[{}].credentials.{k} is required for intacct", t.id),
                )
            })
        };
        let sender = need("sender_id")?;
        let sender_pw = need("sender_password")?;
        if !cfg.senders.iter().any(|s| s.id == sender) {
            cfg.senders.push(simulator::config::SenderConfig {
                id: sender.clone(),
                password: sender_pw,
            });
        }
        let mut company = match own.companies.get(&t.id) {
            Some(c) => c.clone(),
            None => simulator::config::CompanyConfig {
                id: need("company_id")?,
                tier_rps: None,
                burst: None,
                max_in_flight: None,
                authorized_senders: vec![],
                entities: vec![],
                users: vec![],
                udds: vec![],
                required: Default::default(),
                term_labels: Default::default(),
                seed: ["VENDOR", "CUSTOMER", "APBILL", "ARINVOICE", "GLBATCH"]
                    .iter()
                    .map(|o| (o.to_string(), t.volume as usize))
                    .collect(),
                latency: Default::default(),
            },
        };
        if !company.authorized_senders.contains(&sender) && !t.faults.revoked {
            company.authorized_senders.push(sender.clone());
        }
        if let (Some(u), Some(p)) = (cred("user_id"), cred("user_password")) {
            if !company.users.iter().any(|x| x.id == u) {
                company.users.push(simulator::config::UserConfig {
                    id: u,
                    password: p,
                    entities: None,
                    session_minutes: t
                        .faults
                        .idle_timeout_secs
                        .map(|s| (s as i64 / 60).max(1))
                        .unwrap_or(60),
                    denied: vec![],
                });
            }
        }
        if company.tier_rps.is_none() {
            company.tier_rps = t.faults.rate_per_second;
        }
        if company.max_in_flight.is_none() {
            company.max_in_flight = t.faults.concurrency_limit.map(|c| c as usize);
        }
        company.latency.base_ms = company.latency.base_ms.max(t.latency_ms);
        map.insert(t.id.clone(), company.id.clone());
        cfg.companies.push(company);
    }
    cfg.validate()
        .map_err(|e| ScenarioError::new(&section.file, e))?;
    Ok((cfg, map))
}

impl ErpSimulator for IntacctSimulator {
    fn kind(&self) -> ErpKind {
        ErpKind::Intacct
    }

    fn router(
        &self,
        section: &ScenarioSection,
        clock: SharedClock,
    ) -> Result<SimInstance, ScenarioError> {
        let (cfg, companies) = sim_config(section)?;
        let sim = simulator::Simulator::with_clock(cfg, clock)
            .map_err(|e| ScenarioError::new(&section.file, e))?;
        for t in &section.tenants {
            if let (Some(every), Some(c)) = (t.faults.error_5xx_every, companies.get(&t.id)) {
                let _ = sim.set_fault(c, "error_5xx_every", &serde_json::json!(every));
            }
        }
        Ok(SimInstance {
            router: sim.router(),
            control: Arc::new(Control { sim, companies }),
        })
    }
}
