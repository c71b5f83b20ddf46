//! Native NetSuite connector and a simulator that speaks its wire protocol.
//!
//! REST and SuiteQL are the primary path; SOAP SuiteTalk is kept for what only SOAP does
//! (saved-search execution, getCustomizationId, getSavedSearch), because Oracle is
//! retiring SOAP and closing TBA to new integrations. Both TBA and OAuth 2.0 client
//! credentials are supported; SOAP requires TBA.

pub mod auth;
pub mod client;
pub mod read;
pub mod schema;
pub mod simulator;
pub mod write;

use client::{AuthMode, NsClient};
use connector_core::domain::{Environment, ErpKind, ErrorCode, Schema};
use connector_core::{
    validate_base_url, AccountKey, AccountLimits, Capabilities, CheckReport, Connection,
    ConnectionConfig, ConnectorError, CredentialKind, Cursor, Engine, ErpConnector, ErpDeclaration,
    FieldSpec, ItemResult, Page, ReadRequest, RequestContext, UrlPolicy, WriteBatch,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const TBA_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "consumer_key",
        label: "Consumer key",
        secret: true,
        required: true,
        help: "From the integration record (Setup > Integration > Manage Integrations).",
    },
    FieldSpec {
        key: "consumer_secret",
        label: "Consumer secret",
        secret: true,
        required: true,
        help: "Shown once when the integration record is saved.",
    },
    FieldSpec {
        key: "token_id",
        label: "Token ID",
        secret: true,
        required: true,
        help: "From the access token for the integration user and role.",
    },
    FieldSpec {
        key: "token_secret",
        label: "Token secret",
        secret: true,
        required: true,
        help: "Shown once when the access token is created.",
    },
];

const OAUTH2_FIELDS: &[FieldSpec] = &[
    FieldSpec { key: "client_id", label: "Client ID", secret: true, required: true, help: "The integration record's client id (OAuth 2.0 client credentials enabled)." },
    FieldSpec { key: "certificate_id", label: "Certificate ID", secret: false, required: true, help: "The id NetSuite shows for the uploaded certificate (OAuth 2.0 Client Credentials Setup)." },
    FieldSpec { key: "private_key", label: "Private key", secret: true, required: true, help: "The certificate's P-256 private key, PKCS#8 in Base64 (DER)." },
];

/// NetSuite declared as data.
pub static DECLARATION: ErpDeclaration = ErpDeclaration {
    kind: ErpKind::Netsuite,
    display_name: "Oracle NetSuite",
    credential_kinds: &[
        CredentialKind { key: "oauth2_m2m", label: "OAuth 2.0 client credentials", help: "Recommended for new integrations (REST and SuiteQL). Saved searches need SOAP, which needs TBA.", fields: OAUTH2_FIELDS },
        CredentialKind { key: "tba", label: "Token-based authentication", help: "OAuth 1.0a with HMAC-SHA256; closed to new integrations from 2027.1 but existing ones keep working. Required for SOAP saved searches.", fields: TBA_FIELDS },
    ],
    settings: &[
        FieldSpec { key: "account_id", label: "Account ID", secret: false, required: true, help: "1234567 for production, 1234567_SB1 for a sandbox, TSTDRV1234567 for a test drive." },
        FieldSpec { key: "concurrency_limit", label: "Concurrency limit", secret: false, required: false, help: "The account's concurrent-request limit (default 5, the minimum of any account)." },
        FieldSpec { key: "write_channel", label: "Bulk write channel", secret: false, required: false, help: "rest (default, one request per record) or soap (upsertList, 100 records per request; needs TBA)." },
    ],
    environments: &[Environment::Production, Environment::Sandbox],
    capabilities: Capabilities { check: true, discover: true, read: true, write: true, change_feed: false },
    allowed_host_suffixes: &[".netsuite.com"],
};

/// The NetSuite connector.
pub struct NetsuiteConnector;

static CONNECTOR: NetsuiteConnector = NetsuiteConnector;

/// The registry's entry point.
pub fn connector() -> &'static dyn ErpConnector {
    &CONNECTOR
}

/// The registry's simulator entry point.
pub fn simulator() -> &'static dyn connector_core::ErpSimulator {
    &simulator::harness::SIMULATOR
}

impl ErpConnector for NetsuiteConnector {
    fn declaration(&self) -> &'static ErpDeclaration {
        &DECLARATION
    }

    fn connect(
        &self,
        config: ConnectionConfig,
        engine: Engine,
    ) -> Result<Arc<dyn Connection>, ConnectorError> {
        Ok(Arc::new(NetsuiteConnection::new(config, engine)?))
    }
}

/// One tenant's connection to one NetSuite account.
pub struct NetsuiteConnection {
    pub(crate) client: NsClient,
    pub(crate) account: String,
    pub(crate) environment: Environment,
    /// Per-object metadata, fetched once per connection.
    pub(crate) meta: tokio::sync::Mutex<HashMap<String, Arc<schema::ObjectMeta>>>,
    /// Creates and upserts through SOAP upsertList (100 records per request) instead of
    /// one REST request per record; needs TBA.
    pub(crate) soap_bulk_writes: bool,
}

impl NetsuiteConnection {
    pub fn new(config: ConnectionConfig, engine: Engine) -> Result<Self, ConnectorError> {
        DECLARATION.validate(&config)?;
        let raw_account = config.require_setting("account_id")?;
        let account = auth::canonical_account(raw_account);
        let kind = simulator::account_kind(&account).ok_or_else(|| {
            ConnectorError::invalid_input(format!("'{raw_account}' is not a NetSuite account id (1234567, 1234567_SB1, TSTDRV1234567)"))
        })?;
        let is_sandbox = kind == simulator::AccountKind::Sandbox;
        if is_sandbox != (config.environment == Environment::Sandbox) {
            return Err(ConnectorError::invalid_input(format!(
                "account {account} is {} but the connection says {}",
                if is_sandbox {
                    "a sandbox"
                } else {
                    "not a sandbox"
                },
                config.environment.key()
            )));
        }
        let allow_loopback =
            config.settings.get("allow_loopback") == Some(&serde_json::Value::Bool(true));
        let base = match &config.base_url {
            Some(raw) => validate_base_url(
                raw,
                UrlPolicy {
                    allowed_host_suffixes: DECLARATION.allowed_host_suffixes,
                    allow_loopback,
                },
            )?,
            None => url::Url::parse(&format!("https://{}", auth::suitetalk_host(&account)))
                .map_err(|e| {
                    ConnectorError::invalid_input(format!("account id gives no host: {e}"))
                })?,
        };
        let limit = match config.settings.get("concurrency_limit") {
            None | Some(serde_json::Value::Null) => 5,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ConnectorError::invalid_input(
                        "setting 'concurrency_limit' must be a number from 1 to 1000",
                    )
                })? as u32,
        };
        let soap_bulk_writes = match config.setting_str("write_channel") {
            None | Some("rest") => false,
            Some("soap") => true,
            Some(other) => {
                return Err(ConnectorError::invalid_input(format!(
                    "setting 'write_channel' must be rest or soap, not {other:?}"
                )))
            }
        };
        if soap_bulk_writes && config.credentials.kind() != "tba" {
            return Err(ConnectorError::invalid_input(
                "write_channel soap needs token-based authentication (SOAP has no OAuth 2.0)",
            ));
        }
        let c = &config.credentials;
        let auth_mode = match c.kind() {
            "tba" => AuthMode::Tba(auth::TbaCredentials {
                account: account.clone(),
                consumer_key: c.require("consumer_key")?.to_string(),
                consumer_secret: SecretString::from(c.require("consumer_secret")?.to_string()),
                token_id: c.require("token_id")?.to_string(),
                token_secret: SecretString::from(c.require("token_secret")?.to_string()),
            }),
            "oauth2_m2m" => AuthMode::OAuth2 {
                creds: auth::OAuth2Credentials {
                    account: account.clone(),
                    client_id: c.require("client_id")?.to_string(),
                    certificate_id: c.require("certificate_id")?.to_string(),
                    private_key_pkcs8: SecretString::from(c.require("private_key")?.to_string()),
                    scopes: vec!["rest_webservices".into()],
                },
                token: tokio::sync::Mutex::new(None),
            },
            other => {
                return Err(ConnectorError::invalid_input(format!(
                    "unknown credential kind {other}"
                )))
            }
        };
        let ctx = RequestContext {
            tenant: config.tenant.clone(),
            erp: ErpKind::Netsuite,
            // One pool per NetSuite account: REST, SuiteQL and SOAP share NetSuite's limit.
            account: AccountKey::new(ErpKind::Netsuite, account.clone()),
            limits: AccountLimits::concurrency(limit),
        };
        Ok(NetsuiteConnection {
            client: NsClient {
                engine,
                ctx,
                base: base.as_str().trim_end_matches('/').to_string(),
                auth: auth_mode,
                needs_reauth: AtomicBool::new(false),
            },
            account,
            environment: config.environment,
            meta: tokio::sync::Mutex::new(HashMap::new()),
            soap_bulk_writes,
        })
    }

    /// True once NetSuite refused this connection's credentials (revoked token, deleted
    /// integration): the tenant must reconnect; other connections are unaffected.
    pub fn needs_reauth(&self) -> bool {
        self.client.needs_reauth.load(Ordering::SeqCst)
    }

    /// Runs one SuiteQL page through the governed path (for ad-hoc queries and probes).
    pub async fn suiteql_page(
        &self,
        q: &str,
        limit: u32,
        offset: u64,
    ) -> Result<client::CollectionPage, ConnectorError> {
        self.client.suiteql(q, limit, offset).await
    }

    /// Sends one SOAP operation (TBA passport added, governed like every request) and
    /// returns the parsed envelope.
    pub async fn soap_call(
        &self,
        operation: &'static str,
        body: &str,
        preferences: &str,
    ) -> Result<client::xml::Element, ConnectorError> {
        self.client.soap(operation, body, preferences, true).await
    }

    pub fn account_id(&self) -> &str {
        &self.account
    }
}

#[connector_core::async_trait]
impl Connection for NetsuiteConnection {
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        // A one-row SuiteQL query proves the credentials, the REST Web Services permission
        // and SuiteQL access in one governed call.
        self.client
            .suiteql("SELECT id FROM customer WHERE id < 0", 1, 0)
            .await
            .map_err(|e| e.with_operation("check"))?;
        let mut warnings = vec![];
        // The governance endpoint is for administrators; other roles get 403, which is
        // fine: the configured limit then stands.
        if let Ok(resp) = self
            .client
            .rest(
                "governance",
                http::Method::GET,
                "/services/rest/system/v1/governanceLimits",
                None,
                &[],
                true,
            )
            .await
        {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            if let Some(n) = v.get("accountConcurrencyLimit").and_then(|n| n.as_u64()) {
                let configured = self.client.ctx.limits.max_concurrency as u64;
                if n < configured {
                    warnings.push(format!("the account's concurrency limit is {n} but the connection is configured for {configured}; lower it to avoid rejections"));
                }
            }
        }
        if matches!(self.client.auth, AuthMode::OAuth2 { .. }) {
            warnings.push(
                "OAuth 2.0 connections cannot run saved searches (SOAP needs TBA)".to_string(),
            );
        }
        Ok(CheckReport {
            account_label: format!(
                "NetSuite account {} ({})",
                self.account,
                self.environment.key()
            ),
            warnings,
        })
    }

    async fn discover(&self) -> Result<Schema, ConnectorError> {
        schema::discover(self).await
    }

    async fn read_page(&self, request: ReadRequest) -> Result<Page, ConnectorError> {
        read::read_page(self, request).await
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<Vec<ItemResult>, ConnectorError> {
        write::write_batch(self, batch).await
    }
}

/// Parses a cursor, naming the connector in the error.
pub(crate) fn parse_cursor<T: serde::de::DeserializeOwned>(
    c: &Cursor,
) -> Result<T, ConnectorError> {
    c.parse::<T>().map_err(|e| {
        ConnectorError::new(
            ErrorCode::InvalidInput,
            format!("NetSuite cursor: {}", e.message),
        )
    })
}

#[cfg(test)]
mod fuzz;
