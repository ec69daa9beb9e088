//! Webhooks out: the events Nordstern announces, when a failed delivery is tried again,
//! and which network addresses a delivery may never reach.

use std::net::IpAddr;

named_enum!(
    /// What happened, as the `type` of a webhook payload.
    EventType {
        AlertRaised => "alert.raised",
        HealthColorChanged => "health.color_changed",
        TicketRouted => "ticket.routed",
        ChurnModelActivated => "churn_model.activated",
        AccountErased => "account.erased",
    }
);

named_enum!(
    /// Where a delivery stands: waiting for its next attempt, answered 2xx, or past its
    /// retry window without a 2xx.
    DeliveryStatus {
        Pending => "PENDING",
        Delivered => "DELIVERED",
        Dead => "DEAD",
    }
);

named_enum!(
    /// What a subscription's receiver reads: `{"type", "timestamp", "data"}`, or
    /// `{"text": …}` for Slack-compatible incoming webhooks.
    PayloadFormat {
        Standard => "STANDARD",
        Slack => "SLACK",
    }
);

/// First retry delay; each further one doubles, up to [`MAX_RETRY_DELAY_SECS`].
pub const FIRST_RETRY_DELAY_SECS: i64 = 5;
pub const MAX_RETRY_DELAY_SECS: i64 = 3_600;

/// When a delivery that failed its `attempts`-th attempt (from 1) at `now` is tried next,
/// or `None` when that would be after `give_up_at`: the delivery is dead. Delays double
/// from 5 s to at most an hour, so a receiver down for a day is tried about 30 times.
pub fn next_attempt_at(attempts: u32, now: i64, give_up_at: i64) -> Option<i64> {
    let doublings = attempts.saturating_sub(1).min(20);
    let delay = (FIRST_RETRY_DELAY_SECS << doublings).min(MAX_RETRY_DELAY_SECS);
    let next = now.saturating_add(delay * 1_000_000);
    (next <= give_up_at).then_some(next)
}

/// Whether `ip` is on the public internet. Loopback, private, link-local (cloud metadata
/// lives there), carrier-grade NAT, unique-local, multicast, documentation and
/// unspecified addresses are not: a webhook URL must not reach into our own network
/// unless configuration allows that host.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Which way a health colour moved.
pub fn color_direction(from: &str, to: &str) -> &'static str {
    let rank = |color: &str| match color {
        "RED" => 0,
        "YELLOW" => 1,
        "GREEN" => 2,
        _ => -1,
    };
    if rank(to) < rank(from) {
        "worse"
    } else {
        "better"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600 * 1_000_000;

    #[test]
    fn retries_double_up_to_an_hour_and_stop_after_the_window() {
        let start = 0;
        let give_up = start + 24 * HOUR;
        assert_eq!(next_attempt_at(1, start, give_up), Some(5_000_000));
        assert_eq!(next_attempt_at(2, start, give_up), Some(10_000_000));
        assert_eq!(next_attempt_at(12, start, give_up), Some(HOUR));
        assert_eq!(next_attempt_at(40, start, give_up), Some(HOUR));
        assert_eq!(next_attempt_at(3, give_up - 1, give_up), None);
        // Over a day, a receiver that never answers is tried a bounded number of times.
        let (mut now, mut attempts) = (start, 1);
        while let Some(next) = next_attempt_at(attempts, now, give_up) {
            now = next;
            attempts += 1;
        }
        assert!((25..=40).contains(&attempts), "{attempts}");
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let ip: IpAddr = internal.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
            assert!(!is_public(ip), "{internal}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            let ip: IpAddr = public.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
            assert!(is_public(ip), "{public}");
        }
    }

    #[test]
    fn colour_direction() {
        assert_eq!(color_direction("GREEN", "RED"), "worse");
        assert_eq!(color_direction("RED", "YELLOW"), "better");
    }

    proptest! {
        #[test]
        fn a_retry_is_never_before_now_nor_after_the_window(attempts in 1u32..100, now in 0i64..1_000_000_000_000, window in 0i64..100_000_000_000) {
            if let Some(next) = next_attempt_at(attempts, now, now + window) {
                prop_assert!(next > now && next <= now + window);
            }
        }
    }
}
