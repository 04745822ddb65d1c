//! token::parse on arbitrary bytes: never panics, accepts exactly the documented shape
//! `^v1\.[0-9a-zA-Z]{16}\.[0-9a-f]{64}$`, and what it accepts round-trips through format;
//! verify never panics and accepts only the true signature.
#![no_main]

use hmac::Mac;
use libfuzzer_sys::fuzz_target;
use sessiongate::errors::Error;
use sessiongate::token::{self, HmacSha256, TOKEN_LEN};

fn shape_ok(t: &[u8]) -> bool {
    t.len() == TOKEN_LEN
        && t.starts_with(b"v1.")
        && t[3..19].iter().all(u8::is_ascii_alphanumeric)
        && t[19] == b'.'
        && t[20..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fuzz_target!(|data: &[u8]| {
    // The first byte splits a sign key off the input, so verify sees varied keys too.
    let (key, tok) = match data.split_first() {
        Some((&n, rest)) if (n as usize) <= rest.len() => rest.split_at(n as usize),
        _ => (&b"k"[..], data),
    };
    for candidate in [data, tok] {
        match token::parse(candidate) {
            Ok(p) => {
                assert!(shape_ok(candidate), "accepted a malformed token");
                assert_eq!(&token::format(&p.id, &p.sig)[..], candidate);
            }
            Err(Error::EmptyToken) => assert!(candidate.is_empty()),
            Err(Error::TokenFormat) => {
                assert!(
                    !candidate.is_empty() && !shape_ok(candidate),
                    "refused a valid shape"
                )
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    if key.is_empty() {
        return;
    }
    let mac = HmacSha256::new_from_slice(key).unwrap();
    if let Ok(p) = token::parse(tok) {
        let genuine = token::sign(&mac, &p.id) == p.sig;
        assert_eq!(token::verify(&mac, &p).is_ok(), genuine);
        // The genuine signature of the same id always verifies.
        let good = token::format(&p.id, &token::sign(&mac, &p.id));
        assert!(token::verify(&mac, &token::parse(&good).unwrap()).is_ok());
    }
});
