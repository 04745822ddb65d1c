//! Tokens: `v1.<id>.<sig>`, where `<id>` is 16 characters of `[a-zA-Z0-9]` and `<sig>` the
//! lowercase hex of HMAC-SHA256(sign_key, id); and an owned session's `v2.{<tag>}.<id>.<sig>`,
//! where `<tag>` is 1 to 3 characters of `[0-9A-Za-z]` (the slot tag of the owner's hash slot,
//! checked by `slot::of_parsed`) and `<sig>` signs every byte before the last `.`.

use rand::RngCore;

use crate::errors::Error;
use crate::mac::SignState;

pub const ID_LEN: usize = 16;
pub const SIG_LEN: usize = 32;
const PREFIX: &[u8] = b"v1.";
const SIG_START: usize = PREFIX.len() + ID_LEN + 1;
pub const TOKEN_LEN: usize = SIG_START + 2 * SIG_LEN;
const PREFIX_V2: &[u8] = b"v2.{";
/// The longest slot tag (`slot` checks it has the same bound).
pub const MAX_TAG_LEN: usize = 3;
/// `v2.{` + tag + `}.` + id + `.` + signature.
const V2_FIXED_LEN: usize = PREFIX_V2.len() + 2 + ID_LEN + 1 + 2 * SIG_LEN;
pub const MAX_V2_TOKEN_LEN: usize = V2_FIXED_LEN + MAX_TAG_LEN;

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

/// The slot tag of a v2 token: 1 to `MAX_TAG_LEN` characters of `[0-9A-Za-z]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    len: u8,
    bytes: [u8; MAX_TAG_LEN],
}

impl Tag {
    /// `None` unless `tag` has the shape of a slot tag.
    pub fn new(tag: &[u8]) -> Option<Tag> {
        if tag.is_empty() || tag.len() > MAX_TAG_LEN || !tag.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut bytes = [0u8; MAX_TAG_LEN];
        bytes[..tag.len()].copy_from_slice(tag);
        Some(Tag {
            len: tag.len() as u8,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The signature of an owned session's token `v2.{<tag>}.<id>`: HMAC-SHA256 of those bytes.
pub fn sign_v2(mac: &SignState, tag: &Tag, id: &Id) -> [u8; SIG_LEN] {
    let mut buf = [0u8; V2_SIGNED_MAX];
    let mut sig = [0u8; SIG_LEN];
    mac.sign_into(v2_signed(tag, id, &mut buf), &mut sig);
    sig
}

/// The longest `v2.{<tag>}.<id>`.
const V2_SIGNED_MAX: usize = PREFIX_V2.len() + MAX_TAG_LEN + 2 + ID_LEN;

/// The bytes a v2 signature signs, `v2.{<tag>}.<id>`, written into `buf`.
fn v2_signed<'b>(tag: &Tag, id: &Id, buf: &'b mut [u8; V2_SIGNED_MAX]) -> &'b [u8] {
    let mut n = 0;
    for part in [PREFIX_V2, tag.as_bytes(), b"}.", id] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    &buf[..n]
}

/// An owned session's token, `v2.{<tag>}.<id>.<sig>` (88 to 90 bytes).
pub struct TokenV2 {
    bytes: [u8; MAX_V2_TOKEN_LEN],
    len: usize,
}

impl TokenV2 {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

pub fn format_v2(tag: &Tag, id: &Id, sig: &[u8; SIG_LEN]) -> TokenV2 {
    let mut t = TokenV2 {
        bytes: [0u8; MAX_V2_TOKEN_LEN],
        len: V2_FIXED_LEN + tag.as_bytes().len(),
    };
    let mut n = 0;
    for part in [PREFIX_V2, tag.as_bytes(), b"}.", id, b"."] {
        t.bytes[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    hex::encode_to_slice(sig, &mut t.bytes[n..t.len]).expect("buffer has the exact hex length");
    t
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub id: Id,
    pub sig: [u8; SIG_LEN],
    /// A v2 token's tag; `None` for v1.
    pub tag: Option<Tag>,
}

pub fn parse(token: &[u8]) -> Result<Parsed, Error> {
    if token.is_empty() {
        return Err(Error::EmptyToken);
    }
    if token.starts_with(PREFIX_V2) {
        return parse_v2(token);
    }
    if token.len() != TOKEN_LEN || !token.starts_with(PREFIX) || token[SIG_START - 1] != b'.' {
        return Err(Error::TokenFormat);
    }
    let id = parse_id(&token[PREFIX.len()..SIG_START - 1]).ok_or(Error::TokenFormat)?;
    let sig = parse_sig(&token[SIG_START..])?;
    Ok(Parsed { id, sig, tag: None })
}

fn parse_v2(token: &[u8]) -> Result<Parsed, Error> {
    let tag_len = token
        .len()
        .checked_sub(V2_FIXED_LEN)
        .filter(|n| (1..=MAX_TAG_LEN).contains(n))
        .ok_or(Error::TokenFormat)?;
    let rest = &token[PREFIX_V2.len()..];
    let (tag, rest) = rest.split_at(tag_len);
    let tag = Tag::new(tag).ok_or(Error::TokenFormat)?;
    let rest = rest.strip_prefix(b"}.").ok_or(Error::TokenFormat)?;
    let (id, rest) = rest.split_at(ID_LEN);
    let id = parse_id(id).ok_or(Error::TokenFormat)?;
    let sig = rest.strip_prefix(b".").ok_or(Error::TokenFormat)?;
    let sig = parse_sig(sig)?;
    Ok(Parsed {
        id,
        sig,
        tag: Some(tag),
    })
}

/// A session id: exactly `ID_LEN` characters of `[a-zA-Z0-9]`.
pub fn parse_id(s: &[u8]) -> Option<Id> {
    if s.len() != ID_LEN || !s.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(s);
    Some(id)
}

/// The signature's `2 * SIG_LEN` lowercase hex digits.
fn parse_sig(hex: &[u8]) -> Result<[u8; SIG_LEN], Error> {
    if hex.len() != 2 * SIG_LEN {
        return Err(Error::TokenFormat);
    }
    let mut sig = [0u8; SIG_LEN];
    // Decode every pair, and check once at the end: no branch per character.
    let mut bad = 0u8;
    for (out, pair) in sig.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (LOWER_HEX[pair[0] as usize], LOWER_HEX[pair[1] as usize]);
        bad |= hi | lo;
        *out = (hi << 4) | (lo & 0x0f);
    }
    if bad & INVALID != 0 {
        return Err(Error::TokenFormat);
    }
    Ok(sig)
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
    let mut buf = [0u8; V2_SIGNED_MAX];
    let signed = match &parsed.tag {
        None => &parsed.id[..],
        Some(tag) => v2_signed(tag, &parsed.id, &mut buf),
    };
    if mac.verify(signed, &parsed.sig) {
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

    fn v2(key: &[u8], tag: &[u8], id: &Id) -> Vec<u8> {
        let tag = Tag::new(tag).unwrap();
        format_v2(&tag, id, &sign_v2(&mac(key), &tag, id))
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn v2_tokens_have_the_documented_shape_and_sign_what_precedes_the_last_dot() {
        let id = *b"abcdefghijklmnop";
        // printf 'v2.{Qi}.abcdefghijklmnop' | openssl dgst -sha256 -hmac qwerty
        let t = v2(b"qwerty", b"Qi", &id);
        assert_eq!(
            std::str::from_utf8(&t).unwrap(),
            "v2.{Qi}.abcdefghijklmnop.6df196a9c5313e8f0262874c0a03584dbe92fdfe970df2db382e54b997458cfb"
        );
        for (tag, len) in [(&b"Z"[..], 88), (b"Qi", 89), (b"06S", 90)] {
            let t = v2(b"k", tag, &id);
            assert_eq!(t.len(), len);
            let p = parse(&t).unwrap();
            assert_eq!((p.id, p.tag.unwrap().as_bytes()), (id, tag));
            assert_eq!(verify(&mac(b"k"), &p), Ok(()));
            assert_eq!(verify(&mac(b"other"), &p), Err(Error::BadSignature));
        }
    }

    #[test]
    fn v1_and_v2_signatures_never_stand_for_each_other() {
        let id = *b"0123456789abcdef";
        let v1 = format(&id, &sign(&mac(b"k"), &id));
        let t = v2(b"k", b"Qi", &id);
        // The v1 signature of the id under a v2 shape, and the v2 signature under a v1 shape.
        let forged_v2 = [&t[..t.len() - 64], &v1[20..]].concat();
        let forged_v1 = [&v1[..20], &t[t.len() - 64..]].concat();
        for forged in [forged_v2, forged_v1] {
            let p = parse(&forged).unwrap();
            assert_eq!(verify(&mac(b"k"), &p), Err(Error::BadSignature));
        }
        // Another tag, same id and signature: the signature covers the tag.
        let other_tag = [&b"v2.{Qj}."[..], &t[8..]].concat();
        assert_eq!(
            verify(&mac(b"k"), &parse(&other_tag).unwrap()),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn malformed_v2_tokens_are_rejected() {
        let id = *b"0123456789abcdef";
        let good = v2(b"k", b"Qi", &id);
        let sig = &good[good.len() - 64..];
        let mut cases: Vec<Vec<u8>> = vec![
            [&b"v2.{}."[..], &id, b".", sig].concat(),
            [&b"v2.{ABCD}."[..], &id, b".", sig].concat(),
            [&b"v2.{Q-}."[..], &id, b".", sig].concat(),
            [&b"v2.{Q{}."[..], &id, b".", sig].concat(),
            [&b"v2.{Qi}-"[..], &id, b".", sig].concat(),
            [&b"v2.Qi}."[..], &id, b".", sig].concat(),
            [&b"v2{Qi}."[..], &id, b".", sig].concat(),
            [&b"v2.{Qi}."[..], &id[..15], b".", sig].concat(),
            [&b"v2.{Qi}."[..], &id, b"..", sig].concat(),
            [&b"v3.{Qi}."[..], &id, b".", sig].concat(),
            good[..good.len() - 1].to_vec(),
            [&good[..], b"0"].concat(),
            b"v2.{".to_vec(),
        ];
        for (pos, bad) in [(5, b'\0'), (8, b'-'), (24, b'0'), (30, b'G'), (88, b'A')] {
            let mut t = good.clone();
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

    #[test]
    fn ids_and_tags_have_their_shapes() {
        assert_eq!(parse_id(b"0123456789abcdeF"), Some(*b"0123456789abcdeF"));
        for bad in [
            &b""[..],
            b"0123456789abcde",
            b"0123456789abcdef0",
            b"0123456789abcde-",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
        assert!(Tag::new(b"a").is_some() && Tag::new(b"09Z").is_some());
        for bad in [&b""[..], b"abcd", b"a b", b"{a", b"\xff"] {
            assert!(Tag::new(bad).is_none(), "{bad:?}");
        }
    }
}
