//! When to try the model again: failures before the first token (connect errors, timeouts,
//! 408, 409, 429, 5xx) are retried with exponential backoff and full jitter, never sooner than
//! the server's `Retry-After`, and never past a total budget: when the next wait would end
//! after the budget, the provider gives up at once rather than sleep for nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The ceiling of the first backoff; it doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The time from the first attempt after which no new attempt starts.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            budget: Duration::from_secs(12),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` failed (attempts count from 1),
    /// or `None` when there is no next attempt: out of attempts, or the wait would end past
    /// the budget (`elapsed` is the time since the first attempt).
    pub fn next_delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.max_delay);
        // Half fixed, half random: spread retries out without waiting close to nothing.
        let jittered = ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0);
        let delay = retry_after.map_or(jittered, |server| server.max(jittered));
        // `checked_add`: a server's `Retry-After` may be absurdly large.
        elapsed
            .checked_add(delay)
            .is_some_and(|end| end <= self.budget)
            .then_some(delay)
    }
}

/// Reads `Retry-After`: seconds (possibly fractional) or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_nan() || seconds < 0.0 {
            return None;
        }
        // Too long for a `Duration` (`1e20`, `inf`): longer than any budget, so no retry
        // waits for it.
        return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_its_ceiling() {
        let policy = RetryPolicy::default();
        for attempt in 1..5 {
            let ceiling = (policy.base_delay * (1 << (attempt - 1))).min(policy.max_delay);
            let delay = policy.next_delay(attempt, Duration::ZERO, None).unwrap();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
        assert_eq!(policy.next_delay(5, Duration::ZERO, None), None);
    }

    #[test]
    fn retry_after_is_honoured_unless_it_ends_past_the_budget() {
        let policy = RetryPolicy::default();
        let wait = policy.next_delay(1, Duration::ZERO, Some(Duration::from_secs(2)));
        assert_eq!(wait, Some(Duration::from_secs(2)));
        let too_long = policy.next_delay(1, Duration::ZERO, Some(Duration::from_secs(60)));
        assert_eq!(too_long, None);
        let late = policy.next_delay(2, Duration::from_secs(12), None);
        assert_eq!(late, None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("1e20", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("inf", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn a_huge_retry_after_ends_past_the_budget() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, Some(Duration::MAX)),
            None
        );
        assert_eq!(policy.next_delay(1, Duration::MAX, None), None);
    }

    proptest::proptest! {
        /// Whatever a model server sends as `Retry-After`, reading it and planning the next
        /// attempt never panics, and a planned wait always ends within the budget.
        #[test]
        fn any_retry_after_is_read_without_panicking(raw in "\\PC{0,40}", number in proptest::num::f64::ANY) {
            let now = Utc::now();
            let policy = RetryPolicy::default();
            for value in [raw, number.to_string(), format!("{number:e}")] {
                let parsed = parse_retry_after(&value, now);
                if let Some(delay) = policy.next_delay(1, Duration::from_secs(1), parsed) {
                    proptest::prop_assert!(Duration::from_secs(1) + delay <= policy.budget);
                }
            }
        }
    }
}
