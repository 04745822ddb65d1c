//! token::parse on arbitrary bytes: never panics, accepts exactly the documented shapes
//! `^v1\.[0-9a-zA-Z]{16}\.[0-9a-f]{64}$` and `^v2\.\{[0-9A-Za-z]{1,3}\}\.[0-9a-zA-Z]{16}\.[0-9a-f]{64}$`,
//! and what it accepts round-trips through format (format_v2); slot::of_parsed accepts a v2
//! token exactly when its tag is the tag of its own slot, and that slot is the key slot
//! clients compute; sign (sign_v2) agrees with an independent HMAC-SHA256 (reference.rs,
//! checked against RFC 4231) of the id (of the bytes before the last `.`), and verify accepts
//! exactly the signature that reference computes.
#![no_main]

#[path = "reference.rs"]
mod reference;

use libfuzzer_sys::fuzz_target;
use sessiongate::errors::Error;
use sessiongate::mac::SignState;
use sessiongate::slot;
use sessiongate::token::{self, TOKEN_LEN};

fn hex_ok(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn shape_ok(t: &[u8]) -> bool {
    if t.len() == TOKEN_LEN && t.starts_with(b"v1.") {
        return t[3..19].iter().all(u8::is_ascii_alphanumeric) && t[19] == b'.' && hex_ok(&t[20..]);
    }
    let Some(rest) = t.strip_prefix(b"v2.{") else {
        return false;
    };
    let Some(close) = rest.iter().position(|&b| b == b'}') else {
        return false;
    };
    let (tag, rest) = rest.split_at(close);
    (1..=3).contains(&tag.len())
        && tag.iter().all(u8::is_ascii_alphanumeric)
        && rest.len() == 2 + 16 + 1 + 64
        && rest.starts_with(b"}.")
        && rest[2..18].iter().all(u8::is_ascii_alphanumeric)
        && rest[18] == b'.'
        && hex_ok(&rest[19..])
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
                match &p.tag {
                    None => assert_eq!(&token::format(&p.id, &p.sig)[..], candidate),
                    Some(tag) => {
                        assert_eq!(token::format_v2(tag, &p.id, &p.sig).as_bytes(), candidate);
                        let own = slot::tag(slot::key_slot(tag.as_bytes())) == tag.as_bytes();
                        match slot::of_parsed(candidate, &p) {
                            Ok(s) => {
                                assert!(own, "accepted a tag of another slot");
                                assert_eq!(s, slot::key_slot(candidate));
                                assert_eq!(slot::tag(s), tag.as_bytes());
                            }
                            Err(e) => assert!(!own && e == Error::TokenFormat, "{e:?}"),
                        }
                    }
                }
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
        let sig_at = tok.len() - 64;
        let signed = match &p.tag {
            None => &p.id[..],
            Some(_) => &tok[..sig_at - 1],
        };
        let true_sig = reference::hmac_sha256(key, signed);
        match &p.tag {
            None => assert_eq!(token::sign(&mac, &p.id), true_sig, "sign differs from HMAC-SHA256"),
            Some(tag) => assert_eq!(token::sign_v2(&mac, tag, &p.id), true_sig, "sign_v2 differs"),
        }
        let genuine = reference::lower_hex(&true_sig).as_bytes() == &tok[sig_at..];
        assert_eq!(token::verify(&mac, &p).is_ok(), genuine);
        // The true signature of the same token, in the reference's hex, always verifies.
        let good = [&tok[..sig_at], reference::lower_hex(&true_sig).as_bytes()].concat();
        assert!(token::verify(&mac, &token::parse(&good).unwrap()).is_ok());
        if p.tag.is_none() {
            assert_eq!(&token::format(&p.id, &true_sig)[..], &good[..]);
        }
    }
});
