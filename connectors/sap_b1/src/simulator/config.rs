//! Simulator configuration: company databases with their users, seed sizes, UDFs, UDTs,
//! UDOs and approval templates, plus server options, the latency model and fault modes.
//!
//! Every type deserializes from the `sap_b1` section of a scenario file and rejects unknown
//! keys, so a typo in a scenario is an error naming the key rather than a silent default.

use super::model::{UdfSpec, UdoSpec, UdtSpec};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    pub companies: Vec<CompanyConfig>,
    /// Idle timeout in minutes, returned as `SessionTimeout` by Login.
    pub session_timeout_minutes: u32,
    /// Server page size (`PageSize` in b1s.conf).
    pub page_size: usize,
    /// The most requests one `$batch` may carry. SAP documents no limit; ours is explicit.
    pub max_batch_requests: usize,
    /// Concurrent sessions one user may hold in one company; `None` means unlimited.
    pub max_sessions_per_user: Option<usize>,
    /// The HTTP status of the -2028 answer when a POST lands as an approval draft.
    pub approval_error_status: u16,
    /// Whether the 204 answer of an approval-bound POST carries `Location: Drafts(n)`.
    pub approval_location_on_no_content: bool,
    /// The `Version` Login reports.
    pub version: String,
    /// The node name put in ROUTEID.
    pub route_id: String,
    /// Reject requests that carry B1SESSION without ROUTEID.
    pub require_route_id: bool,
    /// Next links as `/b1s/v1/Orders?...` (the manual's form) instead of `Orders?...`.
    pub host_relative_next_links: bool,
    /// New UDFs stay invisible on entities until `restart()` (a documented SL quirk).
    pub udf_requires_restart: bool,
    pub latency: Latency,
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            companies: vec![],
            session_timeout_minutes: 30,
            page_size: 20,
            max_batch_requests: 100,
            max_sessions_per_user: None,
            approval_error_status: 400,
            approval_location_on_no_content: true,
            version: "1000190".into(),
            route_id: ".node1".into(),
            require_route_id: false,
            host_relative_next_links: false,
            udf_requires_restart: false,
            latency: Latency::default(),
            faults: Faults::default(),
        }
    }
}

/// A latency model applied outside the state lock, so parallel sessions overlap.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Latency {
    /// Fixed cost of every HTTP request.
    pub request_ms: u64,
    /// Extra cost of each request inside a `$batch`.
    pub batch_item_ms: u64,
    /// Extra cost of a Login (SAP calls login "a heavy job").
    pub login_ms: u64,
}

/// What an injected server error looks like on the wire.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Apache's 502 HTML "Proxy Error" page.
    #[default]
    ProxyError502,
    /// A 500 with an empty body and `Connection: close`.
    Empty500,
    /// A 503 with an HTML body.
    Unavailable503,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Every Nth authenticated request finds its session gone (401, code 301).
    pub expire_every: Option<u64>,
    /// Every Nth request (login excluded) fails with `error_kind` before doing anything.
    pub error_every: Option<u64>,
    pub error_kind: ErrorKind,
    /// How many consecutive requests fail once `error_every` triggers (at least 1), so a
    /// tenant can have bursts of 5xx answers rather than isolated ones.
    pub error_burst: u64,
    /// Added to every answer.
    pub slow_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompanyConfig {
    pub name: String,
    pub users: Vec<UserConfig>,
    pub seed: SeedConfig,
    pub udfs: Vec<UdfSpec>,
    pub udts: Vec<UdtSpec>,
    pub udos: Vec<UdoSpec>,
    pub approvals: Vec<ApprovalConfig>,
    /// This company's idle timeout in minutes; `None` uses the server-wide one.
    ///
    /// This and the three fields below are the company's own operating conditions: each
    /// company database stands for one tenant's Service Layer, so a slow or failing tenant
    /// is configured here rather than on the whole simulator.
    pub session_timeout_minutes: Option<u32>,
    /// Concurrent sessions one user may hold in this company; `None` uses the server's.
    pub max_sessions_per_user: Option<usize>,
    /// This company's latency model; `None` uses the server-wide one.
    pub latency: Option<Latency>,
    /// This company's faults; `None` uses the server-wide ones.
    pub faults: Option<Faults>,
}

/// The per-company overrides of [`CompanyConfig`], kept by the running simulator so that
/// tests and the scenario controls can change one tenant's conditions while it runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyKnobs {
    pub session_timeout_minutes: Option<u32>,
    pub max_sessions_per_user: Option<usize>,
    pub latency: Option<Latency>,
    pub faults: Option<Faults>,
}

impl CompanyConfig {
    pub fn knobs(&self) -> CompanyKnobs {
        CompanyKnobs {
            session_timeout_minutes: self.session_timeout_minutes,
            max_sessions_per_user: self.max_sessions_per_user,
            latency: self.latency.clone(),
            faults: self.faults.clone(),
        }
    }
}

impl Default for CompanyConfig {
    fn default() -> Self {
        CompanyConfig {
            name: "SBODEMOUS".into(),
            users: vec![UserConfig::default()],
            seed: SeedConfig::default(),
            udfs: vec![],
            udts: vec![],
            udos: vec![],
            approvals: vec![],
            session_timeout_minutes: None,
            max_sessions_per_user: None,
            latency: None,
            faults: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password: String,
    /// The user's internal key (OUSR.INTERNAL_K).
    pub id: i64,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            name: "manager".into(),
            password: "1234".into(),
            id: 1,
        }
    }
}

/// Deterministic seed sizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedConfig {
    pub business_partners: usize,
    pub items: usize,
    pub orders: usize,
    pub invoices: usize,
    pub purchase_orders: usize,
    pub journal_entries: usize,
    /// How many seeded records share one UpdateDate/UpdateTime second.
    pub per_second: usize,
    /// The stamp of the first seeded record, `YYYY-MM-DDTHH:MM:SS`.
    pub start: String,
}

impl Default for SeedConfig {
    fn default() -> Self {
        SeedConfig {
            business_partners: 20,
            items: 20,
            orders: 30,
            invoices: 30,
            purchase_orders: 10,
            journal_entries: 10,
            per_second: 3,
            start: "2024-05-01T08:00:00".into(),
        }
    }
}

/// An approval template: documents of these sets whose total reaches `min_total` need
/// approval by `approver`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalConfig {
    pub name: String,
    /// Entity set names, e.g. `Orders`, `PurchaseOrders`.
    pub documents: Vec<String>,
    /// `None` means every document of those types.
    pub min_total: Option<f64>,
    pub approver: String,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            name: "Large orders".into(),
            documents: vec!["Orders".into()],
            min_total: Some(10_000.0),
            approver: "manager".into(),
        }
    }
}

impl SimConfig {
    /// Two company databases whose UDFs mean the same thing under different names
    /// (`U_ProjectCode` against `U_ProjCode`), each with its own users and data.
    pub fn demo() -> SimConfig {
        let us = CompanyConfig {
            name: "SBODEMOUS".into(),
            users: vec![
                UserConfig::default(),
                UserConfig {
                    name: "approver".into(),
                    password: "appr0ve".into(),
                    id: 2,
                },
            ],
            udfs: vec![
                UdfSpec {
                    table: "ORDR".into(),
                    name: "ProjectCode".into(),
                    field_type: "db_Alpha".into(),
                    sub_type: None,
                    size: 20,
                    description: "Project code".into(),
                    mandatory: false,
                    default_value: None,
                    valid_values: vec![],
                    linked_table: None,
                },
                UdfSpec {
                    table: "OCRD".into(),
                    name: "Region".into(),
                    field_type: "db_Alpha".into(),
                    sub_type: None,
                    size: 2,
                    description: "Sales region".into(),
                    mandatory: true,
                    default_value: Some("NA".into()),
                    valid_values: vec![
                        ("NA".into(), "North America".into()),
                        ("EU".into(), "Europe".into()),
                        ("AP".into(), "Asia Pacific".into()),
                    ],
                    linked_table: None,
                },
                UdfSpec {
                    table: "RDR1".into(),
                    name: "CostCenter".into(),
                    field_type: "db_Numeric".into(),
                    sub_type: None,
                    size: 11,
                    description: "Cost center".into(),
                    mandatory: false,
                    default_value: None,
                    valid_values: vec![],
                    linked_table: None,
                },
            ],
            udts: vec![
                UdtSpec {
                    name: "PROJECTS".into(),
                    description: "Projects".into(),
                    table_type: "bott_NoObject".into(),
                },
                UdtSpec {
                    name: "SHIPMENTS".into(),
                    description: "Shipments".into(),
                    table_type: "bott_Document".into(),
                },
            ],
            udos: vec![UdoSpec {
                code: "Shipment".into(),
                name: "Shipment".into(),
                table: "SHIPMENTS".into(),
                object_type: "boud_Document".into(),
            }],
            approvals: vec![ApprovalConfig::default()],
            seed: SeedConfig::default(),
            session_timeout_minutes: None,
            max_sessions_per_user: None,
            latency: None,
            faults: None,
        };
        let de = CompanyConfig {
            name: "SBODEMODE".into(),
            users: vec![UserConfig {
                name: "manager".into(),
                password: "geheim".into(),
                id: 1,
            }],
            udfs: vec![UdfSpec {
                table: "ORDR".into(),
                name: "ProjCode".into(),
                field_type: "db_Alpha".into(),
                sub_type: None,
                size: 30,
                description: "Projekt".into(),
                mandatory: false,
                default_value: None,
                valid_values: vec![],
                linked_table: None,
            }],
            udts: vec![],
            udos: vec![],
            approvals: vec![],
            seed: SeedConfig {
                business_partners: 12,
                items: 8,
                orders: 15,
                invoices: 10,
                purchase_orders: 5,
                journal_entries: 5,
                per_second: 2,
                start: "2024-06-03T09:30:00".into(),
            },
            session_timeout_minutes: None,
            max_sessions_per_user: None,
            latency: None,
            faults: None,
        };
        SimConfig {
            companies: vec![us, de],
            ..SimConfig::default()
        }
    }
}
