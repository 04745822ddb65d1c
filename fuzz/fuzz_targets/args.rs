//! Argument validation on arbitrary bytes: parse_ttl accepts exactly `0` or digits without a
//! leading zero that fit an i64 and agrees with std's parser; expire_at is now + ttl seconds
//! in milliseconds, computed here in 128-bit arithmetic, and refuses exactly what leaves the
//! i64 range; check_payload_* agree with the documented length limits, and check_sign_key and
//! check_new_sign_key (RENEW's new key) refuse exactly the empty key, each with its own error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiongate::args;
use sessiongate::errors::{Error, DEFAULT_MAX_PAYLOAD_DATA, DEFAULT_MAX_PAYLOAD_NAME};

fuzz_target!(|data: &[u8]| {
    let ttl = args::parse_ttl(data);
    let canonical = !data.is_empty()
        && data.iter().all(u8::is_ascii_digit)
        && (data == b"0" || data[0] != b'0');
    let std_parse = std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    match &ttl {
        &Ok(n) => {
            assert!(canonical, "accepted a non-canonical ttl");
            assert_eq!(Some(n), std_parse);
            assert!(n >= 0);
        }
        Err(e) => {
            assert_eq!(*e, Error::InvalidTtl);
            assert!(!canonical || std_parse.is_none(), "refused a valid ttl");
        }
    }
    if let (&Ok(n), Some(now)) = (&ttl, data.get(..8)) {
        // A clock reading: unix milliseconds, never negative.
        let now = (u64::from_le_bytes(now.try_into().unwrap()) >> 1) as i64;
        let exact = now as i128 + n as i128 * 1000;
        let fits = (i64::MIN as i128..=i64::MAX as i128).contains(&exact);
        match args::expire_at(now, n) {
            Ok(at) => assert!(fits && at as i128 == exact, "{now} + {n} s gave {at}"),
            Err(e) => {
                assert_eq!(e, Error::InvalidTtl);
                assert!(!fits, "{now} + {n} s refused, yet it is {exact}");
            }
        }
    }
    // Lengths around every limit, from the input's own length and a max taken from it.
    let max = data.first().map_or(0, |&b| b as usize);
    for (m, name_max) in [
        (max, max),
        (DEFAULT_MAX_PAYLOAD_NAME, DEFAULT_MAX_PAYLOAD_NAME),
    ] {
        match args::check_payload_name(data, name_max) {
            Ok(()) => assert!(!data.is_empty() && data.len() <= m),
            Err(Error::EmptyPayloadName) => assert!(data.is_empty()),
            Err(Error::PayloadNameTooLong { max }) => {
                assert_eq!(max, m);
                assert!(data.len() > m)
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    for m in [max, DEFAULT_MAX_PAYLOAD_DATA] {
        match args::check_payload_data(data, m) {
            Ok(()) => assert!(!data.is_empty() && data.len() <= m),
            Err(Error::EmptyPayloadData) => assert!(data.is_empty()),
            Err(Error::PayloadDataTooLong { max }) => {
                assert_eq!(max, m);
                assert!(data.len() > m)
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(args::check_sign_key(data).is_ok(), !data.is_empty());
    match args::check_new_sign_key(data) {
        Ok(()) => assert!(!data.is_empty()),
        Err(e) => {
            assert_eq!(e, Error::EmptyNewSignKey);
            assert!(data.is_empty(), "refused a new sign key of {} bytes", data.len());
        }
    }
    // Every error renders to a non-empty reply without a line break (a RESP error line).
    for e in [
        ttl.err(),
        args::check_payload_name(data, max).err(),
        args::check_payload_data(data, max).err(),
        args::check_new_sign_key(data).err(),
    ]
    .into_iter()
    .flatten()
    {
        let m = e.message();
        assert!(!m.is_empty() && !m.contains('\r') && !m.contains('\n'));
    }
});
