//! Native SAP Business One connector and a simulator that speaks its wire protocol.
//!
//! The connector talks to Service Layer (`/b1s/v1` OData V3 or `/b1s/v2` OData V4) through
//! the connector-core engine: sessions per tenant and company database, incremental reads
//! by UpdateDate/UpdateTime, `$batch` bulk writes with idempotency references and approval
//! tracking. The simulator (in [`simulator`]) reproduces the same protocol for tests.

pub mod auth;
pub mod client;
pub mod connection;
pub mod job;
pub mod multipart;
pub mod read;
pub mod schema;
pub mod sim_adapter;
pub mod simulator;
pub mod write;

use connection::SlConn;
use connector_core::domain::{Environment, ErpKind, Schema};
use connector_core::{
    async_trait, validate_base_url, ApprovalStatus, Capabilities, CheckReport, Connection,
    ConnectionConfig, ConnectorError, Engine, ErpConnector, ErpDeclaration, ErpSimulator,
    FieldSpec, ItemResult, Page, ReadRequest, SharedClock, SystemClock, UrlPolicy, WriteBatch,
};
use std::sync::Arc;
use url::Url;

pub static DECLARATION: ErpDeclaration = ErpDeclaration {
    kind: ErpKind::SapB1,
    display_name: "SAP Business One",
    credential_kinds: auth::CREDENTIAL_KINDS,
    settings: &[
        FieldSpec {
            key: "company_db",
            label: "Company database",
            secret: false,
            required: true,
            help: "The company database or HANA schema, e.g. SBODEMOUS.",
        },
        FieldSpec {
            key: "version",
            label: "Service Layer version",
            secret: false,
            required: false,
            help: "v2 (OData V4, preferred since 10.0 FP 2108) or v1 (OData V3).",
        },
        FieldSpec {
            key: "sessions",
            label: "Parallel sessions",
            secret: false,
            required: false,
            help: "How many Service Layer sessions bulk writes may use at once (default 2).",
        },
        FieldSpec {
            key: "reference_field",
            label: "Reference field",
            secret: false,
            required: false,
            help:
                "The document field holding Switchyard's idempotency key (NumAtCard or a U_ field).",
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
    // Service Layer is self-hosted, so any public host is allowed.
    allowed_host_suffixes: &[],
};

pub struct SapB1Connector;

static CONNECTOR: SapB1Connector = SapB1Connector;

/// The registry's entry point for the connector.
pub fn connector() -> &'static dyn ErpConnector {
    &CONNECTOR
}

/// The registry's entry point for the simulator.
pub fn simulator() -> &'static dyn ErpSimulator {
    &sim_adapter::SIMULATOR
}

/// The service root for a configuration: the base URL plus `/b1s/<version>/` unless the
/// URL already names a service root.
pub fn service_root(config: &ConnectionConfig) -> Result<Url, ConnectorError> {
    let raw = config.base_url.as_deref().ok_or_else(|| {
        ConnectorError::invalid_input(
            "SAP Business One needs the Service Layer URL (https://host:50000)",
        )
    })?;
    let allow_loopback = config
        .settings
        .get("allow_loopback")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let mut url = validate_base_url(
        raw,
        UrlPolicy {
            allowed_host_suffixes: DECLARATION.allowed_host_suffixes,
            allow_loopback,
        },
    )?;
    let version = config.setting_str("version").unwrap_or("v2");
    if version != "v1" && version != "v2" {
        return Err(ConnectorError::invalid_input(format!(
            "setting 'version' must be v1 or v2, not '{version}'"
        )));
    }
    if !url.path().contains("/b1s/") {
        let path = format!("{}/b1s/{version}/", url.path().trim_end_matches('/'));
        url.set_path(&path);
    } else if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A connection to one company database.
pub struct SapB1Connection {
    pub conn: Arc<SlConn>,
}

impl SapB1Connection {
    /// Like [`ErpConnector::connect`] with a chosen clock for the session pool (tests use
    /// a `TestClock` to prove refresh before the idle timeout).
    pub fn with_clock(
        config: ConnectionConfig,
        engine: Engine,
        clock: SharedClock,
    ) -> Result<SapB1Connection, ConnectorError> {
        DECLARATION.validate(&config)?;
        let root = service_root(&config)?;
        Ok(SapB1Connection {
            conn: Arc::new(SlConn::new(&config, engine, clock, root)?),
        })
    }
}

impl ErpConnector for SapB1Connector {
    fn declaration(&self) -> &'static ErpDeclaration {
        &DECLARATION
    }

    fn connect(
        &self,
        config: ConnectionConfig,
        engine: Engine,
    ) -> Result<Arc<dyn Connection>, ConnectorError> {
        Ok(Arc::new(SapB1Connection::with_clock(
            config,
            engine,
            Arc::new(SystemClock),
        )?))
    }
}

#[async_trait]
impl Connection for SapB1Connection {
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let url = self.conn.url("UserFieldsMD?$top=1&$select=TableName")?;
        let resp = self.conn.get(0, "check", url, Some(1)).await?;
        client::parse_collection(&resp.body)?;
        Ok(CheckReport {
            account_label: format!(
                "{} ({})",
                self.conn.company_db,
                self.conn.root.host_str().unwrap_or("")
            ),
            warnings: vec![],
        })
    }

    async fn discover(&self) -> Result<Schema, ConnectorError> {
        schema::discover(&self.conn).await
    }

    async fn read_page(&self, request: ReadRequest) -> Result<Page, ConnectorError> {
        read::read_page(&self.conn, request).await
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<Vec<ItemResult>, ConnectorError> {
        let refs: Vec<&connector_core::WriteItem> = batch
            .items
            .iter()
            .filter(|i| {
                matches!(
                    i.op,
                    connector_core::WriteOp::Create | connector_core::WriteOp::Upsert
                )
            })
            .collect();
        let found = write::reconcile(&self.conn, &batch.object, &refs).await?;
        let mut items = batch.items.clone();
        let known: Vec<Option<connector_core::ItemOutcome>> = items
            .iter_mut()
            .map(|i| match (i.op, found.get(&i.idempotency_key)) {
                (connector_core::WriteOp::Create, Some(o)) => Some(o.clone()),
                (
                    connector_core::WriteOp::Upsert,
                    Some(connector_core::ItemOutcome::Written { external_id }),
                ) => {
                    i.external_id = Some(external_id.clone());
                    None
                }
                _ => None,
            })
            .collect();
        let opts = write::WriteOptions {
            chunk: 100,
            parallel: self.conn.sessions,
        };
        let outcomes =
            write::write_all(&self.conn, &batch.object, &items, known, opts, &mut |_| {}).await?;
        Ok(items
            .into_iter()
            .zip(outcomes)
            .map(|(i, outcome)| ItemResult {
                idempotency_key: i.idempotency_key,
                outcome,
            })
            .collect())
    }

    async fn approval_status(
        &self,
        _object: &str,
        draft_key: &str,
    ) -> Result<ApprovalStatus, ConnectorError> {
        write::approval_status(&self.conn, draft_key).await
    }
}
