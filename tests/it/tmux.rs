//! A tmux server of a test's own: a real terminal for the wizard (on the host, or on a
//! virtual machine's serial console), driven with keys and read from its screen.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{must, run};

/// A tmux server of the test's own, with one 80x24 window.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: crate::harness::unique("berth-tmux"),
        };
        must(Command::new("tmux").args([
            "-L",
            &tmux.socket,
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "wizard",
            command,
        ]));
        tmux
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        must(Command::new("tmux").args(["-L", &self.socket]).args(args))
    }

    /// Named keys (`Enter`, `Tab`, `C-u`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "wizard"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Text, typed as it is.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "wizard", "-l", text]);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "wizard"])
    }

    /// Polls the screen until it shows `text`; fails with the screen after 30 s.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_for_within(text, Duration::from_secs(30))
    }

    /// The same, for screens that take longer (a virtual machine booting).
    pub fn wait_for_within(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the wizard never showed {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = run(Command::new("tmux").args(["-L", &self.socket, "kill-server"]));
    }
}

impl Tmux {
    /// The wizard's first screens: welcome (given `welcome` to appear), hostname, the admin
    /// password twice; leaves it on the login mode screen.
    pub fn wizard_to_login_mode(&self, welcome: Duration, hostname: &str, password: &str) {
        self.wait_for_within("Welcome", welcome);
        self.keys(&["Enter"]);
        self.wait_for("Hostname");
        self.keys(&["C-u"]);
        self.type_text(hostname);
        self.keys(&["Enter"]);
        self.wait_for("Administrator password");
        self.type_text(password);
        self.keys(&["Enter"]);
        self.type_text(password);
        self.keys(&["Enter"]);
        self.wait_for("Login mode");
    }
}
