//! The Switchyard server: configuration, telemetry, startup and the HTTP surface.

pub mod config;
pub mod connect;
pub mod web;

use app::ssr::AppState;
use config::Config;
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Everything started from a configuration: the store, the vault and the router.
pub struct Started {
    pub state: AppState,
    pub router: axum::Router,
}

/// Opens the database (migrating it), loads the master key, creates the first admin when
/// there is no staff user yet, and builds the router.
pub async fn start(cfg: &Config) -> anyhow::Result<Started> {
    if cfg.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&cfg.data_dir)?;
    }
    let store = store::Store::open(&cfg.database_url).await?;
    let key = match &cfg.master_key {
        Some(k) => k.expose_secret().to_string(),
        None => store::vault::Vault::load_or_create_key_file(&cfg.master_key_file)?,
    };
    let previous: Vec<String> = cfg
        .previous_master_keys
        .iter()
        .map(|k| k.expose_secret().to_string())
        .collect();
    let vault = Arc::new(store::vault::Vault::from_keys(&key, &previous)?);
    bootstrap_admin(&store, cfg).await?;
    let engine = build_engine(&store, cfg).await?;
    let connectors = Arc::new(connect::RegistryConnectors::new(
        engine,
        cfg.allow_loopback_erps,
    ));
    if cfg.allow_loopback_erps {
        tracing::warn!("ERP connections may point at 127.0.0.1 (demo and test setting)");
    }
    let state = AppState {
        store,
        vault,
        public_url: cfg.public_url.clone(),
        connectors,
    };
    let mut conf = leptos::prelude::get_configuration(None)?;
    conf.leptos_options.site_addr = cfg.bind;
    conf.leptos_options.site_root = cfg.site_root.display().to_string().into();
    let router = web::router(state.clone(), conf.leptos_options, cfg);
    Ok(Started { state, router })
}

/// One engine for every ERP request of this process. On PostgreSQL the governor's slots are
/// leases shared with every other instance on the same database, so an ERP account's
/// concurrency limit holds across them; on SQLite (one instance) they are in-process.
async fn build_engine(
    store: &store::Store,
    cfg: &Config,
) -> anyhow::Result<connector_core::Engine> {
    let config = connector_core::EngineConfig {
        allow_private_networks: cfg.allow_loopback_erps || cfg.allow_private_erps,
        ..connector_core::EngineConfig::default()
    };
    if !store.is_postgres() {
        return Ok(connector_core::Engine::new(
            config,
            Arc::new(connector_core::InProcessGovernor::new()),
        )?);
    }
    // A lease outlives the longest request, so that a holder cut off from the database
    // cannot lose its slots while its requests are still on the wire.
    let opts = leases::LeaseOptions {
        ttl: config.request_timeout + std::time::Duration::from_secs(30),
        renew_every: std::time::Duration::from_secs(5),
        ..leases::LeaseOptions::default()
    };
    let governor = leases::PgGovernor::with_connection(store.db.clone(), opts).await?;
    tracing::info!("ERP concurrency slots are shared through PostgreSQL leases");
    Ok(connector_core::Engine::new(config, Arc::new(governor))?)
}

async fn bootstrap_admin(store: &store::Store, cfg: &Config) -> anyhow::Result<()> {
    if store.staff_count().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &cfg.admin_password {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (generate_password(), true),
    };
    store
        .create_staff(
            &cfg.admin_email,
            "Administrator",
            &password,
            domain::Role::Admin,
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the first admin ({}): {e}", cfg.admin_email))?;
    if generated {
        // Printed once, on the terminal only: it is not sent through the log pipeline.
        eprintln!(
            "\n  First admin created.\n    email:    {}\n    password: {}\n  Store it now; it is not shown again.\n",
            cfg.admin_email, password
        );
    } else {
        tracing::info!(email = %cfg.admin_email, "first admin created from SWITCHYARD_ADMIN_* settings");
    }
    Ok(())
}

fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Starts tracing: human-readable by default, JSON lines when configured.
pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// Serves until Ctrl-C.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let started = start(&cfg).await?;
    // Expired sessions are deleted hourly; loading already ignores them.
    let sessions = store::session_store::DbSessionStore::new(started.state.store.db.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match sessions.delete_expired().await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "expired sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
    tracing::info!(addr = %cfg.bind, public_url = %cfg.public_url, "switchyard listening");
    println!("Switchyard is running at {}", cfg.public_url);
    axum::serve(
        listener,
        started
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
