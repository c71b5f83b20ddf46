//! The simulator harness: scenario files, the trait each ERP simulator implements and a
//! helper that serves a simulator router on a local port.
//!
//! A scenario is YAML with a generic top level (tenants, their data volume, latency and
//! fault modes, simulated credentials) and a per-ERP section under `erps.<key>` that each
//! simulator parses itself with [`ScenarioSection::parse`]. Every parse error names the
//! file, line, column and field path: `scenario.yaml:12:5: tenants[0].latency_ms: ...`.

pub use crate::clock::{Clock, SharedClock, SystemClock, TestClock};
use domain::{Environment, ErpKind};
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The scenario used when no file is given.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.yaml");

/// A scenario that failed to load, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// `path: problem`, for example `tenants[0].latency_ms: invalid type: ...`.
    pub message: String,
}

impl ScenarioError {
    pub fn new(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub(crate) fn from_yaml(file: &str, e: &serde_yaml::Error) -> Self {
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C"; the location goes in front instead.
        if let Some(i) = message.rfind(" at line ") {
            if message[i..].contains(" column ") {
                message.truncate(i);
            }
        }
        let loc = e.location();
        Self {
            file: file.to_string(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{}:{}: {}", self.file, l, c, self.message),
            (Some(l), None) => write!(f, "{}:{}: {}", self.file, l, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Parses YAML text into `T`, mapping errors to file:line:column: path: message.
pub fn parse_yaml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ScenarioError> {
    serde_yaml::from_str(text).map_err(|e| ScenarioError::from_yaml(file, &e))
}

fn default_volume() -> u32 {
    50
}

fn default_environment() -> Environment {
    Environment::Production
}

/// Switchable fault modes common to all simulators. Each simulator maps them to its
/// ERP's real failure (a 429 body, a SOAP fault, an XML error element...).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Concurrent requests allowed for the account; more are rejected the ERP's way.
    #[serde(default)]
    pub concurrency_limit: Option<u32>,
    /// Requests per second allowed (a rate tier); more are answered with 429.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// Sessions end after this many idle seconds on the simulator's clock.
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// Every Nth request answers a 5xx.
    #[serde(default)]
    pub error_5xx_every: Option<u32>,
    /// The credentials are revoked from the start.
    #[serde(default)]
    pub revoked: bool,
    /// Document writes land as approval drafts (SAP B1).
    #[serde(default)]
    pub approvals: bool,
}

/// One simulated tenant system.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub erp: ErpKind,
    #[serde(default = "default_environment")]
    pub environment: Environment,
    /// Records seeded per standard object.
    #[serde(default = "default_volume")]
    pub volume: u32,
    /// Added latency per request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub faults: FaultSpec,
    /// The simulated credentials this tenant accepts (not real secrets).
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioDoc {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    tenants: Vec<TenantSpec>,
    /// Checked here only for known keys; each simulator parses its own entry.
    #[serde(default)]
    #[allow(dead_code)]
    erps: BTreeMap<ErpKind, IgnoredAny>,
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: String,
    pub name: String,
    pub seed: u64,
    pub tenants: Vec<TenantSpec>,
    text: Arc<str>,
}

impl Scenario {
    /// Parses scenario text; `file` is the name used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        let doc: ScenarioDoc = parse_yaml(file, text)?;
        let mut seen = std::collections::HashSet::new();
        for (i, t) in doc.tenants.iter().enumerate() {
            if t.id.trim().is_empty() {
                return Err(located(
                    file,
                    text,
                    i,
                    &format!("tenants[{i}].id: must not be empty"),
                ));
            }
            if !seen.insert(t.id.clone()) {
                return Err(located(
                    file,
                    text,
                    i,
                    &format!("tenants[{i}].id: duplicate tenant id '{}'", t.id),
                ));
            }
            if t.faults.concurrency_limit == Some(0) {
                return Err(located(
                    file,
                    text,
                    i,
                    &format!("tenants[{i}].faults.concurrency_limit: must be at least 1"),
                ));
            }
            if t.faults
                .rate_per_second
                .is_some_and(|r| r.is_nan() || r <= 0.0)
            {
                return Err(located(
                    file,
                    text,
                    i,
                    &format!("tenants[{i}].faults.rate_per_second: must be positive"),
                ));
            }
        }
        Ok(Self {
            file: file.to_string(),
            name: doc.name.unwrap_or_else(|| file.to_string()),
            seed: doc.seed,
            tenants: doc.tenants,
            text: Arc::from(text),
        })
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new(&file, format!("cannot read: {e}")))?;
        Self::parse(&file, &text)
    }

    /// The embedded default scenario.
    pub fn default_scenario() -> Self {
        Self::parse("default.yaml", DEFAULT_SCENARIO).expect("the embedded scenario is valid")
    }

    /// The part of the scenario one ERP simulator needs.
    pub fn section(&self, erp: ErpKind) -> ScenarioSection {
        ScenarioSection {
            erp,
            file: self.file.clone(),
            seed: self.seed,
            tenants: self
                .tenants
                .iter()
                .filter(|t| t.erp == erp)
                .cloned()
                .collect(),
            text: self.text.clone(),
        }
    }
}

/// Finds the line of the i-th tenant list item, for errors found after parsing.
fn located(file: &str, text: &str, index: usize, message: &str) -> ScenarioError {
    let mut err = ScenarioError::new(file, message);
    if let Ok(serde_yaml::Value::Mapping(_)) = serde_yaml::from_str::<serde_yaml::Value>(text) {
        let mut in_tenants = false;
        let mut count = 0usize;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("tenants:") {
                in_tenants = true;
                continue;
            }
            if in_tenants
                && !line.is_empty()
                && !line.starts_with(' ')
                && !line.starts_with('-')
                && !line.starts_with('#')
            {
                break;
            }
            if in_tenants && line.trim_start().starts_with("- ") {
                if count == index {
                    err.line = Some(n + 1);
                    err.column = Some(line.len() - line.trim_start().len() + 3);
                    break;
                }
                count += 1;
            }
        }
    }
    err
}

/// What one simulator gets from a scenario: its tenants and its own section.
#[derive(Debug, Clone)]
pub struct ScenarioSection {
    pub erp: ErpKind,
    pub file: String,
    pub seed: u64,
    /// The tenants whose `erp` is this simulator's.
    pub tenants: Vec<TenantSpec>,
    text: Arc<str>,
}

impl ScenarioSection {
    /// A section with no tenants and no ERP-specific part (unit tests of a simulator).
    pub fn empty(erp: ErpKind) -> Self {
        Self {
            erp,
            file: "<empty>".into(),
            seed: 0,
            tenants: Vec::new(),
            text: Arc::from("{}"),
        }
    }

    /// Parses `erps.<key>` of the scenario as `T`; None when absent. Parsing runs over the
    /// original text, so errors carry its line, column and path
    /// (`erps.netsuite.accounts[0].limit: ...`).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<Option<T>, ScenarioError> {
        let de = serde_yaml::Deserializer::from_str(&self.text);
        DocSeed::<T> {
            key: self.erp.key(),
            _t: std::marker::PhantomData,
        }
        .deserialize(de)
        .map_err(|e| ScenarioError::from_yaml(&self.file, &e))
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantSpec> {
        self.tenants.iter().find(|t| t.id == id)
    }
}

/// Walks the top-level map to `erps.<key>`, deserializing only that value as T.
struct DocSeed<T> {
    key: &'static str,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for DocSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_map(DocVisitor::<T> {
            key: self.key,
            nested: false,
            _t: std::marker::PhantomData,
        })
    }
}

struct DocVisitor<T> {
    key: &'static str,
    /// False at the top level (looking for `erps`), true inside `erps`.
    nested: bool,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for DocVisitor<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(k) = map.next_key::<String>()? {
            if !self.nested && k == "erps" {
                found = map.next_value_seed(ErpsSeed::<T> {
                    key: self.key,
                    _t: std::marker::PhantomData,
                })?;
            } else if self.nested && k == self.key {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct ErpsSeed<T> {
    key: &'static str,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for ErpsSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(DocVisitor::<T> {
            key: self.key,
            nested: true,
            _t: std::marker::PhantomData,
        })
    }
}

/// Test and demo controls of a running simulator. Tenants are scenario tenant ids.
pub trait SimControl: Send + Sync {
    /// Switches a fault mode on or off or sets its value (`concurrency_limit`: 2,
    /// `revoked`: true, `error_5xx_every`: 3, `latency_ms`: 200...). Unknown faults are
    /// an error naming the fault.
    fn set_fault(&self, tenant: &str, fault: &str, value: serde_json::Value) -> Result<(), String>;

    /// Revokes the tenant's credentials: later requests fail the ERP's way.
    fn revoke(&self, tenant: &str) -> Result<(), String> {
        self.set_fault(tenant, "revoked", serde_json::Value::Bool(true))
    }

    /// Modifies or creates `count` records of `object` (stamped with the current clock
    /// time) and returns their ERP ids, so incremental reads have something to find.
    fn inject_changes(
        &self,
        tenant: &str,
        object: &str,
        count: usize,
    ) -> Result<Vec<String>, String>;

    /// A JSON description for `switchyard sim` to print (tenants, accounts, paths).
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A built simulator: its router and its control handle.
pub struct SimInstance {
    pub router: axum::Router,
    pub control: Arc<dyn SimControl>,
}

/// Implemented by each ERP crate's simulator; returned by its `simulator()`.
pub trait ErpSimulator: Send + Sync + 'static {
    fn kind(&self) -> ErpKind;

    /// Builds the simulator for the scenario's tenants of this ERP, reading the clock for
    /// timestamps and session expiry.
    fn router(
        &self,
        section: &ScenarioSection,
        clock: SharedClock,
    ) -> Result<SimInstance, ScenarioError>;
}

/// A simulator serving on a local port. Dropping it stops the server.
pub struct RunningSim {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSim {
    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves a router on `addr` (use `127.0.0.1:0` for a free port).
pub async fn serve(router: axum::Router, addr: SocketAddr) -> std::io::Result<RunningSim> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(RunningSim {
        addr,
        base_url: format!("http://{addr}"),
        shutdown: Some(tx),
        task: Some(task),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_parses() {
        let s = Scenario::default_scenario();
        assert_eq!(s.seed, 42);
        for erp in ErpKind::ALL {
            assert!(!s.section(erp).tenants.is_empty(), "{erp} has a tenant");
        }
    }

    #[test]
    fn type_error_names_file_line_column_and_path() {
        let text = "seed: 1\ntenants:\n  - id: a\n    erp: netsuite\n    latency_ms: slow\n";
        let e = Scenario::parse("scenario.yaml", text).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("scenario.yaml:5:17: tenants[0].latency_ms: invalid type"),
            "{s}"
        );
    }

    #[test]
    fn unknown_field_and_unknown_erp_are_named() {
        let e = Scenario::parse(
            "s.yaml",
            "tenants:\n  - id: a\n    erp: netsuite\n    latncy_ms: 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("s.yaml:4:"), "{e}");
        assert!(e.contains("tenants[0]") && e.contains("latncy_ms"), "{e}");
        let e = Scenario::parse("s.yaml", "tenants:\n  - id: a\n    erp: oracle\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.yaml:3:") && e.contains("tenants[0].erp"),
            "{e}"
        );
        let e = Scenario::parse("s.yaml", "erps:\n  quickbooks: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.yaml:2:"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_tenant() {
        let text = "tenants:\n  - id: a\n    erp: netsuite\n  - id: a\n    erp: intacct\n";
        let e = Scenario::parse("s.yaml", text).unwrap_err().to_string();
        assert_eq!(e, "s.yaml:4:5: tenants[1].id: duplicate tenant id 'a'");
    }

    #[test]
    fn malformed_yaml_is_located() {
        let e = Scenario::parse("s.yaml", "tenants: [\n  - id: a\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct NsSection {
        accounts: Vec<NsAccount>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct NsAccount {
        id: String,
        limit: u32,
    }

    #[test]
    fn erp_section_parses_with_locations() {
        let text = "seed: 3\nerps:\n  intacct: {whatever: 1}\n  netsuite:\n    accounts:\n      - id: \"1\"\n        limit: 5\n";
        let s = Scenario::parse("s.yaml", text).unwrap();
        let ns: NsSection = s.section(ErpKind::Netsuite).parse().unwrap().unwrap();
        assert_eq!(ns.accounts[0].limit, 5);
        assert!(s
            .section(ErpKind::SapB1)
            .parse::<NsSection>()
            .unwrap()
            .is_none());

        let bad = "erps:\n  netsuite:\n    accounts:\n      - id: \"1\"\n        limit: many\n";
        let s = Scenario::parse("s.yaml", bad).unwrap();
        let e = s
            .section(ErpKind::Netsuite)
            .parse::<NsSection>()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.yaml:5:16: erps.netsuite.accounts[0].limit: invalid type"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn serve_binds_a_free_port_and_stops() {
        let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let sim = serve(router, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let body = reqwest::get(format!("{}/ping", sim.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "pong");
        sim.stop().await;
    }
}
