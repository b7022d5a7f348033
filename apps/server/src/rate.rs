//! A token bucket limiting the request rate of one socket.

use parking_lot::Mutex;
use std::time::Instant;

/// Allows `rate` requests per second on average and bursts of `5 × rate`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket for `rate` requests per second (0 disables the limit).
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        Self {
            rate,
            burst: rate * 5.0,
            state: Mutex::new((rate * 5.0, Instant::now())),
        }
    }

    /// Take one token; `false` when the socket is over its rate.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut state = self.state.lock();
        let (tokens, last) = &mut *state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills() {
        let r = RateLimiter::new(10);
        let t0 = Instant::now();
        let allowed = (0..80).filter(|_| r.allow_at(t0)).count();
        assert_eq!(allowed, 50, "burst is five times the rate");
        assert!(!r.allow_at(t0));
        assert!(r.allow_at(t0 + Duration::from_millis(150)));
        assert!(RateLimiter::new(0).allow());
    }
}
