//! The terminal wizard, in the Elm style: [`App`] holds the state, [`App::handle_key`] updates
//! it and says what the event loop should do ([`Action`]), `view` draws it, and `terminal`
//! runs the loop. Nothing here writes a file: the answers go to [`crate::apply`], the same
//! code the `--answers` mode uses.

mod field;
pub mod terminal;
mod view;

use std::net::IpAddr;
use std::path::PathBuf;

use berth::config::{AuthMode, LdapConfig, Secret};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::answers::{
    check_admin_password, check_hostname, wrong, AnswerError, Answers, AuthAnswer, NetworkAnswer,
    StorageAnswer, TlsAnswer, TlsMode,
};
use crate::apply::Outcome;
pub use field::{Field, FieldId, Input};

/// The screens, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Welcome,
    Hostname,
    Password,
    Login,
    /// Only when the login mode is LDAP.
    Directory,
    Tls,
    Network,
    Summary,
    Applying,
    Done,
}

const STEPS: [Step; 10] = [
    Step::Welcome,
    Step::Hostname,
    Step::Password,
    Step::Login,
    Step::Directory,
    Step::Tls,
    Step::Network,
    Step::Summary,
    Step::Applying,
    Step::Done,
];

impl Step {
    pub fn title(self) -> &'static str {
        match self {
            Step::Welcome => "Welcome",
            Step::Hostname => "Hostname",
            Step::Password => "Administrator password",
            Step::Login => "Login mode",
            Step::Directory => "LDAP / Active Directory",
            Step::Tls => "TLS certificate",
            Step::Network => "Ports and data directory",
            Step::Summary => "Summary",
            Step::Applying => "Applying",
            Step::Done => "Done",
        }
    }

    fn fields(self) -> &'static [FieldId] {
        use FieldId::*;
        match self {
            Step::Hostname => &[Hostname],
            Step::Password => &[Password, PasswordAgain],
            Step::Login => &[AuthMode],
            Step::Directory => &[
                LdapUrl,
                LdapSearchDn,
                LdapSearchPassword,
                LdapBaseDn,
                LdapUid,
                LdapFilter,
                LdapGroupBaseDn,
                LdapAdminGroupDn,
                LdapCaCertificate,
                LdapStartTls,
                LdapVerifyCert,
                TestConnection,
            ],
            Step::Tls => &[TlsMode, Certificate, PrivateKey],
            Step::Network => &[HttpPort, HttpsPort, ListenAddress, DataDir],
            _ => &[],
        }
    }
}

/// The answers-file keys, and the fields that hold them on the screens: an error names the
/// label the operator sees, and the cursor goes to that field. Longest keys first, so that a
/// key inside a message is replaced whole.
const KEYS: &[(&str, FieldId)] = &[
    ("ldap.ldap_group_admin_dn", FieldId::LdapAdminGroupDn),
    ("ldap.ldap_search_password", FieldId::LdapSearchPassword),
    ("ldap.ldap_ca_certificate", FieldId::LdapCaCertificate),
    ("ldap.ldap_group_base_dn", FieldId::LdapGroupBaseDn),
    ("network.listen_address", FieldId::ListenAddress),
    ("ldap.ldap_verify_cert", FieldId::LdapVerifyCert),
    ("ldap.ldap_search_dn", FieldId::LdapSearchDn),
    ("network.https_port", FieldId::HttpsPort),
    ("ldap.ldap_starttls", FieldId::LdapStartTls),
    ("network.http_port", FieldId::HttpPort),
    ("ldap.ldap_base_dn", FieldId::LdapBaseDn),
    ("ldap.ldap_filter", FieldId::LdapFilter),
    ("storage.data_dir", FieldId::DataDir),
    ("tls.private_key", FieldId::PrivateKey),
    ("tls.certificate", FieldId::Certificate),
    ("admin_password", FieldId::Password),
    ("ldap.ldap_url", FieldId::LdapUrl),
    ("ldap.ldap_uid", FieldId::LdapUid),
    ("auth.mode", FieldId::AuthMode),
    ("tls.mode", FieldId::TlsMode),
    ("hostname", FieldId::Hostname),
    ("tls", FieldId::TlsMode),
    ("ldap", FieldId::LdapUrl),
];

impl Step {
    /// The screen a field is on.
    fn of(field: FieldId) -> Option<Step> {
        STEPS.iter().copied().find(|s| s.fields().contains(&field))
    }
}

/// The one password error about the second entry, where the cursor goes for it.
const PASSWORDS_DIFFER: &str = "the two entries differ: type the same password twice";

pub const AUTH_OPTIONS: &[&str] = &["Database", "LDAP / Active Directory"];
pub const TLS_OPTIONS: &[&str] = &["Generate a private CA", "Use my certificate", "None"];

/// What the event loop must do after a key.
#[derive(Debug)]
pub enum Action {
    /// Ctrl-C: leave, changing nothing.
    Quit,
    TestConnection(Box<LdapConfig>),
    Apply(Box<Answers>),
    /// The last screen was closed.
    Exit,
}

/// The outcome of the "test connection" action, shown under the directory settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionTest {
    Running,
    Passed,
    Failed(String),
}

pub struct App {
    pub step: Step,
    fields: Vec<Field>,
    /// Index into the current step's visible fields.
    focus: usize,
    /// The last validation error, shown on the status line until the screen changes.
    pub error: Option<AnswerError>,
    /// A configured system: values come from its configuration, and an empty password keeps
    /// the current one.
    pub reconfigure: bool,
    /// Directory settings the wizard does not ask about, carried over as they were.
    ldap_base: LdapConfig,
    /// This machine's addresses, which a generated certificate also names.
    pub addresses: Vec<IpAddr>,
    pub connection_test: Option<ConnectionTest>,
    pub progress: Vec<String>,
    pub apply_error: Option<String>,
    pub outcome: Option<Outcome>,
}

impl App {
    /// A wizard starting from `current` (a configured system) or from the defaults, with
    /// `hostname` suggested when nothing is configured.
    pub fn new(current: Option<Answers>, hostname: &str, addresses: Vec<IpAddr>) -> App {
        let reconfigure = current.is_some();
        let answers = current.unwrap_or_else(|| Answers {
            hostname: hostname.to_string(),
            admin_password: None,
            auth: AuthAnswer::default(),
            ldap: None,
            tls: TlsAnswer::default(),
            network: NetworkAnswer::default(),
            storage: StorageAnswer::default(),
            appliance: None,
        });
        let ldap = answers
            .ldap
            .clone()
            .unwrap_or_else(|| LdapConfig::new("", ""));
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        use FieldId::*;
        let fields = vec![
            Field::text(Hostname, "Hostname", &answers.hostname),
            Field::masked(Password, "Password", ""),
            Field::masked(PasswordAgain, "Again", ""),
            Field::choice(
                AuthMode,
                "Users log in with",
                AUTH_OPTIONS,
                usize::from(answers.auth.mode == berth::config::AuthMode::Ldap),
            ),
            Field::text(LdapUrl, "URL", &ldap.ldap_url),
            Field::text(LdapSearchDn, "Search DN", &ldap.ldap_search_dn),
            Field::masked(
                LdapSearchPassword,
                "Search password",
                &ldap.ldap_search_password.0,
            ),
            Field::text(LdapBaseDn, "Base DN", &ldap.ldap_base_dn),
            Field::text(LdapUid, "UID attribute", &ldap.ldap_uid),
            Field::text(LdapFilter, "User filter", &ldap.ldap_filter),
            Field::text(LdapGroupBaseDn, "Group base DN", &ldap.ldap_group_base_dn),
            Field::text(
                LdapAdminGroupDn,
                "Admin group DN",
                &ldap.ldap_group_admin_dn,
            ),
            Field::text(
                LdapCaCertificate,
                "CA certificate file",
                &path(&ldap.ldap_ca_certificate).unwrap_or_default(),
            ),
            Field::toggle(LdapStartTls, "StartTLS", ldap.ldap_starttls),
            Field::toggle(LdapVerifyCert, "Verify certificate", ldap.ldap_verify_cert),
            Field::button(TestConnection, "Test connection"),
            Field::choice(
                TlsMode,
                "TLS",
                TLS_OPTIONS,
                match answers.tls.mode {
                    crate::answers::TlsMode::Generate => 0,
                    crate::answers::TlsMode::Provided => 1,
                    crate::answers::TlsMode::None => 2,
                },
            ),
            Field::text(
                Certificate,
                "Certificate file",
                &path(&answers.tls.certificate).unwrap_or_default(),
            ),
            Field::text(
                PrivateKey,
                "Private key file",
                &path(&answers.tls.private_key).unwrap_or_default(),
            ),
            Field::text(
                HttpPort,
                "HTTP port",
                &answers.network.http_port.to_string(),
            ),
            Field::text(
                HttpsPort,
                "HTTPS port",
                &answers.network.https_port.to_string(),
            ),
            Field::text(
                ListenAddress,
                "Listen address",
                &answers.network.listen_address.to_string(),
            ),
            Field::text(
                DataDir,
                "Data directory",
                &answers.storage.data_dir.display().to_string(),
            ),
        ];
        debug_assert!(fields.iter().enumerate().all(|(i, f)| f.id as usize == i));
        App {
            step: Step::Welcome,
            fields,
            focus: 0,
            error: None,
            reconfigure,
            ldap_base: ldap,
            addresses,
            connection_test: None,
            progress: Vec::new(),
            apply_error: None,
            outcome: None,
        }
    }

    /// The field an error is about: its own key, or (for the directory's checks, which report
    /// on the whole section) the key its message starts with.
    fn field_of(&self, error: &AnswerError) -> Option<FieldId> {
        let by_key = |key: &str| KEYS.iter().find(|(k, _)| *k == key).map(|(_, f)| *f);
        if error.field == "ldap" {
            if let Some(f) = KEYS
                .iter()
                .find(|(k, _)| k.contains('.') && error.message.starts_with(k))
                .map(|(_, f)| *f)
            {
                return Some(f);
            }
        }
        by_key(error.field)
    }

    /// The error as the screens say it: the field's label, and labels for any key the
    /// message names, instead of the answers file's keys.
    pub fn error_text(&self) -> Option<String> {
        let error = self.error.as_ref()?;
        let mut message = error.message.clone();
        for (key, field) in KEYS.iter().filter(|(k, _)| k.contains('.')) {
            message = message.replace(key, self.field(*field).label);
        }
        let leading = self.field_of(error).map(|f| self.field(f).label);
        Some(match leading {
            // A message that already starts with the label reads well as it is.
            Some(label) if !message.starts_with(label) => format!("{label}: {message}"),
            _ => message,
        })
    }

    /// Shows an error, on the screen of the field it is about with the cursor on that field.
    fn fail(&mut self, error: AnswerError) {
        let field = match self.field_of(&error) {
            Some(FieldId::Password) if error.message == PASSWORDS_DIFFER => {
                Some(FieldId::PasswordAgain)
            }
            other => other,
        };
        if let Some(field) = field {
            if let Some(step) = Step::of(field) {
                if step != self.step && self.steps().contains(&step) {
                    self.go(step);
                }
            }
            if let Some(i) = self.visible_fields().iter().position(|f| *f == field) {
                self.focus = i;
            }
        }
        self.error = Some(error);
    }

    pub fn field(&self, id: FieldId) -> &Field {
        // Every id has a field: `new` makes one of each, in `FieldId` order.
        &self.fields[id as usize]
    }

    fn field_mut(&mut self, id: FieldId) -> &mut Field {
        &mut self.fields[id as usize]
    }

    fn text(&self, id: FieldId) -> String {
        self.field(id).value().trim().to_string()
    }

    pub fn auth_mode(&self) -> AuthMode {
        if self.field(FieldId::AuthMode).selected() == 1 {
            AuthMode::Ldap
        } else {
            AuthMode::Db
        }
    }

    pub fn tls_mode(&self) -> TlsMode {
        match self.field(FieldId::TlsMode).selected() {
            0 => TlsMode::Generate,
            1 => TlsMode::Provided,
            _ => TlsMode::None,
        }
    }

    /// The fields the current screen shows: the certificate paths only for a provided
    /// certificate.
    pub fn visible_fields(&self) -> Vec<FieldId> {
        self.step
            .fields()
            .iter()
            .copied()
            .filter(|id| {
                !matches!(id, FieldId::Certificate | FieldId::PrivateKey)
                    || self.tls_mode() == TlsMode::Provided
            })
            .collect()
    }

    /// How many of the visible fields Enter walks through: all but the trailing buttons.
    fn walkable_fields(&self) -> usize {
        let fields = self.visible_fields();
        fields.len()
            - fields
                .iter()
                .rev()
                .take_while(|id| matches!(self.field(**id).input, Input::Button))
                .count()
    }

    pub fn focused(&self) -> Option<FieldId> {
        self.visible_fields().get(self.focus).copied()
    }

    /// The steps this run goes through (the directory only in LDAP mode), for "step N of M".
    pub fn steps(&self) -> Vec<Step> {
        STEPS
            .iter()
            .copied()
            .filter(|s| *s != Step::Directory || self.auth_mode() == AuthMode::Ldap)
            .filter(|s| !matches!(s, Step::Applying | Step::Done))
            .collect()
    }

    fn go(&mut self, step: Step) {
        self.step = step;
        self.focus = 0;
        self.error = None;
    }

    fn neighbour(&self, forward: bool) -> Option<Step> {
        let steps = self.steps();
        let here = steps.iter().position(|s| *s == self.step)?;
        if forward {
            steps.get(here + 1).copied()
        } else {
            here.checked_sub(1).and_then(|i| steps.get(i).copied())
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return match self.step {
                // The files are being put in place; stopping now could leave half of them.
                Step::Applying if self.apply_error.is_none() => None,
                Step::Done => Some(Action::Exit),
                _ => Some(Action::Quit),
            };
        }
        match self.step {
            Step::Welcome => {
                if key.code == KeyCode::Enter {
                    self.go(Step::Hostname);
                }
                None
            }
            Step::Summary => match key.code {
                KeyCode::Enter => match self.answers() {
                    Ok(answers) => {
                        self.go(Step::Applying);
                        self.progress.clear();
                        self.apply_error = None;
                        Some(Action::Apply(Box::new(answers)))
                    }
                    Err(e) => {
                        self.fail(e);
                        None
                    }
                },
                KeyCode::Esc => {
                    self.back();
                    None
                }
                _ => None,
            },
            Step::Applying => {
                if self.apply_error.is_some() && matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                    self.go(Step::Summary);
                }
                None
            }
            Step::Done => matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q'))
                .then_some(Action::Exit),
            _ => self.handle_form_key(key),
        }
    }

    fn back(&mut self) {
        if let Some(previous) = self.neighbour(false) {
            self.go(previous);
        }
    }

    fn handle_form_key(&mut self, key: KeyEvent) -> Option<Action> {
        let count = self.visible_fields().len();
        match key.code {
            KeyCode::Esc => self.back(),
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % count,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + count - 1) % count,
            KeyCode::Enter if self.focused() == Some(FieldId::TestConnection) => {
                return match self.ldap_config() {
                    Ok(cfg) => {
                        self.error = None;
                        self.connection_test = Some(ConnectionTest::Running);
                        Some(Action::TestConnection(Box::new(cfg)))
                    }
                    Err(e) => {
                        self.fail(e);
                        None
                    }
                };
            }
            // Enter walks the fields and leaves the screen from the last one; buttons are
            // reached with Tab and the arrows.
            KeyCode::Enter if self.focus + 1 < self.walkable_fields() => self.focus += 1,
            KeyCode::Enter => self.forward(),
            _ => {
                if let Some(id) = self.focused() {
                    if self.field_mut(id).handle_key(key) {
                        self.error = None;
                        if id == FieldId::TlsMode {
                            // Which fields show depends on the mode: keep focus on the choice.
                            self.focus = 0;
                        }
                    }
                }
            }
        }
        None
    }

    /// Leaves the current screen forward when its answers pass their checks.
    fn forward(&mut self) {
        match self.check_step() {
            Ok(()) => {
                if let Some(next) = self.neighbour(true) {
                    self.connection_test = None;
                    self.go(next);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// The checks of the current screen; the summary re-runs them all through
    /// [`Answers::check`].
    fn check_step(&self) -> Result<(), AnswerError> {
        match self.step {
            Step::Hostname => check_hostname(&self.text(FieldId::Hostname)),
            Step::Password => self.admin_password().map(|_| ()),
            Step::Directory => self.ldap_config().map(|_| ()),
            Step::Tls => self.check_tls(),
            Step::Network => self.answers().map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The new admin password, or none to keep the current one (only when reconfiguring).
    fn admin_password(&self) -> Result<Option<String>, AnswerError> {
        let first = self.field(FieldId::Password).value();
        let again = self.field(FieldId::PasswordAgain).value();
        if first.is_empty() && again.is_empty() && self.reconfigure {
            return Ok(None);
        }
        check_admin_password(first)?;
        if first != again {
            return Err(wrong("admin_password", PASSWORDS_DIFFER));
        }
        Ok(Some(first.to_string()))
    }

    fn ldap_config(&self) -> Result<LdapConfig, AnswerError> {
        let mut cfg = self.ldap_base.clone();
        cfg.ldap_url = self.text(FieldId::LdapUrl);
        cfg.ldap_search_dn = self.text(FieldId::LdapSearchDn);
        cfg.ldap_search_password = Secret(self.field(FieldId::LdapSearchPassword).value().into());
        cfg.ldap_base_dn = self.text(FieldId::LdapBaseDn);
        cfg.ldap_uid = self.text(FieldId::LdapUid);
        cfg.ldap_filter = self.text(FieldId::LdapFilter);
        cfg.ldap_group_base_dn = self.text(FieldId::LdapGroupBaseDn);
        cfg.ldap_group_admin_dn = self.text(FieldId::LdapAdminGroupDn);
        let ca = self.text(FieldId::LdapCaCertificate);
        cfg.ldap_ca_certificate = (!ca.is_empty()).then(|| PathBuf::from(ca));
        cfg.ldap_starttls = self.field(FieldId::LdapStartTls).is_on();
        cfg.ldap_verify_cert = self.field(FieldId::LdapVerifyCert).is_on();
        match cfg.problems().into_iter().next() {
            Some(problem) => Err(wrong("ldap", problem)),
            None => Ok(cfg),
        }
    }

    fn check_tls(&self) -> Result<(), AnswerError> {
        if self.tls_mode() != TlsMode::Provided {
            return Ok(());
        }
        let (cert, key) = (
            self.text(FieldId::Certificate),
            self.text(FieldId::PrivateKey),
        );
        if cert.is_empty() {
            return Err(wrong(
                "tls.certificate",
                "give the path of the PEM certificate chain",
            ));
        }
        if key.is_empty() {
            return Err(wrong(
                "tls.private_key",
                "give the path of the PEM private key",
            ));
        }
        crate::certs::check_provided(cert.as_ref(), key.as_ref(), &self.text(FieldId::Hostname))
            .map(|_| ())
    }

    /// Everything the screens hold, as answers, through the same checks an answers file gets.
    pub fn answers(&self) -> Result<Answers, AnswerError> {
        let port = |id: FieldId, field: &'static str| {
            self.text(id)
                .parse::<u16>()
                .map_err(|_| wrong(field, "must be a number from 0 to 65535"))
        };
        let network = NetworkAnswer {
            http_port: port(FieldId::HttpPort, "network.http_port")?,
            https_port: port(FieldId::HttpsPort, "network.https_port")?,
            listen_address: self.text(FieldId::ListenAddress).parse().map_err(|_| {
                wrong(
                    "network.listen_address",
                    "is not an IP address (0.0.0.0 listens on all of them)",
                )
            })?,
        };
        let tls_mode = self.tls_mode();
        let path = |id: FieldId| Some(PathBuf::from(self.text(id)));
        let answers = Answers {
            hostname: self.text(FieldId::Hostname),
            admin_password: self.admin_password()?,
            auth: AuthAnswer {
                mode: self.auth_mode(),
            },
            ldap: match self.auth_mode() {
                AuthMode::Ldap => Some(self.ldap_config()?),
                AuthMode::Db => None,
            },
            tls: TlsAnswer {
                mode: tls_mode,
                certificate: (tls_mode == TlsMode::Provided)
                    .then(|| path(FieldId::Certificate))
                    .flatten(),
                private_key: (tls_mode == TlsMode::Provided)
                    .then(|| path(FieldId::PrivateKey))
                    .flatten(),
            },
            network,
            storage: StorageAnswer {
                data_dir: PathBuf::from(self.text(FieldId::DataDir)),
            },
            appliance: None,
        };
        answers.check()?;
        Ok(answers)
    }

    /// The connection test finished.
    pub fn connection_tested(&mut self, result: Result<(), AnswerError>) {
        self.connection_test = Some(match result {
            Ok(()) => ConnectionTest::Passed,
            Err(e) => ConnectionTest::Failed(e.message),
        });
    }

    /// Apply started a step.
    pub fn progressed(&mut self, step: &str) {
        self.progress.push(step.to_string());
    }

    /// Apply finished.
    pub fn applied(&mut self, result: Result<Outcome, String>) {
        match result {
            Ok(outcome) => {
                self.outcome = Some(outcome);
                self.go(Step::Done);
            }
            Err(e) => self.apply_error = Some(e),
        }
    }
}

#[cfg(test)]
mod tests;
