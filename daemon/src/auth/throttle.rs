//! Login throttling. Failed logins are counted per account and per client address; past a few
//! failures each answer is slowed, and past the limit the account (or address) is refused with
//! 429 until the lockout ends.
//!
//! An attempt counts from the moment it starts, not when its password check ends: an account
//! or address may have at most `limit - failures` attempts in flight, and further attempts
//! wait (holding no hashing memory) until one ends, or are refused after a bounded wait. So a
//! burst of concurrent wrong passwords is checked no more times than the limit allows.
//!
//! Accounts are keyed by [`crate::names::account_key`], the one normalisation rule for names.
//! For the built-in `admin` the account counter is kept per address, so failures from
//! elsewhere can never lock the operator out; every lockout also ends by itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::names::account_key;

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
    in_flight: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Counter {
        Counter {
            failures: 0,
            in_flight: 0,
            last_failure: now,
            locked_until: None,
        }
    }

    /// A quiet lockout period forgives earlier failures; so does an expired lockout.
    fn forgive(&mut self, now: Instant, lockout: Duration) {
        if now.duration_since(self.last_failure) > lockout
            || self.locked_until.is_some_and(|u| u <= now)
        {
            self.failures = 0;
            self.locked_until = None;
        }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    counters: Mutex<HashMap<String, Counter>>,
    /// Woken whenever an attempt ends, for attempts waiting for a free slot.
    ended: Notify,
}

/// Failures after which answers start to slow down.
const SLOW_AFTER: u32 = 2;
const MAX_DELAY: Duration = Duration::from_secs(2);
/// How long an attempt waits for a free slot before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// What a refused-while-busy attempt is told to wait.
const BUSY_RETRY: Duration = Duration::from_secs(1);

fn keys(username: &str, address: &str) -> [String; 2] {
    let name = account_key(username);
    let account = if name == "admin" {
        format!("user:{name}@{address}")
    } else {
        format!("user:{name}")
    };
    [account, format!("addr:{address}")]
}

/// What `try_start` found.
enum Slot {
    Taken,
    Locked(Duration),
    Busy,
}

/// One login attempt, counted while it runs. Dropping it unresolved (the client went away)
/// frees its slot without counting a failure.
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: [String; 2],
    resolved: bool,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Counter>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_start(&self, keys: &[String; 2], limits: &Limits) -> Slot {
        let now = Instant::now();
        let mut counters = self.lock();
        let maxima = [
            limits.max_failures_per_user,
            limits.max_failures_per_address,
        ];
        for (key, max) in keys.iter().zip(maxima) {
            let c = counters.entry(key.clone()).or_insert(Counter::new(now));
            c.forgive(now, limits.lockout);
            if let Some(until) = c.locked_until.filter(|u| *u > now) {
                return Slot::Locked(until - now);
            }
            if c.failures.saturating_add(c.in_flight) >= max.max(1) {
                return Slot::Busy;
            }
        }
        for key in keys {
            if let Some(c) = counters.get_mut(key) {
                c.in_flight += 1;
            }
        }
        Slot::Taken
    }

    /// Starts an attempt: `Err(retry_after)` while the account or the address is locked out,
    /// or when no slot frees up within a bounded wait.
    pub async fn begin(
        &self,
        username: &str,
        address: &str,
        limits: &Limits,
    ) -> Result<Attempt<'_>, Duration> {
        let keys = keys(username, address);
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            // Registered before looking, so an attempt that ends in between still wakes us.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            match self.try_start(&keys, limits) {
                Slot::Taken => {
                    return Ok(Attempt {
                        throttle: self,
                        keys,
                        resolved: false,
                    })
                }
                Slot::Locked(retry) => return Err(retry),
                Slot::Busy => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || tokio::time::timeout(left, ended).await.is_err() {
                        return Err(BUSY_RETRY);
                    }
                }
            }
        }
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

    fn end(&self, keys: &[String; 2], outcome: Option<&Limits>) -> (Duration, bool) {
        let now = Instant::now();
        let mut worst = 0;
        let mut locked = false;
        {
            let mut counters = self.lock();
            for (i, key) in keys.iter().enumerate() {
                let c = counters.entry(key.clone()).or_insert(Counter::new(now));
                c.in_flight = c.in_flight.saturating_sub(1);
                match outcome {
                    // A failure.
                    Some(limits) => {
                        c.forgive(now, limits.lockout);
                        c.failures += 1;
                        c.last_failure = now;
                        let max = if i == 0 {
                            limits.max_failures_per_user
                        } else {
                            limits.max_failures_per_address
                        };
                        if c.failures >= max {
                            c.locked_until = Some(now + limits.lockout);
                            locked = true;
                        }
                        worst = worst.max(c.failures);
                    }
                    // A success clears the account's counter (the address keeps its own).
                    None if i == 0 && c.in_flight == 0 => {
                        counters.remove(key);
                    }
                    None => {}
                }
            }
            // Bound memory: forget idle counters that have been quiet for a lockout period.
            if let Some(limits) = outcome {
                if counters.len() > 10_000 {
                    counters.retain(|_, c| {
                        c.in_flight > 0 || now.duration_since(c.last_failure) <= limits.lockout
                    });
                }
            }
        }
        self.ended.notify_waiters();
        let delay = if worst > SLOW_AFTER {
            (Duration::from_millis(100) * 2u32.saturating_pow(worst - SLOW_AFTER)).min(MAX_DELAY)
        } else {
            Duration::ZERO
        };
        (delay, locked)
    }

    /// Counts a failure at once, without an attempt (kept for callers that check credentials
    /// elsewhere); returns how long to hold the answer back, and whether it locked.
    pub fn failed(&self, username: &str, address: &str, limits: &Limits) -> (Duration, bool) {
        let keys = keys(username, address);
        {
            let mut counters = self.lock();
            let now = Instant::now();
            for key in &keys {
                counters
                    .entry(key.clone())
                    .or_insert(Counter::new(now))
                    .in_flight += 1;
            }
        }
        self.end(&keys, Some(limits))
    }

    /// A success clears the account's counter (the address keeps its own).
    pub fn succeeded(&self, username: &str, address: &str) {
        let [account, _] = keys(username, address);
        let mut counters = self.lock();
        if counters.get(&account).is_some_and(|c| c.in_flight == 0) {
            counters.remove(&account);
        } else if let Some(c) = counters.get_mut(&account) {
            c.failures = 0;
            c.locked_until = None;
        }
    }
}

impl Attempt<'_> {
    /// The credentials were wrong: counts the failure; returns how long to hold the answer
    /// back, and whether it locked the account or address.
    pub fn failed(mut self, limits: &Limits) -> (Duration, bool) {
        self.resolved = true;
        self.throttle.end(&self.keys, Some(limits))
    }

    pub fn succeeded(mut self) {
        self.resolved = true;
        self.throttle.end(&self.keys, None);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.resolved {
            self.throttle.end(&self.keys, None);
        }
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

    #[tokio::test]
    async fn concurrent_attempts_count_when_they_start() {
        let t = Throttle::default();
        let l = limits();
        // Three slots for the account: the fourth concurrent attempt must wait.
        let a = t.begin("bob", "1.1.1.1", &l).await.expect("first");
        let b = t.begin("Bob", "1.1.1.1", &l).await.expect("second");
        let c = t.begin("BOB ", "1.1.1.1", &l).await.expect("third");
        let waiting =
            tokio::time::timeout(Duration::from_millis(50), t.begin("bob", "1.1.1.1", &l)).await;
        assert!(
            waiting.is_err(),
            "a fourth attempt got a slot while three were in flight"
        );
        a.failed(&l);
        b.failed(&l);
        let (_, locked) = c.failed(&l);
        assert!(
            locked,
            "three failures of bob, Bob and 'BOB ' lock one account"
        );
        assert!(t.begin("bob", "2.2.2.2", &l).await.is_err());
    }

    #[tokio::test]
    async fn a_waiting_attempt_gets_the_slot_a_success_frees() {
        let t = std::sync::Arc::new(Throttle::default());
        let l = limits();
        let held: Vec<_> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(t.begin("ci", "5.5.5.5", &l).await.expect("slot"));
            }
            v
        };
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.begin("ci", "5.5.5.5", &l).await.is_ok() });
        tokio::task::yield_now().await;
        for a in held {
            a.succeeded();
        }
        assert!(
            waiter.await.expect("join"),
            "the waiting attempt was refused"
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
