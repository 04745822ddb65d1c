//! Tokens: `v1.<id>.<sig>`, where `<id>` is 16 characters of `[a-zA-Z0-9]` and `<sig>` the
//! lowercase hex of HMAC-SHA256(sign_key, id).

use rand::RngCore;

use crate::errors::Error;
use crate::mac::SignState;

pub const ID_LEN: usize = 16;
pub const SIG_LEN: usize = 32;
const PREFIX: &[u8] = b"v1.";
const SIG_START: usize = PREFIX.len() + ID_LEN + 1;
pub const TOKEN_LEN: usize = SIG_START + 2 * SIG_LEN;

/// The id alphabet of the C module, in its order.
pub const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

pub type Id = [u8; ID_LEN];
pub type Token = [u8; TOKEN_LEN];

/// Draws an id whose characters are uniform over the alphabet: each random byte gives six bits,
/// and values 62 and 63 are thrown away rather than folded onto others.
pub fn generate_id(rng: &mut impl RngCore) -> Id {
    let mut id = [0u8; ID_LEN];
    let mut filled = 0;
    let mut pool = [0u8; 32];
    while filled < ID_LEN {
        rng.fill_bytes(&mut pool);
        for b in pool {
            let six = (b >> 2) as usize;
            if six < ALPHABET.len() {
                id[filled] = ALPHABET[six];
                filled += 1;
                if filled == ID_LEN {
                    break;
                }
            }
        }
    }
    id
}

/// `mac` is the sign key's precomputed HMAC schedule (see `mac`).
pub fn sign(mac: &SignState, id: &Id) -> [u8; SIG_LEN] {
    let mut sig = [0u8; SIG_LEN];
    mac.sign_into(id, &mut sig);
    sig
}

pub fn format(id: &Id, sig: &[u8; SIG_LEN]) -> Token {
    let mut t = [0u8; TOKEN_LEN];
    t[..PREFIX.len()].copy_from_slice(PREFIX);
    t[PREFIX.len()..PREFIX.len() + ID_LEN].copy_from_slice(id);
    t[SIG_START - 1] = b'.';
    hex::encode_to_slice(sig, &mut t[SIG_START..]).expect("buffer has the exact hex length");
    t
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub id: Id,
    pub sig: [u8; SIG_LEN],
}

pub fn parse(token: &[u8]) -> Result<Parsed, Error> {
    if token.is_empty() {
        return Err(Error::EmptyToken);
    }
    if token.len() != TOKEN_LEN
        || !token.starts_with(PREFIX)
        || token[SIG_START - 1] != b'.'
        || !token[PREFIX.len()..SIG_START - 1]
            .iter()
            .all(u8::is_ascii_alphanumeric)
    {
        return Err(Error::TokenFormat);
    }
    let mut sig = [0u8; SIG_LEN];
    // Decode every pair, and check once at the end: no branch per character.
    let mut bad = 0u8;
    for (out, pair) in sig.iter_mut().zip(token[SIG_START..].chunks_exact(2)) {
        let (hi, lo) = (LOWER_HEX[pair[0] as usize], LOWER_HEX[pair[1] as usize]);
        bad |= hi | lo;
        *out = (hi << 4) | (lo & 0x0f);
    }
    if bad & INVALID != 0 {
        return Err(Error::TokenFormat);
    }
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&token[PREFIX.len()..SIG_START - 1]);
    Ok(Parsed { id, sig })
}

const INVALID: u8 = 0x80;

/// Lowercase hex digit -> its value; every other byte -> `INVALID`.
const LOWER_HEX: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Constant-time check of the token's signature against the sign key.
pub fn verify(mac: &SignState, parsed: &Parsed) -> Result<(), Error> {
    if mac.verify(&parsed.id, &parsed.sig) {
        Ok(())
    } else {
        Err(Error::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn mac(key: &[u8]) -> SignState {
        SignState::new(key)
    }

    #[test]
    fn token_is_84_bytes_of_the_documented_shape() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let id = generate_id(&mut rng);
            let t = format(&id, &sign(&mac(b"k"), &id));
            assert_eq!(t.len(), 84);
            assert!(t.starts_with(b"v1."));
            assert_eq!(t[19], b'.');
            assert!(t[3..19].iter().all(u8::is_ascii_alphanumeric));
            assert!(t[20..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
            assert_eq!(parse(&t).unwrap().id, id);
        }
    }

    #[test]
    fn signature_matches_rfc4231_style_vector() {
        // HMAC-SHA256(key = "key", msg = "The quick brown fox jumps over the lazy dog")
        let mut sig = [0u8; SIG_LEN];
        mac(b"key").sign_into(b"The quick brown fox jumps over the lazy dog", &mut sig);
        assert_eq!(
            hex::encode(sig),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        // And through the token path: id "abcdefghijklmnop" under key "qwerty",
        // cross-checked with `printf abcdefghijklmnop | openssl dgst -sha256 -hmac qwerty`.
        let id = *b"abcdefghijklmnop";
        let t = format(&id, &sign(&mac(b"qwerty"), &id));
        assert_eq!(
            std::str::from_utf8(&t).unwrap(),
            "v1.abcdefghijklmnop.40e494757241a7b4dd348fa60fd085121014c9e4fd16cdc17adc8f7475adfa21"
        );
    }

    #[test]
    fn ids_are_uniform_over_the_alphabet() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut counts = [0u32; 62];
        let draws = 62 * 2000 / ID_LEN;
        for _ in 0..draws {
            for c in generate_id(&mut rng) {
                counts[ALPHABET.iter().position(|&a| a == c).unwrap()] += 1;
            }
        }
        let n = (draws * ID_LEN) as f64;
        let expected = n / 62.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        // 61 degrees of freedom: p = 0.0001 at about 110.
        assert!(chi2 < 110.0, "chi2 {chi2}, counts {counts:?}");
    }

    #[test]
    fn verify_accepts_own_and_rejects_other_keys() {
        let id = *b"0123456789abcdef";
        let t = format(&id, &sign(&mac(b"app-a"), &id));
        let p = parse(&t).unwrap();
        assert_eq!(verify(&mac(b"app-a"), &p), Ok(()));
        assert_eq!(verify(&mac(b"app-b"), &p), Err(Error::BadSignature));
        let mut tampered = p;
        tampered.sig[31] ^= 1;
        assert_eq!(verify(&mac(b"app-a"), &tampered), Err(Error::BadSignature));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let id = *b"0123456789abcdef";
        let good = format(&id, &sign(&mac(b"k"), &id));
        assert_eq!(parse(b""), Err(Error::EmptyToken));
        let mut cases: Vec<Vec<u8>> = vec![
            b"x".to_vec(),
            good[..83].to_vec(),
            [&good[..], b"0"].concat(),
            [b"v2", &good[2..]].concat(),
            [b"V1", &good[2..]].concat(),
            [b"v1-", &good[3..]].concat(),
        ];
        for (pos, bad) in [
            (5, b'-'),
            (5, 0),
            (5, 0xff),
            (5, b'{'),
            (19, b'-'),
            (20, b'A'),
            (83, b'g'),
            (40, b' '),
        ] {
            let mut t = good.to_vec();
            t[pos] = bad;
            cases.push(t);
        }
        for c in cases {
            assert_eq!(
                parse(&c),
                Err(Error::TokenFormat),
                "{:?}",
                String::from_utf8_lossy(&c)
            );
        }
        assert!(parse(&good).is_ok());
    }
}
