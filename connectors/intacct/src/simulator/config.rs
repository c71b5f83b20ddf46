//! The simulator's scenario: senders, companies with entities, users, dimensions, required
//! fields, tiers and latency. It deserializes from the `intacct` section of a YAML scenario.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    pub senders: Vec<SenderConfig>,
    pub companies: Vec<CompanyConfig>,
    /// How long a readByQuery resultId stays usable. Real lifetime is UNCONFIRMED.
    #[serde(default = "default_result_ttl")]
    pub result_id_ttl_secs: i64,
}

fn default_result_ttl() -> i64 {
    3600
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    pub id: String,
    pub password: String,
}

impl std::fmt::Debug for SenderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SenderConfig({}, [redacted])", self.id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityConfig {
    pub id: String,
    pub name: String,
    /// Private entities' records are hidden from top-level reads without showprivate.
    #[serde(default)]
    pub private: bool,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub id: String,
    pub password: String,
    /// `None`: the user may work at the top level and in every entity. `Some`: only in
    /// these entities (an entity-level user, who cannot get a top-level session).
    #[serde(default)]
    pub entities: Option<Vec<String>>,
    #[serde(default = "default_session_minutes")]
    pub session_minutes: i64,
    /// Role permissions the user lacks, optionally only inside one entity.
    #[serde(default)]
    pub denied: Vec<Denial>,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("id", &self.id)
            .field("entities", &self.entities)
            .finish_non_exhaustive()
    }
}

fn default_session_minutes() -> i64 {
    60
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    #[serde(default)]
    pub entity: Option<String>,
    pub object: String,
    /// An API operation name such as READ_BY_QUERY or CREATE; absent means every operation.
    #[serde(default)]
    pub operation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UddConfig {
    /// The Platform object's integration name, e.g. `jobsite`; lines carry `GLDIMJOBSITE`.
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyConfig {
    #[serde(default)]
    pub base_ms: u64,
    #[serde(default)]
    pub per_function_ms: u64,
    #[serde(default)]
    pub per_record_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyConfig {
    pub id: String,
    /// Requests per second the company's performance tier allows; `None` is unlimited.
    #[serde(default)]
    pub tier_rps: Option<f64>,
    /// Bucket depth; defaults to one second of the tier.
    #[serde(default)]
    pub burst: Option<f64>,
    /// Concurrent requests allowed; over it the gateway answers 429 as for the rate.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    pub authorized_senders: Vec<String>,
    #[serde(default)]
    pub entities: Vec<EntityConfig>,
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub udds: Vec<UddConfig>,
    /// Object -> fields (header or line, dimensions included) the company requires.
    #[serde(default)]
    pub required: BTreeMap<String, Vec<String>>,
    /// Company terminology for dimensions (e.g. PROJECT -> "Job").
    #[serde(default)]
    pub term_labels: BTreeMap<String, String>,
    /// Object -> number of seeded records.
    #[serde(default)]
    pub seed: BTreeMap<String, usize>,
    #[serde(default)]
    pub latency: LatencyConfig,
}

impl SimConfig {
    /// Parses the `intacct` section of a scenario file; errors name the offending key.
    pub fn from_yaml(s: &str) -> Result<SimConfig, String> {
        let c: SimConfig = serde_yaml::from_str(s).map_err(|e| format!("intacct scenario: {e}"))?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        for c in &self.companies {
            for u in &c.users {
                for e in u.entities.iter().flatten() {
                    if !c.entities.iter().any(|x| &x.id == e) {
                        return Err(format!(
                            "intacct scenario: user {} of company {} names unknown entity {e}",
                            u.id, c.id
                        ));
                    }
                }
            }
            if let Some(r) = c.tier_rps {
                if !(r > 0.0 && r.is_finite()) {
                    return Err(format!(
                        "intacct scenario: company {} has a non-positive tier_rps",
                        c.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// A ready-made scenario: a construction company and a healthcare company (each with
    /// entities and user-defined dimensions), the sender both authorize, and one company
    /// that has not authorized it.
    pub fn demo() -> SimConfig {
        SimConfig::from_yaml(DEMO_YAML).expect("the built-in demo scenario is valid")
    }
}

pub const DEMO_YAML: &str = r#"
senders:
  - { id: switchyard, password: sender-secret }
  - { id: other_partner, password: other-secret }
companies:
  - id: BUILDCO
    tier_rps: 5
    authorized_senders: [switchyard]
    entities:
      - { id: WEST, name: West Region }
      - { id: EAST, name: East Region }
      - { id: LAB, name: Lab, private: true }
    users:
      - { id: ws_user, password: user-secret, session_minutes: 60 }
      - { id: west_only, password: west-secret, entities: [WEST] }
      - id: no_ar_east
        password: nae-secret
        denied: [{ entity: EAST, object: ARINVOICE }]
    udds:
      - { name: jobsite, label: Job Site, values: [Harbor Tower, Mill Street, Airport Annex] }
      - { name: phase, label: Phase, values: [Foundation, Framing, Finishing] }
    required:
      APBILL: [LOCATIONID, GLDIMJOBSITE]
      GLBATCH: [LOCATION]
    term_labels: { PROJECT: Job }
    seed: { VENDOR: 120, CUSTOMER: 40, APBILL: 30, ARINVOICE: 20, GLBATCH: 10 }
  - id: CAREHEALTH
    tier_rps: 20
    authorized_senders: [switchyard, other_partner]
    entities:
      - { id: NORTH, name: North Clinic }
      - { id: SOUTH, name: South Clinic }
    users:
      - { id: ws_user, password: care-secret, session_minutes: 120 }
    udds:
      - { name: serviceline, label: Service Line, values: [Cardiology, Oncology, Pediatrics] }
      - { name: payer, label: Payer, values: [Medicare, Medicaid, Commercial] }
    required:
      ARINVOICE: [GLDIMSERVICELINE, GLDIMPAYER]
    seed: { VENDOR: 60, CUSTOMER: 80, APBILL: 10, ARINVOICE: 40, GLBATCH: 5 }
  - id: NOAUTH
    authorized_senders: [other_partner]
    users:
      - { id: ws_user, password: noauth-secret }
    seed: { VENDOR: 3 }
"#;
