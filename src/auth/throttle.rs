//! Brute-force protection: failed sign-ins are counted per account name and per address;
//! past a few, each further attempt must wait, twice as long each time (up to a cap). A
//! success clears both counts. Kept in memory: a restart forgets it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before waits begin.
const FREE_FAILURES: u32 = 5;
/// The first wait; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A count left alone this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long the caller must still wait before trying again, if at all.
    pub fn wait(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let map = self.map();
        keys.iter()
            .filter_map(|key| map.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failure against every key.
    pub fn failed(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.map();
        map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        for key in keys {
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                last: now,
                blocked_until: None,
            });
            entry.count += 1;
            entry.last = now;
            if entry.count >= FREE_FAILURES {
                let doublings = (entry.count - FREE_FAILURES).min(16);
                let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT);
                entry.blocked_until = Some(now + wait);
            }
        }
    }

    /// A success: the keys start afresh.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.map();
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_begin_after_a_few_failures_and_grow() {
        let throttle = Throttle::default();
        let keys = ["user:ann".to_owned(), "addr:10.0.0.1".to_owned()];
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(&keys);
            assert_eq!(throttle.wait(&keys), None);
        }
        throttle.failed(&keys);
        let first = throttle.wait(&keys).expect("blocked");
        assert!(first <= FIRST_WAIT && first > FIRST_WAIT / 2, "{first:?}");
        throttle.failed(&keys);
        assert!(
            throttle.wait(&keys).expect("blocked") > FIRST_WAIT,
            "the wait doubles"
        );
        // Another account from another address is not held up.
        assert_eq!(
            throttle.wait(&["user:bob".to_owned(), "addr:10.0.0.2".to_owned()]),
            None
        );
        // The same address, any account: held up.
        assert!(throttle
            .wait(&["user:bob".to_owned(), "addr:10.0.0.1".to_owned()])
            .is_some());
        throttle.succeeded(&keys);
        assert_eq!(throttle.wait(&keys), None);
    }
}
