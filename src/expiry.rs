//! How a session's key is made to end at an absolute time, decided without Redis.
//!
//! Servers with `RedisModule_SetAbsExpire` (Redis 6.2.2+, Valkey) take the time itself. Redis
//! 6.0 to 6.2.1 only have `RedisModule_SetExpire(ms from now)`, where some values do not mean
//! "ms from now": -1 is `REDISMODULE_NO_EXPIRE` (the key would never end, while replicas and
//! the AOF get `PEXPIREAT`), 0 keeps the key for the current millisecond, and 6.2.2+ refuse
//! other negatives (leaving the old expiry). So a time that has come is never handed to
//! either call: the session is ended instead.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `SetAbsExpire(at_ms)`.
    At(i64),
    /// `SetExpire(ms)`, with ms ≥ 1.
    In(i64),
    /// The time has come: end the session now.
    Now,
}

/// How to make a key end at `at_ms` (Unix ms) when the time is `now_ms`, with or without
/// `SetAbsExpire`.
pub fn plan(at_ms: i64, now_ms: i64, absolute: bool) -> Expiry {
    if at_ms <= now_ms {
        Expiry::Now
    } else if absolute {
        Expiry::At(at_ms)
    } else {
        Expiry::In(at_ms.saturating_sub(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn a_future_time_is_kept() {
        assert_eq!(plan(NOW + 1, NOW, true), Expiry::At(NOW + 1));
        assert_eq!(plan(NOW + 1, NOW, false), Expiry::In(1));
        assert_eq!(plan(NOW + 3_600_000, NOW, false), Expiry::In(3_600_000));
        assert_eq!(plan(i64::MAX, NOW, false), Expiry::In(i64::MAX - NOW));
        assert_eq!(plan(i64::MAX, i64::MIN, false), Expiry::In(i64::MAX));
    }

    #[test]
    fn a_time_that_has_come_ends_the_session_on_every_server() {
        for at in [NOW, NOW - 1, NOW - 2, NOW - 1000, 0, i64::MIN] {
            assert_eq!(plan(at, NOW, true), Expiry::Now, "{at}");
            assert_eq!(plan(at, NOW, false), Expiry::Now, "{at}");
        }
    }

    #[test]
    fn set_expire_never_gets_a_value_with_another_meaning() {
        for delta in -5..=5 {
            if let Expiry::In(ms) = plan(NOW + delta, NOW, false) {
                assert!(ms >= 1, "SetExpire({ms}) for a time {delta} ms from now");
            }
        }
    }
}
