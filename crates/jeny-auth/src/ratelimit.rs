//! Sign-in attempts per client address: a token bucket each, holding a minute's allowance and
//! refilling continuously. In memory, per node: enough to make guessing user codes or hammering
//! the provider pointless, without a table written on every attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

const MAX_ADDRESSES: usize = 100_000;

pub(crate) struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `address`: `Err(seconds)` to wait when it has none left.
    pub(crate) fn attempt(&self, address: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_ADDRESSES {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (tokens, at) = buckets.entry(address).or_insert((self.per_minute, now));
        let refilled = now.duration_since(*at).as_secs_f64() * self.per_minute / 60.0;
        *tokens = (*tokens + refilled).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) * 60.0 / self.per_minute;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_allowance_and_no_more() {
        let limiter = RateLimiter::new(3);
        let alice: IpAddr = "127.0.0.1".parse().unwrap();
        let bob: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.attempt(alice).is_ok());
        }
        let wait = limiter.attempt(alice).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(
            limiter.attempt(bob).is_ok(),
            "another address has its own allowance"
        );
    }
}
