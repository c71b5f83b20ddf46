//! The `switchyard` binary.

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
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve { config } => {
                let cfg = server::config::Config::load(config.as_deref())?;
                server::init_tracing(cfg.log_json);
                server::serve(cfg).await
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
