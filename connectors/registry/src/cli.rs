//! Operator subcommands the `switchyard` binary wires in: `sim` serves every registered
//! simulator, `erp` runs check / discover / read / write against one connection.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use connector_core::sim::{parse_yaml, serve, Scenario, SystemClock};
use connector_core::{
    Connection, ConnectionConfig, Credentials, Cursor, Engine, ErpConnector, ReadRequest,
    WriteBatch, WriteItem,
};
use domain::{ConnectionId, Environment, ErpKind, TenantId};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `switchyard sim`: serve every registered simulator on 127.0.0.1.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Scenario YAML file; the embedded default scenario when absent.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// First port; simulator i listens on PORT + i. 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// Loads the scenario named by the arguments (or the default one).
pub fn load_scenario(path: Option<&std::path::Path>) -> Result<Scenario> {
    Ok(match path {
        Some(p) => Scenario::load(p)?,
        None => Scenario::default_scenario(),
    })
}

/// Starts every registered simulator; returns their running handles and base URLs.
pub async fn start_simulators(
    scenario: &Scenario,
    port: u16,
) -> Result<Vec<(ErpKind, connector_core::sim::RunningSim, serde_json::Value)>> {
    let mut out = Vec::new();
    for (i, e) in crate::ERPS.iter().enumerate() {
        let sim = (e.simulator)();
        let section = scenario.section(e.kind);
        let instance = sim.router(&section, Arc::new(SystemClock))?;
        let p = if port == 0 {
            0
        } else {
            port.checked_add(i as u16)
                .ok_or_else(|| anyhow!("port overflow"))?
        };
        let addr: SocketAddr = ([127, 0, 0, 1], p).into();
        let running = serve(instance.router, addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the {} simulator", e.kind))?;
        out.push((e.kind, running, instance.control.describe()));
    }
    Ok(out)
}

/// Runs `switchyard sim` until Ctrl-C.
pub async fn run_sim(args: SimArgs) -> Result<()> {
    let scenario = load_scenario(args.scenario.as_deref())?;
    let sims = start_simulators(&scenario, args.port).await?;
    if sims.is_empty() {
        eprintln!("no simulators are registered yet");
    }
    for (kind, running, describe) in &sims {
        println!("{kind} {}", running.base_url);
        if !describe.is_null() {
            println!("  {}", serde_json::to_string(describe)?);
        }
    }
    eprintln!(
        "scenario '{}' with {} tenants; Ctrl-C stops",
        scenario.name,
        scenario.tenants.len()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    for (_, running, _) in sims {
        running.stop().await;
    }
    Ok(())
}

/// `switchyard erp ...`: one operation against one connection.
#[derive(Debug, Clone, Args)]
pub struct ErpArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(subcommand)]
    pub command: ErpCommand,
}

/// The connection: a YAML/JSON file, or flags (flags override the file).
#[derive(Debug, Clone, Args, Default)]
pub struct ConnectionArgs {
    /// Connection file (YAML or JSON): erp, tenant, connection, environment, base_url,
    /// settings, credentials {kind, fields}.
    #[arg(long, global = true)]
    pub connection: Option<PathBuf>,
    #[arg(long, global = true)]
    pub erp: Option<String>,
    #[arg(long, global = true)]
    pub tenant: Option<String>,
    #[arg(long, global = true)]
    pub environment: Option<String>,
    #[arg(long, global = true)]
    pub base_url: Option<String>,
    #[arg(long, global = true)]
    pub credential_kind: Option<String>,
    /// A credential field, KEY=VALUE (repeatable). Prefer a file: flags show in `ps`.
    #[arg(long = "credential", global = true, value_name = "KEY=VALUE")]
    pub credentials: Vec<String>,
    /// A setting, KEY=VALUE (repeatable); VALUE is a string unless it is true, false or JSON in {}, [] or quotes.
    #[arg(long = "setting", global = true, value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ErpCommand {
    /// Check the credentials.
    Check,
    /// Discover the schema.
    Discover,
    /// Read an object, page by page.
    Read {
        #[arg(long)]
        object: String,
        #[arg(long, default_value_t = 200)]
        page_size: u32,
        /// Start from this cursor (JSON), as printed by an earlier read.
        #[arg(long)]
        cursor: Option<String>,
        /// Stop after this many pages (0: read until caught up).
        #[arg(long, default_value_t = 0)]
        max_pages: usize,
    },
    /// Write items from a JSON or YAML file (a list of {idempotency_key, op, external_id, fields}).
    Write {
        #[arg(long)]
        object: String,
        #[arg(long)]
        items: PathBuf,
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionFile {
    erp: ErpKind,
    #[serde(default)]
    tenant: Option<TenantId>,
    #[serde(default)]
    connection: Option<ConnectionId>,
    #[serde(default)]
    environment: Option<Environment>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    settings: BTreeMap<String, serde_json::Value>,
    credentials: Credentials,
}

fn key_value(s: &str, what: &str) -> Result<(String, String)> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        anyhow!(
            "--{what} '{}' is not KEY=VALUE",
            s.split('=').next().unwrap_or("")
        )
    })?;
    Ok((k.to_string(), v.to_string()))
}

/// Builds the ERP kind and connection config from a file and/or flags. A malformed file
/// is rejected naming file, line, column and field.
pub fn resolve_connection(args: &ConnectionArgs) -> Result<(ErpKind, ConnectionConfig)> {
    let file: Option<ConnectionFile> = match &args.connection {
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {name}"))?;
            Some(parse_yaml(&name, &text)?)
        }
        None => None,
    };
    let erp = match (&args.erp, &file) {
        (Some(e), _) => ErpKind::parse(e)
            .ok_or_else(|| anyhow!("--erp '{e}' is not one of netsuite, sap_b1, intacct"))?,
        (None, Some(f)) => f.erp,
        (None, None) => bail!("give --connection FILE or --erp"),
    };
    let mut credentials = match (&file, &args.credential_kind) {
        (_, Some(kind)) => {
            let mut c = Credentials::new(kind.clone());
            if let Some(f) = &file {
                for k in f.credentials.field_names() {
                    c.insert(k, f.credentials.expose(k).unwrap_or_default());
                }
            }
            c
        }
        (Some(f), None) => f.credentials.clone(),
        (None, None) => bail!("give --credential-kind (or a connection file)"),
    };
    for kv in &args.credentials {
        let (k, v) = key_value(kv, "credential")?;
        credentials.insert(k, v);
    }
    let mut settings = file
        .as_ref()
        .map(|f| f.settings.clone())
        .unwrap_or_default();
    for kv in &args.settings {
        let (k, v) = key_value(kv, "setting")?;
        // Account ids like 1234567 are strings to every connector: only booleans and
        // explicit JSON (objects, lists, quoted strings) are parsed.
        let looks_json = matches!(v.as_str(), "true" | "false" | "null")
            || v.starts_with('{')
            || v.starts_with('[')
            || v.starts_with('"');
        let value = if looks_json {
            serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v))
        } else {
            serde_json::Value::String(v)
        };
        settings.insert(k, value);
    }
    let environment = match &args.environment {
        Some(e) => Environment::parse(e)
            .ok_or_else(|| anyhow!("--environment '{e}' is not sandbox or production"))?,
        None => file
            .as_ref()
            .and_then(|f| f.environment)
            .unwrap_or(Environment::Production),
    };
    let config = ConnectionConfig {
        tenant: args
            .tenant
            .clone()
            .map(TenantId)
            .or_else(|| file.as_ref().and_then(|f| f.tenant.clone()))
            .unwrap_or_else(|| TenantId("cli".into())),
        connection: file
            .as_ref()
            .and_then(|f| f.connection.clone())
            .unwrap_or_else(|| ConnectionId("cli".into())),
        environment,
        base_url: args
            .base_url
            .clone()
            .or_else(|| file.as_ref().and_then(|f| f.base_url.clone())),
        settings,
        credentials,
    };
    Ok((erp, config))
}

fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let pb = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let style = if len.is_some() {
        "{spinner} {msg} [{bar:30}] {pos}/{len} ({per_sec})"
    } else {
        "{spinner} {msg} {pos} ({per_sec})"
    };
    if let Ok(s) = ProgressStyle::with_template(style) {
        pb.set_style(s);
    }
    pb.set_message(what.to_string());
    pb
}

/// Runs `switchyard erp ...` with the registered connectors, printing JSON to stdout.
pub async fn run_erp(args: ErpArgs) -> Result<()> {
    let value = run_erp_with(&args, &|k| crate::connector(k), Engine::in_process()).await?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// The body of `run_erp`, with the connector lookup injectable for tests.
pub async fn run_erp_with(
    args: &ErpArgs,
    lookup: &dyn Fn(ErpKind) -> Option<&'static dyn ErpConnector>,
    engine: Engine,
) -> Result<serde_json::Value> {
    let (erp, config) = resolve_connection(&args.connection)?;
    let connector = lookup(erp).ok_or_else(|| anyhow!("{erp} is not registered yet"))?;
    let conn: Arc<dyn Connection> = connector.connect(config, engine)?;
    Ok(match &args.command {
        ErpCommand::Check => serde_json::to_value(conn.check().await?)?,
        ErpCommand::Discover => serde_json::to_value(conn.discover().await?)?,
        ErpCommand::Read {
            object,
            page_size,
            cursor,
            max_pages,
        } => {
            let mut cursor: Option<Cursor> = match cursor {
                Some(c) => Some(serde_json::from_str(c).context("--cursor is not JSON")?),
                None => None,
            };
            let pb = bar(None, &format!("reading {object}"));
            let (mut records, mut pages, mut watermark) = (Vec::new(), 0usize, None);
            loop {
                let page = conn
                    .read_page(ReadRequest {
                        object: object.clone(),
                        cursor: cursor.take(),
                        page_size: *page_size,
                    })
                    .await
                    .inspect_err(|_| pb.abandon())?;
                pages += 1;
                pb.inc(page.records.len() as u64);
                records.extend(page.records);
                if page.watermark.is_some() {
                    watermark = page.watermark;
                }
                cursor = page.next;
                if cursor.is_none() || (*max_pages > 0 && pages >= *max_pages) {
                    break;
                }
            }
            pb.finish_and_clear();
            serde_json::json!({ "object": object, "pages": pages, "count": records.len(), "records": records, "next": cursor, "watermark": watermark })
        }
        ErpCommand::Write {
            object,
            items,
            batch_size,
        } => {
            let name = items.display().to_string();
            let text =
                std::fs::read_to_string(items).with_context(|| format!("cannot read {name}"))?;
            let items: Vec<WriteItem> = parse_yaml(&name, &text)?;
            let pb = bar(Some(items.len() as u64), &format!("writing {object}"));
            let mut results = Vec::new();
            for chunk in items.chunks((*batch_size).max(1)) {
                let r = conn
                    .write_batch(WriteBatch {
                        object: object.clone(),
                        items: chunk.to_vec(),
                    })
                    .await
                    .inspect_err(|_| pb.abandon())?;
                pb.inc(chunk.len() as u64);
                results.extend(r);
            }
            pb.finish_and_clear();
            serde_json::to_value(results)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("conn.yaml");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn connection_file_and_flags() {
        let (_d, p) = file("erp: sap_b1\ntenant: globex\nbase_url: https://b1.example:50000\nsettings:\n  company_db: SBODEMOUS\ncredentials:\n  kind: password\n  fields:\n    username: manager\n    password: s3cret\n");
        let args = ConnectionArgs {
            connection: Some(p),
            settings: vec!["allow_loopback=true".into()],
            credentials: vec!["password=override".into()],
            ..Default::default()
        };
        let (erp, c) = resolve_connection(&args).unwrap();
        assert_eq!(erp, ErpKind::SapB1);
        assert_eq!(c.tenant.as_str(), "globex");
        assert_eq!(c.settings["allow_loopback"], serde_json::json!(true));
        assert_eq!(c.credentials.expose("password"), Some("override"));
        assert!(!format!("{c:?}").contains("override"));
    }

    #[test]
    fn malformed_connection_file_names_file_line_and_field() {
        let (_d, p) =
            file("erp: sap_b1\ncredentials:\n  kind: password\n  fields:\n    username: [1, 2]\n");
        let e = resolve_connection(&ConnectionArgs {
            connection: Some(p.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        let name = p.display().to_string();
        assert!(
            e.starts_with(&format!(
                "{name}:5:15: credentials.fields.username: invalid type"
            )),
            "{e}"
        );
        let (_d, p) = file("erp: sap_b1\ncredentials: {kind: x}\nbase_ulr: x\n");
        let e = resolve_connection(&ConnectionArgs {
            connection: Some(p),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(":3:1: unknown field `base_ulr`"), "{e}");
        let (_d, p) = file("erp: oracle\ncredentials: {kind: x}\n");
        let e = resolve_connection(&ConnectionArgs {
            connection: Some(p),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(":1:6: erp: unknown variant `oracle`"), "{e}");
    }

    #[test]
    fn bad_flags_are_explained() {
        let e = resolve_connection(&ConnectionArgs {
            erp: Some("netsuite".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("--credential-kind"));
        let e = resolve_connection(&ConnectionArgs {
            erp: Some("netsuite".into()),
            credential_kind: Some("tba".into()),
            credentials: vec!["novalue".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("not KEY=VALUE"), "{e}");
    }
}
