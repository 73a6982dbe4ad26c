//! Login throttling. Failed logins are counted per account and per client address; past a few
//! failures each answer is slowed, and past the limit the account (or address) is refused with
//! 429 until the lockout ends. Counting happens before the password is checked, so a locked
//! account costs no hashing. For the built-in `admin` the account counter is kept per address,
//! so failures from elsewhere can never lock the operator out; every lockout also ends by
//! itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_failures_per_user: u32,
    pub max_failures_per_address: u32,
    pub lockout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Throttle {
    counters: Mutex<HashMap<String, Counter>>,
}

/// Failures after which answers start to slow down.
const SLOW_AFTER: u32 = 2;
const MAX_DELAY: Duration = Duration::from_secs(2);

fn keys(username: &str, address: &str) -> [String; 2] {
    let account = if username == "admin" {
        format!("user:{username}@{address}")
    } else {
        format!("user:{username}")
    };
    [account, format!("addr:{address}")]
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Counter>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(retry_after)` while the account or the address is locked out.
    pub fn check(&self, username: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let counters = self.lock();
        for key in keys(username, address) {
            if let Some(until) = counters.get(&key).and_then(|c| c.locked_until) {
                if until > now {
                    return Err(until - now);
                }
            }
        }
        Ok(())
    }

    /// Counts a failure; returns how long to hold the answer back, and whether it locked.
    pub fn failed(&self, username: &str, address: &str, limits: &Limits) -> (Duration, bool) {
        let now = Instant::now();
        let mut counters = self.lock();
        let mut worst = 0;
        let mut locked = false;
        for (key, max) in keys(username, address).into_iter().zip([
            limits.max_failures_per_user,
            limits.max_failures_per_address,
        ]) {
            let c = counters.entry(key).or_insert(Counter {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            // A quiet lockout period forgives earlier failures; so does an expired lockout.
            if now.duration_since(c.last_failure) > limits.lockout
                || c.locked_until.is_some_and(|u| u <= now)
            {
                *c = Counter {
                    failures: 0,
                    last_failure: now,
                    locked_until: None,
                };
            }
            c.failures += 1;
            c.last_failure = now;
            if c.failures >= max {
                c.locked_until = Some(now + limits.lockout);
                locked = true;
            }
            worst = worst.max(c.failures);
        }
        // Bound memory: forget counters that have been quiet for a lockout period.
        if counters.len() > 10_000 {
            counters.retain(|_, c| now.duration_since(c.last_failure) <= limits.lockout);
        }
        let delay = if worst > SLOW_AFTER {
            (Duration::from_millis(100) * 2u32.saturating_pow(worst - SLOW_AFTER)).min(MAX_DELAY)
        } else {
            Duration::ZERO
        };
        (delay, locked)
    }

    /// A success clears the account's counter (the address keeps its own).
    pub fn succeeded(&self, username: &str, address: &str) {
        let [account, _] = keys(username, address);
        self.lock().remove(&account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_failures_per_user: 3,
            max_failures_per_address: 5,
            lockout: Duration::from_secs(60),
        }
    }

    #[test]
    fn locks_an_account_after_its_limit() {
        let t = Throttle::default();
        let l = limits();
        for _ in 0..2 {
            assert!(!t.failed("bob", "1.1.1.1", &l).1);
        }
        assert!(t.check("bob", "1.1.1.1").is_ok());
        assert!(t.failed("bob", "1.1.1.1", &l).1);
        assert!(t.check("bob", "1.1.1.1").is_err());
        assert!(
            t.check("bob", "2.2.2.2").is_err(),
            "an account lock holds from any address"
        );
        assert!(t.check("carol", "1.1.1.1").is_ok());
    }

    #[test]
    fn locks_an_address_after_its_limit() {
        let t = Throttle::default();
        let l = limits();
        for user in ["a", "b", "c", "d", "e"] {
            t.failed(user, "9.9.9.9", &l);
        }
        assert!(t.check("z", "9.9.9.9").is_err());
        assert!(t.check("z", "8.8.8.8").is_ok());
    }

    #[test]
    fn admin_is_never_locked_out_from_elsewhere() {
        let t = Throttle::default();
        let l = limits();
        for _ in 0..3 {
            t.failed("admin", "6.6.6.6", &l);
        }
        assert!(t.check("admin", "6.6.6.6").is_err());
        assert!(t.check("admin", "10.0.0.1").is_ok());
    }

    #[test]
    fn lockouts_end_and_success_resets() {
        let t = Throttle::default();
        let l = Limits {
            lockout: Duration::from_millis(0),
            ..limits()
        };
        for _ in 0..3 {
            t.failed("bob", "1.1.1.1", &l);
        }
        assert!(
            t.check("bob", "1.1.1.1").is_ok(),
            "a zero lockout ends at once"
        );
        let l = limits();
        for _ in 0..2 {
            t.failed("eve", "3.3.3.3", &l);
        }
        t.succeeded("eve", "3.3.3.3");
        for _ in 0..2 {
            t.failed("eve", "4.4.4.4", &l);
        }
        assert!(
            t.check("eve", "4.4.4.4").is_ok(),
            "the success reset the account's count"
        );
    }

    #[test]
    fn answers_slow_down() {
        let t = Throttle::default();
        let l = Limits {
            max_failures_per_user: 100,
            max_failures_per_address: 100,
            ..limits()
        };
        let delays: Vec<Duration> = (0..8).map(|_| t.failed("x", "1.1.1.1", &l).0).collect();
        assert!(delays[0].is_zero() && delays[1].is_zero());
        assert!(delays[3] > delays[2] && delays[7] <= MAX_DELAY);
    }
}
