//! `berth-setup`: reads the command line, then runs the wizard or applies an answers file.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_setup::answers::Answers;
use berth_setup::apply::{apply, ApplyError, Options};
use clap::Parser;

/// Configure Berth: hostname, admin password, login mode, TLS, ports and data directory.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Take the answers from this TOML file instead of asking (the same checks apply).
    #[arg(long)]
    answers: Option<PathBuf>,
    /// Configure the system under this directory instead of `/`.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Do not enable or start berthd.service.
    #[arg(long)]
    no_start: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(path) = args.answers else {
        eprintln!(
            "berth-setup: the interactive wizard is not available in this build; \
             give the answers with --answers FILE"
        );
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("berth-setup: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let answers = match Answers::from_toml(&text) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-setup: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let options = Options {
        root: args.root,
        start: !args.no_start,
    };
    let mut progress = |step: &str| eprintln!("  {step} ...");
    match apply(&answers, &options, &mut progress) {
        Ok(outcome) => {
            println!("Berth is configured.");
            println!("  URL:          {}", outcome.url);
            if let Some(fp) = &outcome.ca_fingerprint {
                println!("  CA SHA-256:   {fp}");
            }
            println!("  Log in with:  {}", outcome.docker_login());
            if let Some(hint) = outcome.trust_hint() {
                println!("  Trust the CA: {hint}");
            }
            if let Some(hint) = &outcome.start_hint {
                println!("  Start it:     {hint}");
            }
            ExitCode::SUCCESS
        }
        Err(ApplyError::Answer(e)) => {
            eprintln!("berth-setup: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("berth-setup: {e}");
            ExitCode::FAILURE
        }
    }
}
