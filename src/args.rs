//! Validation of the plain arguments: ttl, payload name, payload data.

use crate::errors::Error;

/// A ttl in seconds: `0` or a decimal integer without sign, leading zeros or spaces (what
/// Redis' own integer parser accepts, less the negative numbers).
pub fn parse_ttl(arg: &[u8]) -> Result<i64, Error> {
    parse_seconds(arg).ok_or(Error::InvalidTtl)
}

/// A decimal integer as `parse_ttl` takes it; `None` for anything else.
pub fn parse_seconds(arg: &[u8]) -> Option<i64> {
    let digits_ok = match arg {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !digits_ok || arg.len() > 19 {
        return None;
    }
    arg.iter().try_fold(0i64, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as i64)
    })
}

/// The absolute unix time in milliseconds at which a session of `ttl` seconds started at
/// `now_ms` ends.
pub fn expire_at(now_ms: i64, ttl: i64) -> Result<i64, Error> {
    ttl.checked_mul(1000)
        .and_then(|ms| ms.checked_add(now_ms))
        .ok_or(Error::InvalidTtl)
}

pub fn check_sign_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() {
        Err(Error::EmptySignKey)
    } else {
        Ok(())
    }
}

pub fn check_new_sign_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() {
        Err(Error::EmptyNewSignKey)
    } else {
        Ok(())
    }
}

pub fn check_payload_name(name: &[u8], max: usize) -> Result<(), Error> {
    match name.len() {
        0 => Err(Error::EmptyPayloadName),
        n if n > max => Err(Error::PayloadNameTooLong { max }),
        _ => Ok(()),
    }
}

pub fn check_payload_data(data: &[u8], max: usize) -> Result<(), Error> {
    match data.len() {
        0 => Err(Error::EmptyPayloadData),
        n if n > max => Err(Error::PayloadDataTooLong { max }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_accepts_plain_decimals() {
        assert_eq!(parse_ttl(b"0"), Ok(0));
        assert_eq!(parse_ttl(b"300"), Ok(300));
        assert_eq!(parse_ttl(b"9223372036854775807"), Ok(i64::MAX));
    }

    #[test]
    fn ttl_rejects_everything_else() {
        for bad in [
            &b""[..],
            b"-1",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"1.5",
            b"1e3",
            b"0x10",
            b"abc",
            b"9223372036854775808",
            b"99999999999999999999",
            b"1\0",
        ] {
            assert_eq!(parse_ttl(bad), Err(Error::InvalidTtl), "{bad:?}");
        }
    }

    #[test]
    fn expire_at_refuses_overflow() {
        assert_eq!(expire_at(1_000, 2), Ok(3_000));
        assert_eq!(expire_at(1_700_000_000_000, 0), Ok(1_700_000_000_000));
        assert_eq!(expire_at(0, i64::MAX / 1000 + 1), Err(Error::InvalidTtl));
        assert_eq!(
            expire_at(1_700_000_000_000, i64::MAX / 1000),
            Err(Error::InvalidTtl)
        );
    }

    #[test]
    fn payload_limits() {
        assert_eq!(check_payload_name(b"", 200), Err(Error::EmptyPayloadName));
        assert_eq!(check_payload_name(&[b'n'; 200], 200), Ok(()));
        assert_eq!(
            check_payload_name(&[b'n'; 201], 200),
            Err(Error::PayloadNameTooLong { max: 200 })
        );
        assert_eq!(check_payload_data(b"", 5), Err(Error::EmptyPayloadData));
        assert_eq!(check_payload_data(b"\0", 5), Ok(()));
        assert_eq!(
            check_payload_data(b"123456", 5),
            Err(Error::PayloadDataTooLong { max: 5 })
        );
        assert_eq!(check_sign_key(b""), Err(Error::EmptySignKey));
        assert_eq!(check_sign_key(b"\0"), Ok(()));
        assert_eq!(check_new_sign_key(b""), Err(Error::EmptyNewSignKey));
        assert_eq!(check_new_sign_key(b"\xff"), Ok(()));
    }
}
