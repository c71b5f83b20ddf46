//! The connector contract: each ERP declared as data, the trait an ERP crate implements,
//! and the trait of a live connection (check, discover, read a page, write a batch).

use crate::engine::Engine;
use crate::error::ConnectorError;
use crate::secret::Credentials;
use async_trait::async_trait;
use domain::{ConnectionId, Environment, ErpKind, ErrorCode, Schema, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use url::Url;

// ---------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------

/// One field a connection form must ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    /// The key under which the value is stored (`consumer_key`, `company_db`).
    pub key: &'static str,
    pub label: &'static str,
    /// Secret fields are masked in forms, stored only in the vault, never shown again.
    pub secret: bool,
    pub required: bool,
    pub help: &'static str,
}

/// A way to authenticate against the ERP (TBA, OAuth 2.0 M2M, user/password login...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CredentialKind {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub fields: &'static [FieldSpec],
}

/// What a connector can do. The UI and workers ask instead of assuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Capabilities {
    pub check: bool,
    pub discover: bool,
    pub read: bool,
    pub write: bool,
    pub change_feed: bool,
}

/// An ERP as data: everything the catalog, the forms and the workers need to know about
/// it without running any of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErpDeclaration {
    pub kind: ErpKind,
    pub display_name: &'static str,
    pub credential_kinds: &'static [CredentialKind],
    /// Non-secret connection settings (account id, company database, entity id...).
    pub settings: &'static [FieldSpec],
    pub environments: &'static [Environment],
    pub capabilities: Capabilities,
    /// Host suffixes a base URL override may point at (`.netsuite.com`). Empty means
    /// any public host (SAP B1 Service Layer is hosted by the customer).
    pub allowed_host_suffixes: &'static [&'static str],
}

impl ErpDeclaration {
    /// The stable key (`netsuite`, `sap_b1`, `intacct`).
    pub fn key(&self) -> &'static str {
        self.kind.key()
    }

    pub fn credential_kind(&self, key: &str) -> Option<&'static CredentialKind> {
        self.credential_kinds.iter().find(|k| k.key == key)
    }

    /// Checks that credentials name a declared kind and carry every required field, and
    /// that settings carry every required setting; the error names what is missing.
    pub fn validate(&self, config: &ConnectionConfig) -> Result<(), ConnectorError> {
        let kind = self
            .credential_kind(config.credentials.kind())
            .ok_or_else(|| {
                ConnectorError::invalid_input(format!(
                    "{} has no credential kind '{}' (known: {})",
                    self.display_name,
                    config.credentials.kind(),
                    self.credential_kinds
                        .iter()
                        .map(|k| k.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        for f in kind.fields.iter().filter(|f| f.required) {
            config.credentials.require(f.key)?;
        }
        for s in self.settings.iter().filter(|s| s.required) {
            match config.settings.get(s.key) {
                Some(v) if !v.is_null() && v.as_str() != Some("") => {}
                _ => {
                    return Err(ConnectorError::invalid_input(format!(
                        "setting '{}' ({}) is required for {}",
                        s.key, s.label, self.display_name
                    )))
                }
            }
        }
        if !self.environments.contains(&config.environment) {
            return Err(ConnectorError::invalid_input(format!(
                "{} does not support the {} environment",
                self.display_name,
                config.environment.key()
            )));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Connection configuration
// ---------------------------------------------------------------------------------------

/// Everything needed to open one tenant's connection. Debug is safe: credentials redact.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub environment: Environment,
    /// Overrides the ERP's derived base URL. Untrusted input: connectors must pass it
    /// through [`validate_base_url`] before use.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Non-secret settings keyed as declared in [`ErpDeclaration::settings`].
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    pub credentials: Credentials,
}

impl ConnectionConfig {
    /// A string setting, if present.
    pub fn setting_str(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(|v| v.as_str())
    }

    /// A required string setting, or an `invalid_input` error naming it.
    pub fn require_setting(&self, key: &str) -> Result<&str, ConnectorError> {
        self.setting_str(key)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectorError::invalid_input(format!("setting '{key}' is missing")))
    }
}

/// Which base URLs a connection may point at.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy<'a> {
    /// Host suffixes allowed (empty: any host that is not private, unless loopback allowed).
    pub allowed_host_suffixes: &'a [&'a str],
    /// Plain http to 127.0.0.1/localhost is allowed (simulators, local tests).
    pub allow_loopback: bool,
}

/// Validates an untrusted base URL: https only (http only for allowed loopback), no user
/// info, a host that matches the ERP's allowed suffixes, and never a private or link-local
/// address unless it is an allowed loopback. Returns the parsed URL without a trailing
/// slash in its path so connectors can append paths.
pub fn validate_base_url(raw: &str, policy: UrlPolicy<'_>) -> Result<Url, ConnectorError> {
    let bad = |why: &str| ConnectorError::invalid_input(format!("base URL '{raw}': {why}"));
    let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not contain a query or fragment"));
    }
    let host = url.host().ok_or_else(|| bad("has no host"))?;
    let loopback = match &host {
        url::Host::Domain(d) => *d == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && policy.allow_loopback => {}
        "http" => return Err(bad("must use https")),
        other => return Err(bad(&format!("scheme '{other}' is not allowed"))),
    }
    if loopback {
        if !policy.allow_loopback {
            return Err(bad("loopback hosts are not allowed"));
        }
        return Ok(url);
    }
    // Literal addresses are checked here; host names are checked again when they
    // resolve (netguard), so a name pointing at an internal address fails too.
    let private = match &host {
        url::Host::Ipv4(ip) => crate::netguard::is_non_public(std::net::IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => crate::netguard::is_non_public(std::net::IpAddr::V6(*ip)),
        url::Host::Domain(_) => false,
    };
    if private {
        return Err(bad("private and link-local addresses are not allowed"));
    }
    if !policy.allowed_host_suffixes.is_empty() {
        let h = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let ok = policy.allowed_host_suffixes.iter().any(|s| {
            let s = s.trim_start_matches('.');
            h == s || h.ends_with(&format!(".{s}"))
        });
        if !ok {
            return Err(bad(&format!(
                "host must end with one of: {}",
                policy.allowed_host_suffixes.join(", ")
            )));
        }
    }
    Ok(url)
}

// ---------------------------------------------------------------------------------------
// Reads and writes
// ---------------------------------------------------------------------------------------

/// An opaque, connector-owned resume point. The server persists it as JSON and hands it
/// back unchanged, so a restart resumes where the last committed page ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub serde_json::Value);

impl Cursor {
    pub fn new<T: Serialize>(value: &T) -> Result<Self, ConnectorError> {
        serde_json::to_value(value)
            .map(Cursor)
            .map_err(|e| ConnectorError::new(ErrorCode::Internal, format!("cursor: {e}")))
    }

    /// Reads the cursor back into the connector's own type; a cursor that does not
    /// parse (hand-edited, from another version) is `invalid_input`, not a panic.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_value(self.0.clone())
            .map_err(|e| ConnectorError::invalid_input(format!("cursor is not valid: {e}")))
    }
}

/// Read one page of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRequest {
    pub object: String,
    /// None starts a full read; otherwise a `next` or `watermark` from an earlier page.
    pub cursor: Option<Cursor>,
    /// Upper bound on records in the page; connectors clamp it to what the ERP allows.
    pub page_size: u32,
}

/// One page of records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub records: Vec<domain::NormalizedRecord>,
    /// Some: more records are available now; read again with it. None: caught up.
    pub next: Option<Cursor>,
    /// Where the next incremental read starts once caught up (a high-water mark). It is
    /// set on the last page of a read (when `next` is None) by every connector that can
    /// read incrementally; it may also be set on other pages.
    #[serde(default)]
    pub watermark: Option<Cursor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOp {
    Create,
    Update,
    /// Create or update by the item's idempotency key / external id.
    Upsert,
    Delete,
}

/// One record to write. The idempotency key is stored in an ERP field (NetSuite
/// externalId, an SAP U_ field, an Intacct reference field) so a retried write finds the
/// record it already created instead of creating a second one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteItem {
    pub idempotency_key: String,
    pub op: WriteOp,
    /// The ERP id of the record, for update and delete.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteBatch {
    pub object: String,
    pub items: Vec<WriteItem>,
}

/// What happened to one item of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ItemOutcome {
    Written {
        external_id: String,
    },
    /// Landed as an approval draft (SAP B1); track it with the draft key.
    PendingApproval {
        draft_key: String,
    },
    Failed {
        error: ConnectorError,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub idempotency_key: String,
    #[serde(flatten)]
    pub outcome: ItemOutcome,
}

/// The result of a connection check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CheckReport {
    /// Who we are logged in as / which company, for the UI ("Connected to ACME (prod)").
    pub account_label: String,
    /// Anything the tenant should know (a missing permission that limits some objects).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One change from an ERP change feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub object: String,
    pub external_id: String,
    pub deleted: bool,
    pub at: Option<String>,
}

/// The answer of [`Connection::changes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Changes {
    /// This ERP (or this connector) has no change feed; poll with reads instead.
    Unsupported,
    Batch {
        events: Vec<ChangeEvent>,
        next: Cursor,
    },
}

/// The state of a write that landed as an approval draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ApprovalStatus {
    Pending,
    Approved { external_id: String },
    Rejected { reason: String },
}

// ---------------------------------------------------------------------------------------
// Traits
// ---------------------------------------------------------------------------------------

/// An ERP implementation. One static value per ERP crate, returned by its `connector()`.
pub trait ErpConnector: Send + Sync + 'static {
    fn declaration(&self) -> &'static ErpDeclaration;

    /// Builds a live connection. Performs no IO (logins happen lazily through the engine)
    /// but validates the configuration, so a bad form is rejected before any request.
    fn connect(
        &self,
        config: ConnectionConfig,
        engine: Engine,
    ) -> Result<Arc<dyn Connection>, ConnectorError>;
}

/// A live connection to one tenant's ERP account / company database / company. Every
/// request it makes goes through the [`Engine`] it was given.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Proves the credentials work (and says as whom).
    async fn check(&self) -> Result<CheckReport, ConnectorError>;

    /// The tenant's schema, custom objects and fields included.
    async fn discover(&self) -> Result<Schema, ConnectorError>;

    /// One page of an object from a cursor.
    async fn read_page(&self, request: ReadRequest) -> Result<Page, ConnectorError>;

    /// Writes a batch; the outer error is for failures of the whole batch (auth, ERP
    /// down), per-item failures are in the results, one result per item in order.
    async fn write_batch(&self, batch: WriteBatch) -> Result<Vec<ItemResult>, ConnectorError>;

    /// A change feed (deletions, audit trail) when the ERP has one.
    async fn changes(&self, _since: Option<Cursor>) -> Result<Changes, ConnectorError> {
        Ok(Changes::Unsupported)
    }

    /// The state of an approval draft created by `write_batch`.
    async fn approval_status(
        &self,
        _object: &str,
        draft_key: &str,
    ) -> Result<ApprovalStatus, ConnectorError> {
        Err(ConnectorError::invalid_input(format!(
            "this connector has no approval drafts (asked about {draft_key})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: UrlPolicy<'static> = UrlPolicy {
        allowed_host_suffixes: &[".netsuite.com"],
        allow_loopback: false,
    };

    #[test]
    fn base_url_policy() {
        assert!(validate_base_url("https://123-sb1.suitetalk.api.netsuite.com", P).is_ok());
        for bad in [
            "http://123.suitetalk.api.netsuite.com",
            "https://evil.com",
            "https://netsuite.com.evil.com",
            "https://user:pw@x.netsuite.com",
            "https://10.0.0.1",
            "https://169.254.169.254/latest",
            "http://127.0.0.1:8080",
            "file:///etc/passwd",
            "not a url",
            "https://x.netsuite.com/?a=b",
        ] {
            assert!(validate_base_url(bad, P).is_err(), "{bad} accepted");
        }
        let lo = UrlPolicy {
            allowed_host_suffixes: &[".netsuite.com"],
            allow_loopback: true,
        };
        assert!(validate_base_url("http://127.0.0.1:8080", lo).is_ok());
        let any = UrlPolicy {
            allowed_host_suffixes: &[],
            allow_loopback: false,
        };
        assert!(validate_base_url("https://b1.customer.example:50000/b1s/v1", any).is_ok());
        assert!(validate_base_url("https://192.168.1.10:50000", any).is_err());
    }

    #[test]
    fn cursor_round_trip_and_bad_cursor() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct C {
            offset: u64,
        }
        let c = Cursor::new(&C { offset: 7 }).unwrap();
        let text = serde_json::to_string(&c).unwrap();
        let back: Cursor = serde_json::from_str(&text).unwrap();
        assert_eq!(back.parse::<C>().unwrap(), C { offset: 7 });
        let e = Cursor(serde_json::json!("garbage"))
            .parse::<C>()
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn item_result_json_shape() {
        let r = ItemResult {
            idempotency_key: "k1".into(),
            outcome: ItemOutcome::Written {
                external_id: "42".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"idempotency_key":"k1","status":"written","external_id":"42"})
        );
    }
}
