//! The absolute cap on arbitrary bytes.
//! - `lifetime::decode` reads the meta field `""`, which anyone with HSET can write: it never
//!   panics, accepts exactly 16 bytes (no cap) or 24 bytes whose deadline is not negative, and
//!   what it accepts is what `Meta::new` writes for that fingerprint and deadline.
//! - `parse_max_lifetime` accepts exactly the canonical integers from 1 that fit an i64 (std's
//!   parser agrees); `deadline` is now + max_lifetime seconds in milliseconds, computed here in
//!   128-bit arithmetic, refusing exactly what leaves the i64 range; `capped` is the earlier of
//!   an expiry and the deadline, so no EXPIRE or RENEW ever sets an end past the deadline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiongate::errors::Error;
use sessiongate::lifetime::{self, Meta, CAPPED_META_LEN};

const FP_LEN: usize = 16;

fuzz_target!(|data: &[u8]| {
    match lifetime::decode(data) {
        Some((fp, deadline)) => {
            assert_eq!(fp, &data[..FP_LEN]);
            match deadline {
                None => assert_eq!(data.len(), FP_LEN),
                Some(d) => {
                    assert_eq!(data.len(), CAPPED_META_LEN);
                    assert!(d >= 0, "a negative deadline accepted");
                    assert_eq!(d.to_be_bytes(), data[FP_LEN..]);
                }
            }
            let fp: &[u8; FP_LEN] = fp.try_into().unwrap();
            assert_eq!(Meta::new(fp, deadline).as_bytes(), data, "decode and Meta disagree");
        }
        None => assert!(
            data.len() != FP_LEN
                && (data.len() != CAPPED_META_LEN || data[FP_LEN] & 0x80 != 0),
            "refused a field Meta::new writes"
        ),
    }

    let parsed = lifetime::parse_max_lifetime(data);
    let canonical =
        !data.is_empty() && data[0] != b'0' && data.iter().all(u8::is_ascii_digit);
    let std_parse = std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    match &parsed {
        &Ok(n) => {
            assert!(canonical && n >= 1, "accepted {data:?}");
            assert_eq!(Some(n), std_parse);
        }
        Err(e) => {
            assert_eq!(*e, Error::InvalidMaxLifetime);
            assert!(!canonical || std_parse.is_none(), "refused {data:?}");
        }
    }

    // A clock reading (never negative), a cap and an expiry taken from the input.
    let Some(bytes) = data.get(..24) else { return };
    let word = |i: usize| i64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    let now = word(0) & i64::MAX;
    let max_lifetime = parsed.unwrap_or(word(8) & i64::MAX).max(1);
    let expire_at = word(16);
    let exact = now as i128 + max_lifetime as i128 * 1000;
    let deadline = match lifetime::deadline(now, max_lifetime) {
        Ok(d) => {
            assert_eq!(d as i128, exact, "{now} + {max_lifetime} s");
            Some(d)
        }
        Err(e) => {
            assert_eq!(e, Error::InvalidMaxLifetime);
            assert!(exact > i64::MAX as i128, "{now} + {max_lifetime} s refused");
            None
        }
    };
    let end = lifetime::capped(expire_at, deadline);
    assert!(end <= expire_at);
    match deadline {
        Some(d) => assert_eq!(end, expire_at.min(d)),
        None => assert_eq!(end, expire_at),
    }
});
