//! A token bucket in the GCRA form (generic cell rate algorithm): one instant per bucket,
//! the "theoretical arrival time" of the next request, instead of a token count and a
//! refill timer. A request is admitted while that instant is no more than the burst
//! allowance ahead of now. Time comes in as nanoseconds, so the rule is testable with
//! plain numbers.

/// How many requests a caller may make: `per_second` on average, and up to `burst` at
/// once after a quiet period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; `remaining` more requests would be admitted right now.
    Allowed { remaining: u32 },
    /// Refused; the first request admitted again comes after `retry_after_nanos`.
    Limited { retry_after_nanos: u64 },
}

impl RateLimit {
    /// Nanoseconds between two requests at the sustained rate.
    fn interval_nanos(self) -> u64 {
        1_000_000_000 / u64::from(self.per_second.max(1))
    }

    /// How far ahead of now the bucket's next arrival time may run: `burst - 1` intervals
    /// (a burst of 1 admits one request per interval and nothing more).
    fn tolerance_nanos(self) -> u64 {
        self.interval_nanos() * u64::from(self.burst.max(1) - 1)
    }
}

/// One caller's bucket: the theoretical arrival time of its next request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    next_arrival_nanos: u64,
}

impl Bucket {
    /// Decides on a request arriving at `now_nanos` (a monotonic clock) and, when it is
    /// admitted, takes its share of the bucket.
    pub fn check(&mut self, limit: RateLimit, now_nanos: u64) -> Decision {
        let interval = limit.interval_nanos();
        let tolerance = limit.tolerance_nanos();
        let arrival = self.next_arrival_nanos.max(now_nanos);
        let allowed_from = arrival.saturating_sub(tolerance);
        if now_nanos < allowed_from {
            return Decision::Limited {
                retry_after_nanos: allowed_from - now_nanos,
            };
        }
        self.next_arrival_nanos = arrival + interval;
        let headroom = (now_nanos + tolerance).saturating_sub(arrival);
        Decision::Allowed {
            remaining: u32::try_from(headroom / interval).unwrap_or(u32::MAX),
        }
    }

    /// True once the bucket is full again, so a table of buckets can forget it.
    pub fn is_idle(&self, now_nanos: u64) -> bool {
        self.next_arrival_nanos <= now_nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_full_bucket_admits_the_burst_then_one_per_interval() {
        let limit = RateLimit {
            per_second: 10,
            burst: 3,
        };
        let mut bucket = Bucket::default();
        let start = 5 * SECOND;
        assert_eq!(
            bucket.check(limit, start),
            Decision::Allowed { remaining: 2 }
        );
        assert_eq!(
            bucket.check(limit, start),
            Decision::Allowed { remaining: 1 }
        );
        assert_eq!(
            bucket.check(limit, start),
            Decision::Allowed { remaining: 0 }
        );
        assert_eq!(
            bucket.check(limit, start),
            Decision::Limited {
                retry_after_nanos: SECOND / 10
            }
        );
        assert!(matches!(
            bucket.check(limit, start + SECOND / 10),
            Decision::Allowed { remaining: 0 }
        ));
        assert!(!bucket.is_idle(start + SECOND / 10));
        assert!(bucket.is_idle(start + SECOND));
    }

    #[test]
    fn a_refusal_takes_nothing_from_the_bucket() {
        let limit = RateLimit {
            per_second: 1,
            burst: 1,
        };
        let mut bucket = Bucket::default();
        assert!(matches!(bucket.check(limit, 0), Decision::Allowed { .. }));
        for _ in 0..100 {
            assert!(matches!(
                bucket.check(limit, SECOND / 2),
                Decision::Limited { .. }
            ));
        }
        assert!(matches!(
            bucket.check(limit, SECOND),
            Decision::Allowed { .. }
        ));
    }

    proptest! {
        /// Over any window and any arrival pattern, no more than burst + rate × window
        /// requests are admitted: the bound the rate-limit tests and the README promise.
        #[test]
        fn admitted_requests_never_exceed_burst_plus_rate_times_window(
            per_second in 1u32..500,
            burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..20_000_000, 1..2_000),
        ) {
            let limit = RateLimit { per_second, burst };
            let mut bucket = Bucket::default();
            let mut now = SECOND;
            let mut admitted = 0u64;
            for gap in &gaps {
                now += gap;
                if matches!(bucket.check(limit, now), Decision::Allowed { .. }) {
                    admitted += 1;
                }
            }
            let window = now - SECOND;
            let bound = u64::from(burst) + (window * u64::from(per_second)).div_ceil(SECOND);
            prop_assert!(admitted <= bound, "{admitted} > {bound}");
        }

        /// Retry-after is honest: waiting exactly that long gets the request admitted.
        #[test]
        fn waiting_the_retry_after_is_enough(
            per_second in 1u32..1_000,
            burst in 1u32..20,
            extra in 0u32..40,
        ) {
            let limit = RateLimit { per_second, burst };
            let mut bucket = Bucket::default();
            let now = SECOND;
            for _ in 0..(burst + extra) {
                bucket.check(limit, now);
            }
            if let Decision::Limited { retry_after_nanos } = bucket.check(limit, now) {
                prop_assert!(
                    matches!(bucket.check(limit, now + retry_after_nanos), Decision::Allowed { .. }),
                    "still limited after the announced wait"
                );
            }
        }
    }
}
