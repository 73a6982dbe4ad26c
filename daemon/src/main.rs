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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Set a new password for the built-in `admin`, as root on the machine, with berthd stopped
    /// or running. The password comes from BERTH_ADMIN_PASSWORD, else from a prompt (or one
    /// line of standard input when it is not a terminal); --generate makes and prints one.
    ResetAdminPassword {
        /// Generate a strong password and print it once.
        #[arg(long, conflicts_with = "password_stdin")]
        generate: bool,
        /// Read the password from standard input even when it is a terminal.
        #[arg(long)]
        password_stdin: bool,
    },
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
    if let Some(Command::ResetAdminPassword {
        generate,
        password_stdin,
    }) = args.command
    {
        return reset_admin_password(&config, generate, password_stdin);
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

/// `berthd reset-admin-password`: the operator's way back in when the admin password is lost.
/// It writes only the hash, through SQLite's own locking, so a running berthd carries on (its
/// verified-credentials cache is keyed by the stored hash, so the old password stops at once).
fn reset_admin_password(config: &Config, generate: bool, password_stdin: bool) -> ExitCode {
    let db_path = config.data_dir.join("berth.db");
    // Not following links: root must not be led to open (or become the owner of) a file
    // elsewhere by whoever controls the data directory.
    let owner = match std::fs::symlink_metadata(&db_path) {
        Ok(m) if m.file_type().is_file() && std::os::unix::fs::MetadataExt::nlink(&m) == 1 => m,
        Ok(_) => {
            eprintln!(
                "berthd: {} is not a plain file (a link?); refusing to touch it",
                db_path.display()
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!(
                "berthd: no database at {} ({e}): is this the data directory berthd uses?",
                db_path.display()
            );
            return ExitCode::from(2);
        }
    };
    // Root acts as the database's owner, so any file SQLite creates (journal, WAL) stays
    // readable by berthd.
    if let Err(e) = become_owner_of(&owner) {
        eprintln!("berthd: cannot switch to the database's owner: {e}");
        return ExitCode::FAILURE;
    }
    let (password, print) = match new_admin_password(generate, password_stdin) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = berth::service::users::check_password(&password) {
        eprintln!("berthd: {e}; nothing was changed");
        return ExitCode::from(2);
    }
    let result = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(async {
                let db = berth::db::Db::open(&db_path)?;
                berth::service::bootstrap::reset_admin(&db, &password).await?;
                Ok::<_, anyhow::Error>(())
            })
        });
    match result {
        Ok(()) => {
            if print {
                println!("{password}");
            }
            eprintln!("berthd: the admin password was reset");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berthd: resetting the admin password failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The new password and whether to print it (only when generated).
fn new_admin_password(generate: bool, password_stdin: bool) -> Result<(String, bool), String> {
    use std::io::{BufRead, IsTerminal};
    if generate {
        return Ok((berth::auth::password::generate(), true));
    }
    if let Some(p) = std::env::var("BERTH_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok((p, false));
    }
    if std::io::stdin().is_terminal() && !password_stdin {
        let first =
            rpassword::prompt_password("New admin password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ; nothing was changed".into());
        }
        return Ok((first, false));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password: {e}"))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
}

fn become_owner_of(meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: plain system calls on this process's credentials; no memory is shared.
    unsafe {
        if libc::geteuid() != 0 || meta.uid() == 0 {
            return Ok(());
        }
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(meta.gid()) != 0
            || libc::setuid(meta.uid()) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
