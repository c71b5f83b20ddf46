//! Shared test helpers: start a simulator on 127.0.0.1:0, issue tokens, build connection
//! configs that point the connector at it.
#![allow(dead_code)]

use connector_core::domain::{ConnectionId, Environment, TenantId};
use connector_core::{
    ConnectionConfig, Credentials, Engine, EngineConfig, InProcessGovernor, RetryPolicy, TestClock,
};
use connector_netsuite::simulator::{AccountSpec, SimServer, Simulator, TokenSpec};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub struct Env {
    pub sim: Simulator,
    pub server: SimServer,
    pub clock: TestClock,
}

pub fn token(tag: &str) -> TokenSpec {
    TokenSpec {
        consumer_key: format!("ck-{tag}-0123456789abcdef"),
        consumer_secret: format!("cs-{tag}-secret"),
        token_id: format!("tk-{tag}-0123456789abcdef"),
        token_secret: format!("ts-{tag}-secret"),
    }
}

pub async fn spawn(specs: Vec<AccountSpec>) -> Env {
    let clock = TestClock::new();
    let sim = Simulator::new(clock.shared());
    for s in specs {
        sim.add_account(s).expect("account spec is valid");
    }
    let server = sim.serve().await.expect("bind 127.0.0.1:0");
    Env { sim, server, clock }
}

pub fn environment_of(account: &str) -> Environment {
    if account.contains("_SB") {
        Environment::Sandbox
    } else {
        Environment::Production
    }
}

pub fn tba_config(env: &Env, account: &str, tenant: &str, t: &TokenSpec) -> ConnectionConfig {
    tba_config_at(&env.server.base_url(account), account, tenant, t)
}

pub fn tba_config_at(
    base_url: &str,
    account: &str,
    tenant: &str,
    t: &TokenSpec,
) -> ConnectionConfig {
    ConnectionConfig {
        tenant: TenantId(tenant.into()),
        connection: ConnectionId(format!("{tenant}-{account}")),
        environment: environment_of(account),
        base_url: Some(base_url.to_string()),
        settings: [
            ("allow_loopback".to_string(), json!(true)),
            ("account_id".to_string(), json!(account)),
        ]
        .into_iter()
        .collect(),
        credentials: Credentials::new("tba")
            .with("consumer_key", t.consumer_key.clone())
            .with("consumer_secret", t.consumer_secret.clone())
            .with("token_id", t.token_id.clone())
            .with("token_secret", t.token_secret.clone()),
    }
}

/// An engine with quick retries, for tests.
pub fn fast_engine(max_attempts: u32) -> Engine {
    Engine::new(
        EngineConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            retry: RetryPolicy {
                max_attempts,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(40),
                max_retry_after: Duration::from_millis(200),
            },
            user_agent: "switchyard-netsuite-tests".into(),
            allow_private_networks: true,
        },
        Arc::new(InProcessGovernor::new()),
    )
    .expect("engine builds")
}

/// Runs a python script, failing loudly (not skipping) when python or a package is missing.
pub async fn run_python(script: &str, args: &[String], envs: &[(&str, String)]) -> String {
    let path = format!("{}/conformance/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(&path).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap_or_else(|e| panic!("python3 could not start ({e}); CI must install python3 and conformance/requirements.txt"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{script} failed (install with: pip install --no-deps -r connectors/netsuite/conformance/requirements.txt)\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}
