//! token::parse on arbitrary bytes: never panics, accepts exactly the documented shape
//! `^v1\.[0-9a-zA-Z]{16}\.[0-9a-f]{64}$`, and what it accepts round-trips through format;
//! sign agrees with an independent HMAC-SHA256 (reference.rs, checked against RFC 4231), and
//! verify accepts exactly the signature that reference computes.
#![no_main]

#[path = "reference.rs"]
mod reference;

use libfuzzer_sys::fuzz_target;
use sessiongate::errors::Error;
use sessiongate::mac::SignState;
use sessiongate::token::{self, TOKEN_LEN};

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
    reference::check_rfc4231();
    let mac = SignState::new(key);
    if let Ok(p) = token::parse(tok) {
        let true_sig = reference::hmac_sha256(key, &p.id);
        assert_eq!(token::sign(&mac, &p.id), true_sig, "sign differs from HMAC-SHA256");
        let genuine = reference::lower_hex(&true_sig).as_bytes() == &tok[20..];
        assert_eq!(token::verify(&mac, &p).is_ok(), genuine);
        // The true signature of the same id, in the reference's hex, always verifies.
        let good = [&tok[..20], reference::lower_hex(&true_sig).as_bytes()].concat();
        assert!(token::verify(&mac, &token::parse(&good).unwrap()).is_ok());
        assert_eq!(&token::format(&p.id, &true_sig)[..], &good[..]);
    }
});
