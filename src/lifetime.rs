//! The absolute lifetime cap (START's `max_lifetime`) and the session's meta field.
//!
//! The meta field (the hash field `""`) holds the sign key's fingerprint: exactly those 16 bytes
//! for a session without a cap (every session stored before the cap existed is one), and 24
//! bytes for a capped session: the fingerprint, then the deadline in Unix milliseconds as 8
//! bytes big-endian.

use crate::args;
use crate::errors::Error;
use crate::keycache::FINGERPRINT_LEN;

pub const CAPPED_META_LEN: usize = FINGERPRINT_LEN + 8;

/// `max_lifetime`: whole seconds, at least 1, written as `parse_ttl` takes a ttl.
pub fn parse_max_lifetime(arg: &[u8]) -> Result<i64, Error> {
    match args::parse_seconds(arg) {
        Some(s) if s >= 1 => Ok(s),
        _ => Err(Error::InvalidMaxLifetime),
    }
}

/// The absolute deadline, in Unix milliseconds, of a session started at `now_ms` with a cap of
/// `max_lifetime` seconds.
pub fn deadline(now_ms: i64, max_lifetime: i64) -> Result<i64, Error> {
    max_lifetime
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(now_ms))
        .ok_or(Error::InvalidMaxLifetime)
}

/// The expiry to set: the one asked for, but never past the deadline.
pub fn capped(expire_at_ms: i64, deadline: Option<i64>) -> i64 {
    deadline.map_or(expire_at_ms, |d| expire_at_ms.min(d))
}

/// A new session's end and deadline (START, STARTFOR): `ttl` seconds from `now_ms`, held to the
/// deadline `max_lifetime` seconds from it when that argument is given.
pub fn new_session_end(
    now_ms: i64,
    ttl: i64,
    max_lifetime: Option<&[u8]>,
) -> Result<(i64, Option<i64>), Error> {
    let expire_at = args::expire_at(now_ms, ttl)?;
    let deadline = match max_lifetime {
        Some(arg) => Some(deadline(now_ms, parse_max_lifetime(arg)?)?),
        None => None,
    };
    Ok((capped(expire_at, deadline), deadline))
}

/// A session's expiry (None: it has none) held to its deadline: RENEW's new expiry, whatever
/// was done to the key natively (a PERSIST, a later EXPIRE) since.
pub fn capped_expiry(expire_at_ms: Option<i64>, deadline: Option<i64>) -> Option<i64> {
    match (expire_at_ms, deadline) {
        (at, None) => at,
        (None, Some(d)) => Some(d),
        (Some(at), Some(d)) => Some(at.min(d)),
    }
}

/// The bytes of a meta field.
pub struct Meta {
    bytes: [u8; CAPPED_META_LEN],
    len: usize,
}

impl Meta {
    pub fn new(fingerprint: &[u8; FINGERPRINT_LEN], deadline: Option<i64>) -> Meta {
        let mut bytes = [0u8; CAPPED_META_LEN];
        bytes[..FINGERPRINT_LEN].copy_from_slice(fingerprint);
        let len = match deadline {
            Some(d) => {
                bytes[FINGERPRINT_LEN..].copy_from_slice(&d.to_be_bytes());
                CAPPED_META_LEN
            }
            None => FINGERPRINT_LEN,
        };
        Meta { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A stored meta field: its fingerprint and deadline; `None` when it is neither 16 nor 24
/// bytes, or holds a negative deadline (not a field this module wrote).
pub fn decode(meta: &[u8]) -> Option<(&[u8], Option<i64>)> {
    match meta.len() {
        FINGERPRINT_LEN => Some((meta, None)),
        CAPPED_META_LEN => {
            let (fp, d) = meta.split_at(FINGERPRINT_LEN);
            let d = i64::from_be_bytes(d.try_into().ok()?);
            (d >= 0).then_some((fp, Some(d)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn a_new_session_ends_at_its_ttl_held_to_its_deadline() {
        let now = 1_000_000;
        assert_eq!(new_session_end(now, 60, None), Ok((now + 60_000, None)));
        assert_eq!(
            new_session_end(now, 60, Some(b"30")),
            Ok((now + 30_000, Some(now + 30_000)))
        );
        assert_eq!(
            new_session_end(now, 60, Some(b"90")),
            Ok((now + 60_000, Some(now + 90_000)))
        );
        assert_eq!(
            new_session_end(now, 60, Some(b"0")),
            Err(Error::InvalidMaxLifetime)
        );
        assert_eq!(
            new_session_end(now, 60, Some(b"9223372036854775807")),
            Err(Error::InvalidMaxLifetime)
        );
        assert_eq!(
            new_session_end(now, i64::MAX, Some(b"0")),
            Err(Error::InvalidTtl),
            "the ttl's error comes first"
        );
    }

    #[test]
    fn max_lifetime_is_a_positive_integer() {
        assert_eq!(parse_max_lifetime(b"1"), Ok(1));
        assert_eq!(parse_max_lifetime(b"86400"), Ok(86400));
        assert_eq!(
            parse_max_lifetime(b"9223372036854775807"),
            Ok(i64::MAX),
            "parses; the deadline then overflows"
        );
        for bad in [
            &b""[..],
            b"0",
            b"-1",
            b"-0",
            b"+5",
            b"01",
            b" 5",
            b"5 ",
            b"1.5",
            b"1e3",
            b"abc",
            b"9223372036854775808",
            b"5\0",
        ] {
            assert_eq!(
                parse_max_lifetime(bad),
                Err(Error::InvalidMaxLifetime),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deadline_arithmetic_and_overflow() {
        assert_eq!(deadline(1_000, 2), Ok(3_000));
        assert_eq!(deadline(1_700_000_000_000, 3600), Ok(1_700_003_600_000));
        let largest = (i64::MAX - 1_700_000_000_000) / 1000;
        assert_eq!(
            deadline(1_700_000_000_000, largest),
            Ok(1_700_000_000_000 + largest * 1000)
        );
        assert_eq!(
            deadline(1_700_000_000_000, largest + 1),
            Err(Error::InvalidMaxLifetime)
        );
        assert_eq!(
            deadline(0, i64::MAX / 1000 + 1),
            Err(Error::InvalidMaxLifetime)
        );
        assert_eq!(deadline(0, i64::MAX), Err(Error::InvalidMaxLifetime));
    }

    #[test]
    fn the_cap_wins_only_when_earlier() {
        assert_eq!(capped(5_000, None), 5_000);
        assert_eq!(capped(5_000, Some(9_000)), 5_000);
        assert_eq!(capped(5_000, Some(5_000)), 5_000);
        assert_eq!(capped(5_000, Some(4_999)), 4_999);
        assert_eq!(capped(i64::MAX, Some(0)), 0);
    }

    #[test]
    fn a_renewed_expiry_never_passes_the_deadline() {
        assert_eq!(capped_expiry(None, None), None);
        assert_eq!(capped_expiry(Some(5_000), None), Some(5_000));
        assert_eq!(capped_expiry(None, Some(9_000)), Some(9_000), "persisted");
        assert_eq!(capped_expiry(Some(5_000), Some(9_000)), Some(5_000));
        assert_eq!(capped_expiry(Some(9_001), Some(9_000)), Some(9_000));
    }

    #[test]
    fn meta_of_an_uncapped_session_is_the_bare_fingerprint() {
        let m = Meta::new(&FP, None);
        assert_eq!(m.as_bytes(), &FP);
        assert_eq!(decode(m.as_bytes()), Some((&FP[..], None)));
    }

    #[test]
    fn meta_of_a_capped_session_appends_the_deadline_big_endian() {
        let d = 1_700_000_000_123i64;
        let m = Meta::new(&FP, Some(d));
        assert_eq!(m.as_bytes().len(), 24);
        assert_eq!(&m.as_bytes()[..16], &FP);
        // 1_700_000_000_123 = 0x0000_018B_CFE5_687B
        assert_eq!(
            &m.as_bytes()[16..],
            &[0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b]
        );
        assert_eq!(decode(m.as_bytes()), Some((&FP[..], Some(d))));
        for d in [0, 1, i64::MAX] {
            assert_eq!(
                decode(Meta::new(&FP, Some(d)).as_bytes()),
                Some((&FP[..], Some(d)))
            );
        }
    }

    #[test]
    fn other_meta_fields_are_not_ours() {
        for bad in [
            &b""[..],
            &FP[..15],
            &[FP.as_slice(), b"x"].concat(),
            &[0u8; 23],
            &[0u8; 25],
        ] {
            assert_eq!(decode(bad), None, "{} bytes", bad.len());
        }
        let negative = [&FP[..], &(-1i64).to_be_bytes()].concat();
        assert_eq!(decode(&negative), None);
    }
}
