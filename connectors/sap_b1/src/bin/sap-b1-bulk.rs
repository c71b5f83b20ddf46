//! Runs or resumes one bulk-write job file against a Service Layer: used by the crash
//! test (which kills this process mid-way) and usable by hand.
//!
//! Usage: sap-b1-bulk BASE_URL COMPANY_DB USER JOB_FILE [PARALLEL]; the password comes
//! from the SAP_B1_PASSWORD environment variable so it never appears in a process list.

use connector_core::domain::{ConnectionId, Environment, TenantId};
use connector_core::{ConnectionConfig, Credentials, Engine, SystemClock};
use connector_sap_b1::job::BulkJob;
use connector_sap_b1::write::WriteOptions;
use connector_sap_b1::SapB1Connection;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: sap-b1-bulk BASE_URL COMPANY_DB USER JOB_FILE [PARALLEL]");
        std::process::exit(2);
    }
    let password = std::env::var("SAP_B1_PASSWORD").unwrap_or_default();
    let parallel: usize = args.get(5).and_then(|p| p.parse().ok()).unwrap_or(2);
    let config = ConnectionConfig {
        tenant: TenantId("cli".into()),
        connection: ConnectionId("cli".into()),
        environment: Environment::Production,
        base_url: Some(args[1].clone()),
        settings: BTreeMap::from([
            ("company_db".to_string(), serde_json::json!(args[2])),
            ("allow_loopback".to_string(), serde_json::json!(true)),
            ("sessions".to_string(), serde_json::json!(parallel)),
        ]),
        credentials: Credentials::new("service_layer_user")
            .with("username", args[3].clone())
            .with("password", password),
    };
    let path = PathBuf::from(&args[4]);
    let result = async {
        let conn =
            SapB1Connection::with_clock(config, Engine::in_process(), Arc::new(SystemClock))?;
        let mut job = BulkJob::load(&path)?;
        job.run(
            &conn.conn,
            &path,
            WriteOptions {
                chunk: 100,
                parallel,
            },
        )
        .await?;
        Ok::<_, connector_core::ConnectorError>(job)
    }
    .await;
    match result {
        Ok(job) => {
            let failed = job
                .outcomes
                .values()
                .filter(|o| matches!(o, connector_core::ItemOutcome::Failed { .. }))
                .count();
            println!(
                "{{\"items\":{},\"settled\":{},\"failed\":{failed}}}",
                job.items.len(),
                job.outcomes.len()
            );
        }
        Err(e) => {
            eprintln!("bulk job failed: {e}");
            std::process::exit(1);
        }
    }
}
