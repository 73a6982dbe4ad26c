//! `berthd`: reads the command line and the environment (nothing else does), loads the
//! configuration, and runs the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use berth::config::{Config, DEFAULT_CONFIG_PATH};
use berth::service::bootstrap::AdminBootstrap;
use clap::Parser;

/// Berth container registry daemon.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG_PATH, conflicts_with = "dev")]
    config: PathBuf,
    /// Run on embedded defaults: data in ./berth-data, plain HTTP on 127.0.0.1:5000.
    #[arg(long)]
    dev: bool,
    /// Override the data directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Override the plain HTTP listen address.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn main() -> ExitCode {
    // Whatever umask berthd was started with, nothing it creates is readable by others.
    // SAFETY: umask only sets the process's file mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o027);
    }
    let args = Args::parse();
    let mut config = if args.dev {
        Config::dev()
    } else {
        match Config::load(&args.config) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("berthd: {e}");
                return ExitCode::from(2);
            }
        }
    };
    if let Some(data) = args.data {
        config.data_dir = data;
    }
    if let Some(listen) = args.listen {
        config.http = Some(berth::config::HttpConfig { listen });
    }
    if let Err(e) = config.validate() {
        eprintln!("berthd: {e}");
        return ExitCode::from(2);
    }
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.level.clone());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let admin_password = std::env::var("BERTH_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berthd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        // Bound first: a busy port is reported before a first start creates the admin.
        let listeners = berth::server::Listeners::bind(&config)?;
        let (state, admin) = berth::server::prepare(config, admin_password).await?;
        match admin {
            AdminBootstrap::CreatedWithGeneratedPassword(pw) => {
                // Printed once, to the console only: it is stored nowhere but as a hash.
                eprintln!("\n  Berth created the system administrator.\n  username: admin\n  password: {pw}\n");
            }
            AdminBootstrap::Created => tracing::info!("created the admin user from BERTH_ADMIN_PASSWORD"),
            AdminBootstrap::AlreadyPresent => {}
        }
        berth::server::serve(state, listeners).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
