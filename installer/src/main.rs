//! `berth-setup`: reads the command line, then runs the wizard or applies an answers file.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_setup::answers::Answers;
use berth_setup::apply::{apply, ApplyError, Options};
use berth_setup::wizard::terminal::Ending;
use clap::Parser;

/// Configure Berth: hostname, admin password, login mode, TLS, ports and data directory.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Take the answers from this TOML file instead of asking (the same checks apply).
    #[arg(long, conflicts_with = "ovf_env")]
    answers: Option<PathBuf>,
    /// Take the answers from an OVF environment document (`-`: standard input), as VMware
    /// hands the appliance's deploy-time properties over. Exits 3 when it gives no admin
    /// password, so that the wizard can ask.
    #[arg(long, value_name = "FILE")]
    ovf_env: Option<PathBuf>,
    /// This is the Berth appliance: also set the machine's host name, network, SSH and
    /// console password from the answers, and show the URL and CA on the console's banner.
    #[arg(long)]
    appliance: bool,
    /// Configure the system under this directory instead of `/`.
    #[arg(long, default_value = "/")]
    root: PathBuf,
    /// Do not enable or start berthd.service.
    #[arg(long)]
    no_start: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        root: args.root,
        start: !args.no_start,
        appliance: args.appliance,
        only_unconfigured: false,
    };
    let (path, from_ovf) = match (args.answers, args.ovf_env) {
        (Some(path), _) => (path, false),
        (None, Some(path)) => (path, true),
        (None, None) => return wizard(options),
    };
    let text = match read_answers_text(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("berth-setup: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let parsed = if from_ovf {
        berth_setup::ovf::answers_from_environment(&text)
    } else {
        Answers::from_toml(&text).map(Some)
    };
    let answers = match parsed {
        Ok(Some(a)) => a,
        Ok(None) => {
            eprintln!(
                "berth-setup: the OVF environment gives no admin password: nothing was configured"
            );
            return ExitCode::from(3);
        }
        Err(e) => {
            eprintln!("berth-setup: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut progress = |step: &str| eprintln!("  {step} ...");
    match apply(&answers, &options, &mut progress) {
        Ok(outcome) => {
            print_outcome(&outcome);
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

/// Answers are small: a file (on a seed disk someone else made) is read up to this.
const MAX_ANSWERS_BYTES: u64 = 1 << 20;

/// A file's text, or standard input's for `-` (answers piped in never touch a disk), at most
/// [`MAX_ANSWERS_BYTES`].
fn read_answers_text(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let source: Box<dyn Read> = if path == std::path::Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path)?)
    };
    let mut text = String::new();
    source
        .take(MAX_ANSWERS_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_ANSWERS_BYTES {
        return Err(std::io::Error::other(
            "larger than 1 MiB: not an answers file",
        ));
    }
    Ok(text)
}

/// The interactive wizard, on the terminal this runs on.
fn wizard(options: Options) -> ExitCode {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "berth-setup: no terminal to run the wizard on; give the answers with --answers FILE"
        );
        return ExitCode::from(2);
    }
    match berth_setup::wizard::terminal::run(options) {
        Ok(Ending::Configured(outcome)) => {
            // The wizard's screen is gone: leave what the operator needs in the scrollback.
            print_outcome(&outcome);
            ExitCode::SUCCESS
        }
        Ok(Ending::Failed(error)) => {
            eprintln!("berth-setup: {error}");
            ExitCode::FAILURE
        }
        Ok(Ending::ConfiguredElsewhere) => {
            println!("Berth was configured on another console (or from a seed disk).");
            ExitCode::SUCCESS
        }
        Ok(Ending::Cancelled) => {
            eprintln!("berth-setup: left without changing anything");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("berth-setup: the terminal failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_outcome(outcome: &berth_setup::apply::Outcome) {
    println!("Berth is configured.");
    for (label, value) in outcome.summary_lines() {
        let mut lines = value.lines();
        println!(
            "  {:<14}{}",
            format!("{label}:"),
            lines.next().unwrap_or("")
        );
        for more in lines {
            println!("  {:<14}{more}", "");
        }
    }
}
