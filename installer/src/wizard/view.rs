//! Drawing the wizard. Plain box lines, the eight basic colours and ASCII marks only, so it
//! reads the same on a Linux console (`TERM=linux`) as in a terminal emulator; everything fits
//! 80x24.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use super::{App, ConnectionTest, FieldId, Input, Step};
use crate::answers::TlsMode;

const LABEL_WIDTH: usize = 20;
/// "> " before a field's label.
const MARK_WIDTH: usize = 2;

struct Areas {
    header: Rect,
    body: Rect,
    status: Rect,
    keys: Rect,
}

fn areas(area: Rect) -> Areas {
    let [header, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        // Room for a validation message of two lines.
        Constraint::Length(2),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        body,
        status,
        keys,
    }
}

/// Greedy word wrap: the intro texts are prose, and knowing the line count keeps the cursor
/// where the field is drawn.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let needed =
                line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            // A word wider than the line (a fingerprint, a long path) is cut where it must be.
            let mut rest: Vec<char> = word.chars().collect();
            while line.chars().count() + rest.len() > width {
                let room = width - line.chars().count();
                line.extend(rest.drain(..room));
                lines.push(std::mem::take(&mut line));
            }
            line.extend(rest);
        }
        lines.push(line);
    }
    lines
}

/// The part of `value` that fits `width` characters with the cursor in view, and the cursor's
/// column in it.
fn window(value: &str, cursor: usize, width: usize) -> (String, usize) {
    let chars: Vec<char> = value.chars().collect();
    let start = (cursor + 1).saturating_sub(width);
    let shown: String = chars.iter().skip(start).take(width).collect();
    (shown, cursor - start)
}

impl App {
    fn intro(&self) -> String {
        let host = self.field(FieldId::Hostname).value();
        match self.step {
            Step::Welcome => {
                let mut text = String::from(
                    "Berth is a container registry: Docker, Podman and skopeo push and pull \
                     here, and the web portal and Harbor-compatible API manage it.\n\n\
                     These screens ask for the hostname, the admin password, how users log in, \
                     the TLS certificate, and the ports. Nothing is written until you confirm \
                     the summary.\n\n\
                     Keys: Tab or arrows move, Enter goes on, Esc goes back, Ctrl-C leaves \
                     without changing anything.",
                );
                if self.reconfigure {
                    text.push_str(
                        "\n\nThis system is already configured: the screens start from the \
                         current settings.",
                    );
                }
                text
            }
            Step::Hostname => "The name or IP address that Docker clients and browsers use to \
                reach this registry. It goes into the certificate and into the URLs Berth \
                hands out."
                .into(),
            Step::Password => {
                let mut text = String::from(
                    "The password of the built-in admin account: 8 to 128 characters with an \
                     upper-case letter, a lower-case letter and a digit. It is stored only as \
                     an argon2id hash.",
                );
                if self.reconfigure {
                    text.push_str(" Leave both empty to keep the current password.");
                }
                text
            }
            Step::Login => "Database: accounts are created in Berth.\nLDAP / Active \
                Directory: users log in with their directory password, and directory groups \
                can be project members.\nThe admin account always logs in locally."
                .into(),
            Step::Directory => "Berth binds with the search DN, finds the user under the base \
                DN by the UID attribute, then binds as the user."
                .into(),
            Step::Tls => match self.tls_mode() {
                TlsMode::Generate => {
                    let mut names = vec![host.to_string()];
                    names.extend(self.addresses.iter().map(|a| a.to_string()));
                    format!(
                        "Berth makes a private certificate authority and a server certificate \
                         for {}, localhost and loopback (and the address to listen on, if you \
                         choose one). Docker hosts trust the CA once; the last screen says how.",
                        names.join(", ")
                    )
                }
                TlsMode::Provided => format!(
                    "The paths of two PEM files on this machine: your certificate chain \
                     (server certificate first) and its private key, e.g. \
                     /root/registry.crt and /root/registry.key. They must match, be in date \
                     and cover {host}."
                ),
                TlsMode::None => "Plain HTTP only.".into(),
            },
            Step::Network => "HTTP port 0 turns plain HTTP off. With TLS on, browsers that \
                come over HTTP are sent to HTTPS; the registry answers on both. The data \
                directory holds the database and the image layers."
                .into(),
            Step::Summary => "Enter applies these settings; Esc goes back to change them.".into(),
            Step::Applying | Step::Done => String::new(),
        }
    }

    fn field_lines(&self, id: FieldId, width: usize) -> Vec<Line<'static>> {
        let field = self.field(id);
        let focused = self.focused() == Some(id);
        let mark = if focused { "> " } else { "  " };
        let label = format!("{:<LABEL_WIDTH$}", field.label);
        let focus_style = Style::default().add_modifier(Modifier::REVERSED);
        let mut spans = vec![
            Span::styled(mark, Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(
                label,
                if focused {
                    Style::default().add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                },
            ),
        ];
        match &field.input {
            Input::Text {
                value,
                cursor,
                masked,
            } => {
                let box_width = width.saturating_sub(MARK_WIDTH + LABEL_WIDTH + 2).max(1);
                let shown_value = if *masked {
                    "*".repeat(value.chars().count())
                } else {
                    value.clone()
                };
                let (shown, _) = window(&shown_value, *cursor, box_width);
                let padded = format!("{shown:<box_width$}");
                spans.push(Span::raw("["));
                spans.push(Span::styled(
                    padded,
                    if focused {
                        Style::default().add_modifier(Modifier::UNDERLINED)
                    } else {
                        Style::default()
                    },
                ));
                spans.push(Span::raw("]"));
            }
            Input::Choice { options, selected } => {
                // One option per line, so long names fit.
                let mut lines = Vec::new();
                for (i, option) in options.iter().enumerate() {
                    let text = format!("({}) {option}", if i == *selected { '*' } else { ' ' });
                    let style = if focused && i == *selected {
                        focus_style
                    } else {
                        Style::default()
                    };
                    if i == 0 {
                        spans.push(Span::styled(text, style));
                        lines.push(Line::from(std::mem::take(&mut spans)));
                    } else {
                        lines.push(Line::from(vec![
                            Span::raw(" ".repeat(MARK_WIDTH + LABEL_WIDTH)),
                            Span::styled(text, style),
                        ]));
                    }
                }
                return lines;
            }
            Input::Toggle(on) => {
                spans.push(Span::styled(
                    format!("[{}]", if *on { 'x' } else { ' ' }),
                    if focused {
                        focus_style
                    } else {
                        Style::default()
                    },
                ));
            }
            Input::Button => {
                // A button's label is its face.
                spans.truncate(1);
                spans.push(Span::styled(
                    format!("[ {} ]", field.label),
                    if focused {
                        focus_style
                    } else {
                        Style::default()
                    },
                ));
            }
        }
        vec![Line::from(spans)]
    }

    fn summary_lines(&self) -> Vec<Line<'static>> {
        let row = |k: &str, v: String| {
            Line::from(vec![
                Span::styled(
                    format!("  {k:<LABEL_WIDTH$}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(v),
            ])
        };
        let Ok(answers) = self.answers() else {
            return Vec::new();
        };
        let mut lines = vec![row("Hostname", answers.hostname.clone())];
        lines.push(row(
            "Admin password",
            if answers.admin_password.is_some() {
                "new (typed twice)".into()
            } else {
                "unchanged".into()
            },
        ));
        lines.push(row(
            "Login",
            match &answers.ldap {
                Some(l) => format!("LDAP at {}, users under {}", l.ldap_url, l.ldap_base_dn),
                None => "Berth's database".into(),
            },
        ));
        let net = &answers.network;
        lines.push(row(
            "TLS",
            match answers.tls.mode {
                TlsMode::Generate => "private CA, generated certificate".into(),
                TlsMode::Provided => format!(
                    "{}",
                    answers
                        .tls
                        .certificate
                        .as_deref()
                        .unwrap_or(std::path::Path::new(""))
                        .display()
                ),
                TlsMode::None => "none: plain HTTP".into(),
            },
        ));
        let listen = net.listen_address;
        if answers.tls.mode != TlsMode::None {
            lines.push(row("HTTPS", format!("{listen} port {}", net.https_port)));
        }
        lines.push(row(
            "HTTP",
            if net.http_port == 0 {
                "off".into()
            } else {
                format!("{listen} port {}", net.http_port)
            },
        ));
        lines.push(row(
            "Data directory",
            answers.storage.data_dir.display().to_string(),
        ));
        if answers.tls.mode == TlsMode::Generate {
            // What the certificate will name, so that a name clients use and it lacks shows
            // before anything is written.
            let mut names = vec![answers.hostname.clone()];
            if answers.hostname != "localhost" {
                names.push("localhost".into());
            }
            names.extend(
                crate::certs::certificate_addresses(&answers, &self.addresses)
                    .iter()
                    .map(|a| a.to_string()),
            );
            for (i, line) in wrap(&names.join(", "), 50).into_iter().enumerate() {
                lines.push(row(if i == 0 { "Certificate for" } else { "" }, line));
            }
        }
        lines
    }

    /// Everything in the body, and the line of the focused field.
    fn body_lines(&self, width: usize) -> (Vec<Line<'static>>, Option<usize>) {
        let mut lines: Vec<Line<'static>> = wrap(&self.intro(), width)
            .into_iter()
            .map(Line::from)
            .collect();
        let mut focused_line = None;
        let fields = self.visible_fields();
        if !fields.is_empty() {
            lines.push(Line::default());
        }
        for id in fields {
            if self.focused() == Some(id) {
                focused_line = Some(lines.len());
            }
            if id == FieldId::TestConnection {
                lines.push(Line::default());
            }
            lines.extend(self.field_lines(id, width));
        }
        let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
        match self.step {
            Step::Directory => match &self.connection_test {
                Some(ConnectionTest::Running) => {
                    lines.push(Line::from("  Testing the connection..."))
                }
                Some(ConnectionTest::Passed) => lines.push(Line::styled(
                    "  Connected, bound as the search DN and found the base DN.",
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::BOLD),
                )),
                Some(ConnectionTest::Failed(why)) => {
                    for (i, l) in wrap(&format!("Failed: {why}"), width.saturating_sub(2))
                        .into_iter()
                        .enumerate()
                    {
                        // With the fields above, two lines is all the screen has room for.
                        if i < 2 {
                            lines.push(Line::styled(format!("  {l}"), red));
                        }
                    }
                }
                None => {}
            },
            Step::Tls if self.tls_mode() == TlsMode::None => {
                lines.push(Line::default());
                for l in wrap(
                    "WARNING: without TLS, passwords and tokens cross the network \
                     unencrypted, and Docker refuses the registry unless every client lists \
                     it under insecure-registries. Use this only on a trusted test network.",
                    width,
                ) {
                    lines.push(Line::styled(
                        l,
                        Style::default()
                            .fg(Color::Yellow)
                            .add_modifier(Modifier::BOLD),
                    ));
                }
            }
            Step::Summary => {
                lines.push(Line::default());
                lines.extend(self.summary_lines());
            }
            Step::Applying => {
                let count = self.progress.len();
                for (i, step) in self.progress.iter().enumerate() {
                    let state = if i + 1 < count {
                        "[done]"
                    } else if self.apply_error.is_some() {
                        "[FAIL]"
                    } else {
                        "[ .. ]"
                    };
                    lines.push(Line::from(format!("  {state} {step}")));
                }
                if let Some(e) = &self.apply_error {
                    lines.push(Line::default());
                    for l in wrap(&format!("Setup stopped: {e}"), width) {
                        lines.push(Line::styled(l, red));
                    }
                }
            }
            Step::Done => {
                if let Some(outcome) = &self.outcome {
                    lines.push(Line::styled(
                        "Berth is configured.",
                        Style::default()
                            .fg(Color::Green)
                            .add_modifier(Modifier::BOLD),
                    ));
                    lines.push(Line::default());
                    for (label, value) in outcome.summary_lines() {
                        let label_width = 14;
                        for (i, l) in wrap(&value, width.saturating_sub(label_width))
                            .into_iter()
                            .enumerate()
                        {
                            let head = if i == 0 { label } else { "" };
                            lines.push(Line::from(vec![
                                Span::styled(
                                    format!("{head:<label_width$}"),
                                    Style::default().add_modifier(Modifier::BOLD),
                                ),
                                Span::raw(l),
                            ]));
                        }
                    }
                }
            }
            _ => {}
        }
        (lines, focused_line)
    }

    fn keys(&self) -> &'static str {
        match self.step {
            Step::Welcome => "Enter start   Ctrl-C quit",
            Step::Summary => "Enter apply   Esc back   Ctrl-C quit",
            Step::Applying if self.apply_error.is_some() => "Esc back to the summary",
            Step::Applying => "Applying, please wait",
            Step::Done => "Enter close",
            _ => match self.focused().map(|id| &self.field(id).input) {
                Some(Input::Choice { .. }) => {
                    "Left/Right choose   Tab/Up/Down move   Enter next   Esc back   Ctrl-C quit"
                }
                Some(Input::Toggle(_)) => {
                    "Space switch   Tab/Up/Down move   Enter next   Esc back   Ctrl-C quit"
                }
                Some(Input::Button) => "Enter run   Tab/Up/Down move   Esc back   Ctrl-C quit",
                _ => "Tab/Up/Down move   Enter next   Esc back   Ctrl-C quit",
            },
        }
    }

    /// Where the terminal's cursor goes: in the focused text field, at its cursor.
    pub fn cursor_position(&self, area: Rect) -> Option<Position> {
        let body = areas(area).body;
        let width = usize::from(body.width.saturating_sub(4));
        let id = self.focused()?;
        let Input::Text { value, cursor, .. } = &self.field(id).input else {
            return None;
        };
        let (_, line) = self.body_lines(width);
        let box_width = width.saturating_sub(MARK_WIDTH + LABEL_WIDTH + 2).max(1);
        let (_, column) = window(value, *cursor, box_width);
        let x = body.x + 2 + (MARK_WIDTH + LABEL_WIDTH + 1 + column) as u16;
        let y = body.y + 1 + line? as u16;
        Some(Position::new(x, y))
    }
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let a = areas(area);
        let steps = self.steps();
        let position = steps
            .iter()
            .position(|s| *s == self.step)
            .map_or(String::new(), |i| {
                format!("step {} of {}", i + 1, steps.len())
            });
        Line::from(vec![
            Span::styled(
                " Berth setup",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("  {position}")),
        ])
        .render(a.header, buf);
        let block = Block::bordered().title(format!(" {} ", self.step.title()));
        let inner = block.inner(a.body);
        block.render(a.body, buf);
        // One column of air on each side.
        let inner = Rect {
            x: inner.x + 1,
            width: inner.width.saturating_sub(2),
            ..inner
        };
        let (lines, _) = self.body_lines(usize::from(inner.width));
        Paragraph::new(lines).render(inner, buf);
        if let Some(e) = self.error_text() {
            let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
            let lines: Vec<Line> = wrap(&e, usize::from(a.status.width).saturating_sub(2))
                .into_iter()
                .map(|l| Line::styled(format!(" {l}"), red))
                .collect();
            Paragraph::new(lines).render(a.status, buf);
        }
        Line::styled(
            format!(" {}", self.keys()),
            Style::default().add_modifier(Modifier::REVERSED),
        )
        .render(a.keys, buf);
    }
}
