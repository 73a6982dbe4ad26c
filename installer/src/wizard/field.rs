//! The wizard's inputs. Each kind owns its own key handling; the wizard only moves focus
//! between them and checks what they hold when a screen is left.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Which answer a field holds; also its place in [`super::App`]'s field list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    Hostname,
    Password,
    PasswordAgain,
    AuthMode,
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
    TlsMode,
    Certificate,
    PrivateKey,
    HttpPort,
    HttpsPort,
    ListenAddress,
    DataDir,
}

#[derive(Debug, Clone)]
pub enum Input {
    /// A line of text; `masked` ones show `*` for each character.
    Text {
        value: String,
        /// In characters, not bytes.
        cursor: usize,
        masked: bool,
    },
    /// One of a few options, changed with the arrows or Space.
    Choice {
        options: &'static [&'static str],
        selected: usize,
    },
    Toggle(bool),
    /// Acts on Enter.
    Button,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub id: FieldId,
    pub label: &'static str,
    pub input: Input,
}

impl Field {
    pub fn text(id: FieldId, label: &'static str, value: &str) -> Field {
        Field {
            id,
            label,
            input: Input::Text {
                value: value.to_string(),
                cursor: value.chars().count(),
                masked: false,
            },
        }
    }

    pub fn masked(id: FieldId, label: &'static str, value: &str) -> Field {
        let mut field = Field::text(id, label, value);
        if let Input::Text { masked, .. } = &mut field.input {
            *masked = true;
        }
        field
    }

    pub fn choice(
        id: FieldId,
        label: &'static str,
        options: &'static [&'static str],
        selected: usize,
    ) -> Field {
        Field {
            id,
            label,
            input: Input::Choice { options, selected },
        }
    }

    pub fn toggle(id: FieldId, label: &'static str, on: bool) -> Field {
        Field {
            id,
            label,
            input: Input::Toggle(on),
        }
    }

    pub fn button(id: FieldId, label: &'static str) -> Field {
        Field {
            id,
            label,
            input: Input::Button,
        }
    }

    /// The text of a text field (empty for other kinds).
    pub fn value(&self) -> &str {
        match &self.input {
            Input::Text { value, .. } => value,
            _ => "",
        }
    }

    pub fn selected(&self) -> usize {
        match self.input {
            Input::Choice { selected, .. } => selected,
            _ => 0,
        }
    }

    pub fn is_on(&self) -> bool {
        matches!(self.input, Input::Toggle(true))
    }

    /// Handles a key meant for this field; false when the field has no use for it.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match &mut self.input {
            Input::Text { value, cursor, .. } => {
                let len = value.chars().count();
                let byte_at = |s: &str, i: usize| s.char_indices().nth(i).map_or(s.len(), |c| c.0);
                match key.code {
                    KeyCode::Char('u') if ctrl => {
                        value.clear();
                        *cursor = 0;
                    }
                    KeyCode::Char(_) if ctrl => return false,
                    KeyCode::Char(c) => {
                        value.insert(byte_at(value, *cursor), c);
                        *cursor += 1;
                    }
                    KeyCode::Backspace if *cursor > 0 => {
                        *cursor -= 1;
                        value.remove(byte_at(value, *cursor));
                    }
                    KeyCode::Delete if *cursor < len => {
                        value.remove(byte_at(value, *cursor));
                    }
                    KeyCode::Left => *cursor = cursor.saturating_sub(1),
                    KeyCode::Right => *cursor = (*cursor + 1).min(len),
                    KeyCode::Home => *cursor = 0,
                    KeyCode::End => *cursor = len,
                    KeyCode::Backspace | KeyCode::Delete => {}
                    _ => return false,
                }
                true
            }
            Input::Choice { options, selected } => {
                match key.code {
                    KeyCode::Left => *selected = selected.saturating_sub(1),
                    KeyCode::Right => *selected = (*selected + 1).min(options.len() - 1),
                    KeyCode::Char(' ') => *selected = (*selected + 1) % options.len(),
                    _ => return false,
                }
                true
            }
            Input::Toggle(on) => match key.code {
                KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right => {
                    *on = !*on;
                    true
                }
                _ => false,
            },
            Input::Button => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn text_editing_works_on_characters_not_bytes() {
        let mut f = Field::text(FieldId::Hostname, "Host", "jürgen");
        for code in [
            KeyCode::Left,
            KeyCode::Left,
            KeyCode::Left,
            KeyCode::Backspace,
            KeyCode::Char('u'),
            KeyCode::End,
            KeyCode::Char('!'),
            KeyCode::Home,
            KeyCode::Delete,
        ] {
            assert!(f.handle_key(key(code)));
        }
        assert_eq!(f.value(), "üugen!");
        assert!(f.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        assert_eq!(f.value(), "");
        assert!(!f.handle_key(key(KeyCode::Tab)));
    }

    #[test]
    fn choices_and_toggles() {
        let mut c = Field::choice(FieldId::TlsMode, "TLS", &["a", "b", "c"], 0);
        c.handle_key(key(KeyCode::Left));
        assert_eq!(c.selected(), 0);
        c.handle_key(key(KeyCode::Right));
        c.handle_key(key(KeyCode::Right));
        c.handle_key(key(KeyCode::Right));
        assert_eq!(c.selected(), 2);
        c.handle_key(key(KeyCode::Char(' ')));
        assert_eq!(c.selected(), 0);
        let mut t = Field::toggle(FieldId::LdapStartTls, "StartTLS", false);
        t.handle_key(key(KeyCode::Char(' ')));
        assert!(t.is_on());
        assert!(!t.handle_key(key(KeyCode::Char('x'))));
    }
}
