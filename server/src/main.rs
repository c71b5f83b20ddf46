//! The `switchyard` binary: `serve` runs the web app, `sim` the ERP simulators, `erp` one
//! operation against one connection (for support staff debugging a tenant).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Multi-tenant ERP integration infrastructure"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and API (embedded SQLite under ./data unless DATABASE_URL is set).
    Serve {
        /// A TOML configuration file (default: ./switchyard.toml when present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also serve every ERP simulator on 127.0.0.1 (the default scenario, or --scenario).
        #[arg(long)]
        simulators: bool,
        /// Scenario YAML for --simulators.
        #[arg(long, requires = "simulators")]
        scenario: Option<PathBuf>,
        /// First simulator port (simulator i listens on PORT + i).
        #[arg(long, default_value_t = 4000, requires = "simulators")]
        simulator_port: u16,
    },
    /// Serve every registered ERP simulator on 127.0.0.1 and print their base URLs.
    Sim(connectors::cli::SimArgs),
    /// Check, discover, read or write against one ERP connection, printing JSON.
    Erp(connectors::cli::ErpArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve {
                config,
                simulators,
                scenario,
                simulator_port,
            } => {
                let cfg = server::config::Config::load(config.as_deref())?;
                server::init_tracing(cfg.log_json);
                let _sims = if simulators {
                    let scenario = connectors::cli::load_scenario(scenario.as_deref())?;
                    let sims = connectors::cli::start_simulators(&scenario, simulator_port).await?;
                    for (kind, running, describe) in &sims {
                        println!(
                            "{} simulator at {}  {}",
                            kind.display_name(),
                            running.base_url,
                            describe
                        );
                    }
                    println!(
                        "Demo tenants, with the credentials each simulator accepts: {}",
                        if scenario.file == "default.yaml" {
                            "connectors/core/scenarios/default.yaml"
                        } else {
                            &scenario.file
                        }
                    );
                    sims
                } else {
                    Vec::new()
                };
                server::serve(cfg).await
            }
            Command::Sim(args) => {
                server::init_tracing(false);
                connectors::cli::run_sim(args).await
            }
            Command::Erp(args) => {
                server::init_tracing(false);
                connectors::cli::run_erp(args).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
