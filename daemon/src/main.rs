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
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH, conflicts_with = "dev")]
    config: PathBuf,
    /// Run on embedded defaults: data in ./berth-data, plain HTTP on 127.0.0.1:5000.
    #[arg(long, global = true)]
    dev: bool,
    /// Override the data directory (for `restore`: where the data goes).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Override the plain HTTP listen address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Override `[storage] free_space_reserve_mib` (0 turns the full-disk check off): for a
    /// machine whose disk is shared and small by design, such as a test runner.
    #[arg(long, value_name = "MIB")]
    free_space_reserve_mib: Option<u64>,
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
    /// Write a consistent backup into DEST while berthd runs (or not): the database as of one
    /// instant, every blob it records (hard links when DEST is on the same filesystem, so
    /// repeated backups cost only new blobs), keys, the configuration and the files it names,
    /// with a manifest of sums. Backups into the same DEST share their blobs.
    Backup {
        /// The backup directory: new, empty, or one an earlier backup wrote.
        dest: PathBuf,
    },
    /// Check a backup offline: every file against its sum, the database's integrity, every
    /// blob present and hashing to its name. Exits 1 when anything is wrong.
    Verify {
        /// The backup directory.
        dir: PathBuf,
        /// Only this snapshot (default: all of them).
        #[arg(long)]
        snapshot: Option<String>,
    },
    /// Restore a backup into an empty data directory (--data, default: the one backed up) and
    /// the configuration's places, with berthd stopped. Needs no configuration file.
    Restore {
        /// The backup directory.
        from: PathBuf,
        /// The snapshot to restore (default: the newest).
        #[arg(long)]
        snapshot: Option<String>,
        /// Write every absolute path under this directory instead (another machine's root).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Replace Berth's files in a non-empty data directory and existing configuration.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    // Whatever umask berthd was started with, nothing it creates is readable by others.
    // SAFETY: umask only sets the process's file mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o027);
    }
    let args = Args::parse();
    // These two read a backup, not the configuration: a machine being restored has none yet.
    match &args.command {
        Some(Command::Verify { dir, snapshot }) => return verify_backup(dir, snapshot.as_deref()),
        Some(Command::Restore {
            from,
            snapshot,
            root,
            force,
        }) => {
            return restore_backup(berth::backup::RestoreOptions {
                from: from.clone(),
                snapshot: snapshot.clone(),
                data_dir: args.data.clone(),
                root: root.clone(),
                force: *force,
            })
        }
        _ => {}
    }
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
    if let Some(reserve) = args.free_space_reserve_mib {
        config.storage.free_space_reserve_mib = reserve;
    }
    if let Err(e) = config.validate() {
        eprintln!("berthd: {e}");
        return ExitCode::from(2);
    }
    match args.command {
        Some(Command::ResetAdminPassword {
            generate,
            password_stdin,
        }) => return reset_admin_password(&config, generate, password_stdin),
        Some(Command::Backup { dest }) => {
            let config_file = (!args.dev).then_some(args.config.as_path());
            return take_backup(&config, config_file, &dest);
        }
        _ => {}
    }
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into());
    match config.log.format {
        berth::config::LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line: the event's fields at the top level, and the request's id
        // (from its span) on every line logged while serving it.
        berth::config::LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_target(false)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
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

/// Prints a long step's progress to standard error: steps as they begin, blob counts at most
/// once a second (and the last).
fn progress_printer() -> impl FnMut(berth::backup::Progress) {
    let mut last = std::time::Instant::now();
    move |p| match p {
        berth::backup::Progress::Step(step) => eprintln!("berthd: {step}"),
        berth::backup::Progress::Blobs {
            done,
            total,
            bytes,
            total_bytes,
        } => {
            if done == total || last.elapsed() >= std::time::Duration::from_secs(1) {
                last = std::time::Instant::now();
                eprintln!(
                    "berthd:   blobs {done}/{total}, {} of {}",
                    human_bytes(bytes),
                    human_bytes(total_bytes)
                );
            }
        }
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn take_backup(
    config: &Config,
    config_file: Option<&std::path::Path>,
    dest: &std::path::Path,
) -> ExitCode {
    let source = berth::backup::Source {
        config,
        config_file,
    };
    let mut printer = progress_printer();
    match berth::backup::backup(&source, dest, &mut printer) {
        Ok(r) => {
            println!(
                "snapshot {} written to {}: {} blobs ({}), {} added ({}, {} by hard link), {} files; \
                 removals paused {:.2} s; took {:.1} s",
                r.snapshot,
                r.path.display(),
                r.blobs.count,
                human_bytes(r.blobs.bytes),
                r.blobs.added,
                human_bytes(r.blobs.added_bytes),
                r.linked,
                r.files,
                r.removals_paused.as_secs_f64(),
                r.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berthd: the backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn verify_backup(dir: &std::path::Path, snapshot: Option<&str>) -> ExitCode {
    let mut printer = progress_printer();
    match berth::backup::verify(dir, snapshot, &mut printer) {
        Ok(r) if r.problems.is_empty() => {
            println!(
                "{} snapshot(s) sound: {}; {} manifests, {} blobs ({}) hashed",
                r.snapshots.len(),
                r.snapshots.join(", "),
                r.manifests,
                r.blobs,
                human_bytes(r.bytes)
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            for problem in &r.problems {
                eprintln!("berthd: {problem}");
            }
            eprintln!(
                "berthd: the backup is damaged: {} problem(s)",
                r.problems.len()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("berthd: verification failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn restore_backup(options: berth::backup::RestoreOptions) -> ExitCode {
    let mut printer = progress_printer();
    match berth::backup::restore(&options, &mut printer) {
        Ok(r) => {
            println!(
                "restored snapshot {} into {}: {} blobs ({}, {} by hard link) in {:.1} s",
                r.snapshot,
                r.data_dir.display(),
                r.blobs,
                human_bytes(r.bytes),
                r.linked,
                r.elapsed.as_secs_f64()
            );
            for file in &r.config_files {
                println!("  configuration: {}", file.display());
            }
            if let Some(aside) = &r.moved_aside {
                println!(
                    "  the data directory's earlier files were moved to {}; remove it once the \
                     restored registry works",
                    aside.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e @ berth::backup::BackupError::Refused(_)) => {
            eprintln!("berthd: {e}; nothing was changed");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!(
                "berthd: the restore failed: {e}. The data directory holds a partial restore, \
                 which berthd refuses to start on (its {} marker says so); fix the cause and \
                 run the restore again with --force",
                berth::backup::RESTORING
            );
            ExitCode::FAILURE
        }
    }
}
