//! The event loop on a real terminal: draws the [`App`], feeds it keys, and carries out its
//! actions. Apply runs on a thread so its progress shows while it works.

use std::io;
use std::sync::mpsc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::DefaultTerminal;

use super::{Action, App};
use crate::apply::{self, Options, Outcome};

/// How the wizard ended.
pub enum Ending {
    /// Ctrl-C before applying: nothing was written.
    Cancelled,
    /// Ctrl-C after apply failed, with its error.
    Failed(String),
    Configured(Box<Outcome>),
    /// Another console's wizard (or a seed disk) configured the system meanwhile.
    ConfiguredElsewhere,
}

enum Report {
    Step(String),
    Finished(Result<Outcome, String>),
}

/// Runs the wizard on the terminal until the operator finishes or leaves.
pub fn run(options: Options) -> io::Result<Ending> {
    let current = apply::current_answers(&options.root);
    // A first-boot wizard never overwrites what another console configured meanwhile.
    let options = Options {
        only_unconfigured: current.is_none(),
        ..options
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut app = App::new(current, &hostname, crate::certs::machine_addresses());
    let mut terminal = ratatui::try_init()?;
    if terminal
        .size()
        .map_or(true, |s| s.width == 0 || s.height == 0)
    {
        // A serial console knows no size (0x0): draw for 80x24, which every terminal has.
        terminal = ratatui::Terminal::with_options(
            ratatui::backend::CrosstermBackend::new(io::stdout()),
            ratatui::TerminalOptions {
                viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 80, 24)),
            },
        )?;
    }
    let ending = event_loop(&mut terminal, &mut app, options);
    ratatui::restore();
    ending
}

fn draw(terminal: &mut DefaultTerminal, app: &App) -> io::Result<()> {
    terminal.draw(|frame| {
        frame.render_widget(app, frame.area());
        if let Some(position) = app.cursor_position(frame.area()) {
            frame.set_cursor_position(position);
        }
    })?;
    Ok(())
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    options: Options,
) -> io::Result<Ending> {
    let options = std::sync::Arc::new(options);
    let mark = options
        .root
        .join(apply::CONFIGURED_MARK.trim_start_matches('/'));
    let mut applying: Option<mpsc::Receiver<Report>> = None;
    loop {
        if applying.is_none() && !app.reconfigure && app.outcome.is_none() && mark.exists() {
            return Ok(Ending::ConfiguredElsewhere);
        }
        if let Some(reports) = &applying {
            for report in reports.try_iter() {
                match report {
                    Report::Step(step) => app.progressed(&step),
                    Report::Finished(result) => app.applied(result),
                }
            }
            if app.outcome.is_some() || app.apply_error.is_some() {
                applying = None;
            }
        }
        draw(terminal, app)?;
        // Wake up now and then while applying, to show its progress.
        if !event::poll(Duration::from_millis(100))? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match app.handle_key(key) {
            None => {}
            Some(Action::Quit) => {
                return Ok(match app.apply_error.take() {
                    Some(error) => Ending::Failed(error),
                    None => Ending::Cancelled,
                })
            }
            Some(Action::Exit) => {
                return Ok(match app.outcome.take() {
                    Some(outcome) => Ending::Configured(Box::new(outcome)),
                    None => Ending::Cancelled,
                })
            }
            Some(Action::TestConnection(cfg)) => {
                draw(terminal, app)?;
                app.connection_tested(apply::test_directory(&cfg));
            }
            Some(Action::Apply(answers)) => {
                let (sender, reports) = mpsc::channel();
                let options = options.clone();
                std::thread::spawn(move || {
                    let mut progress = |step: &str| {
                        let _ = sender.send(Report::Step(step.to_string()));
                    };
                    let result =
                        apply::apply(&answers, &options, &mut progress).map_err(|e| e.to_string());
                    let _ = sender.send(Report::Finished(result));
                });
                applying = Some(reports);
            }
        }
    }
}
