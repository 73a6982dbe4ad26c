//! Browser sessions: `POST /c/login` makes one, the `sid` cookie (HttpOnly, SameSite=Strict)
//! carries it, and a CSRF token that must come back in `X-Harbor-CSRF-Token` guards every
//! mutating request made with it. Sessions live in memory: a restart signs browsers out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

pub const COOKIE: &str = "sid";
pub const CSRF_HEADER: &str = "x-harbor-csrf-token";

#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub csrf_token: String,
    last_used: Instant,
    /// A message for the next page the browser shows (the portal's post-redirect-get), and
    /// the only place a robot's new secret is kept until that page shows it once.
    flash: Option<Flash>,
}

/// What a change did, shown once on the page the browser lands on next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
    /// A secret to show once beside the message, with its account name.
    pub secret: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

/// Beyond this many sessions, expired ones are swept at every sign-in, not once a minute.
/// With at most [`MAX_SESSIONS_PER_USER`] each, the table grows only with the accounts.
const MAX_SESSIONS: usize = 100_000;
/// Sessions one user keeps at most: a user signing in again and again ends only their own
/// oldest, never anyone else's.
const MAX_SESSIONS_PER_USER: usize = 32;

#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// When expired sessions were last swept out.
    swept: Mutex<Option<Instant>>,
    /// Seconds; the settings' `session_timeout`, which can change while sessions live.
    idle_timeout_s: std::sync::atomic::AtomicU64,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    pub fn new(idle_timeout: Duration) -> Sessions {
        Sessions {
            map: Mutex::default(),
            swept: Mutex::default(),
            idle_timeout_s: std::sync::atomic::AtomicU64::new(idle_timeout.as_secs()),
        }
    }

    pub fn set_idle_timeout(&self, idle_timeout: Duration) {
        self.idle_timeout_s
            .store(idle_timeout.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(
            self.idle_timeout_s
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for the user: `(session id, CSRF token)`.
    pub fn create(&self, user_id: i64) -> (String, String) {
        let (sid, csrf) = (random_token(), random_token());
        let timeout = self.idle_timeout();
        let sweep = {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            let due = swept.is_none_or(|at| at.elapsed() >= Duration::from_secs(60));
            if due {
                *swept = Some(Instant::now());
            }
            due
        };
        let mut map = self.lock();
        if sweep || map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.last_used.elapsed() <= timeout);
        }
        let own: Vec<(String, Instant)> = map
            .iter()
            .filter(|(_, s)| s.user_id == user_id)
            .map(|(k, s)| (k.clone(), s.last_used))
            .collect();
        if own.len() >= MAX_SESSIONS_PER_USER {
            if let Some((oldest, _)) = own.iter().min_by_key(|(_, at)| *at) {
                map.remove(oldest);
            }
        }
        map.insert(
            sid.clone(),
            Session {
                user_id,
                csrf_token: csrf.clone(),
                last_used: Instant::now(),
                flash: None,
            },
        );
        (sid, csrf)
    }

    /// The live session for an id, refreshed; expired ones are dropped.
    pub fn get(&self, sid: &str) -> Option<Session> {
        let mut map = self.lock();
        match map.get_mut(sid) {
            Some(s) if s.last_used.elapsed() <= self.idle_timeout() => {
                s.last_used = Instant::now();
                Some(s.clone())
            }
            Some(_) => {
                map.remove(sid);
                None
            }
            None => None,
        }
    }

    /// The live session without refreshing it: pages that poll for progress must not keep a
    /// session alive that nobody uses.
    pub fn peek(&self, sid: &str) -> Option<Session> {
        self.lock()
            .get(sid)
            .filter(|s| s.last_used.elapsed() <= self.idle_timeout())
            .cloned()
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, sid: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(sid) {
            s.flash = Some(flash);
        }
    }

    /// The waiting message, once.
    pub fn take_flash(&self, sid: &str) -> Option<Flash> {
        self.lock().get_mut(sid).and_then(|s| s.flash.take())
    }

    /// Ends every session of a user (deleted, or their password changed elsewhere).
    pub fn remove_user(&self, user_id: i64) {
        self.lock().retain(|_, s| s.user_id != user_id);
    }

    /// Ends every session of a user but one (the one that changed the password).
    pub fn remove_user_except(&self, user_id: i64, keep: &str) {
        self.lock().retain(|k, s| s.user_id != user_id || k == keep);
    }

    pub fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }
}

/// The value of one cookie in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Constant-time comparison for tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_go() {
        let s = Sessions::new(Duration::from_secs(60));
        let (sid, csrf) = s.create(7);
        assert_eq!(
            s.get(&sid).map(|x| (x.user_id, x.csrf_token)),
            Some((7, csrf))
        );
        s.remove(&sid);
        assert!(s.get(&sid).is_none());
        let short = Sessions::new(Duration::ZERO);
        let (sid, _) = short.create(1);
        std::thread::yield_now();
        assert!(short.get(&sid).is_none() || short.get(&sid).is_none());
    }

    #[test]
    fn one_user_signing_in_again_and_again_ends_only_their_own_sessions() {
        let s = Sessions::new(Duration::from_secs(60));
        let (other, _) = s.create(2);
        let first: Vec<String> = (0..MAX_SESSIONS_PER_USER).map(|_| s.create(1).0).collect();
        for _ in 0..100 {
            s.create(1);
        }
        assert!(s.get(&other).is_some(), "another user's session survives");
        assert!(
            first.iter().all(|sid| s.get(sid).is_none()),
            "the oldest went"
        );
        let own = s.lock().values().filter(|x| x.user_id == 1).count();
        assert_eq!(own, MAX_SESSIONS_PER_USER);
        s.remove_user_except(1, &first[0]);
        assert_eq!(s.lock().values().filter(|x| x.user_id == 1).count(), 0);
        assert!(s.get(&other).is_some());
    }

    #[test]
    fn cookies_and_tokens() {
        assert_eq!(cookie("a=1; sid=abc; b=2", "sid"), Some("abc"));
        assert_eq!(cookie("a=1", "sid"), None);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("abc", "ab"));
    }
}
