//! The server's side of `app::ssr::ConnectorService`: turns a stored connection into a
//! connector call through the registry and one shared, governed engine.

use app::error::AppError;
use app::ssr::{BoxFuture, CheckSummary, ConnectionSpec, ConnectorService};
use connector_core::{ConnectionConfig, Credentials, Engine};
use domain::catalog::{CatalogEntry, CredentialForm, FormField};
use domain::{ConnectionId, Schema};
use secrecy::ExposeSecret;

pub struct RegistryConnectors {
    engine: Engine,
    /// Operator setting for demos against local simulators; tenant input can never set it.
    allow_loopback: bool,
}

impl RegistryConnectors {
    pub fn new(engine: Engine, allow_loopback: bool) -> Self {
        Self {
            engine,
            allow_loopback,
        }
    }

    fn open(
        &self,
        spec: &ConnectionSpec,
    ) -> Result<std::sync::Arc<dyn connector_core::Connection>, AppError> {
        let connector = connectors::connector(spec.erp).ok_or_else(|| {
            AppError::invalid(format!("{} is not available", spec.erp.display_name()))
        })?;
        let credentials = Credentials::from_vault_json(spec.credentials_json.expose_secret())
            .map_err(|_| AppError::internal("stored credentials are not in the vault format"))?;
        let mut settings = spec.settings.clone();
        // Only the operator decides this; a tenant-supplied key of that name is dropped.
        settings.remove("allow_loopback");
        if self.allow_loopback {
            settings.insert("allow_loopback".into(), serde_json::Value::Bool(true));
        }
        let config = ConnectionConfig {
            tenant: spec.tenant.clone(),
            connection: ConnectionId(spec.connection_id.clone()),
            environment: spec.environment,
            base_url: spec.base_url.clone(),
            settings,
            credentials,
        };
        connector
            .connect(config, self.engine.clone())
            .map_err(to_app)
    }
}

/// A connector error as the user sees it: its code and message (which never carry
/// credential values, by the connector contract).
fn to_app(e: connector_core::ConnectorError) -> AppError {
    AppError::new(e.code, e.message)
}

fn field(f: &connector_core::FieldSpec) -> FormField {
    FormField {
        key: f.key.into(),
        label: f.label.into(),
        secret: f.secret,
        required: f.required,
        help: f.help.into(),
    }
}

impl ConnectorService for RegistryConnectors {
    fn catalog(&self) -> Vec<CatalogEntry> {
        connectors::declarations()
            .into_iter()
            .map(|d| CatalogEntry {
                erp: d.kind,
                display_name: d.display_name.into(),
                credential_kinds: d
                    .credential_kinds
                    .iter()
                    .map(|k| CredentialForm {
                        key: k.key.into(),
                        label: k.label.into(),
                        help: k.help.into(),
                        fields: k.fields.iter().map(field).collect(),
                    })
                    .collect(),
                settings: d.settings.iter().map(field).collect(),
                environments: d.environments.to_vec(),
                can_discover: d.capabilities.discover,
                needs_base_url: d.allowed_host_suffixes.is_empty(),
            })
            .collect()
    }

    fn check<'a>(
        &'a self,
        spec: &'a ConnectionSpec,
    ) -> BoxFuture<'a, Result<CheckSummary, AppError>> {
        Box::pin(async move {
            let conn = self.open(spec)?;
            let report = conn.check().await.map_err(to_app)?;
            Ok(CheckSummary {
                account_label: report.account_label,
                warnings: report.warnings,
            })
        })
    }

    fn discover<'a>(&'a self, spec: &'a ConnectionSpec) -> BoxFuture<'a, Result<Schema, AppError>> {
        Box::pin(async move {
            let conn = self.open(spec)?;
            conn.discover().await.map_err(to_app)
        })
    }
}
