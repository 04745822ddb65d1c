//! Redis Cluster hash slots, the slot→tag table and session key names.
//!
//! Tag rule (stored data depends on it; golden tests pin it): for each slot, the tag is the
//! first string, in order of length and then of bytes, made of `0-9A-Za-z`, whose
//! CRC16-XMODEM mod 16384 is that slot. Every slot has a tag of at most three characters.

use std::sync::OnceLock;

use crate::errors::Error;
use crate::token::{Id, Parsed, ID_LEN};

pub const SLOTS: usize = 16384;
const TAG_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const MAX_TAG: usize = 3;
const _: () = assert!(MAX_TAG == crate::token::MAX_TAG_LEN);
const KEY_PREFIX: &[u8] = b"sessiongate:{";
pub const MAX_KEY_LEN: usize = KEY_PREFIX.len() + MAX_TAG + 2 + ID_LEN;

/// CRC16-XMODEM tables for slicing-by-8: `CRC16_TABLES[k][b]` is the CRC of byte `b` followed
/// by `k` zero bytes, so eight bytes are folded with eight independent lookups instead of a
/// chain of eight dependent ones (the token is 84 bytes, and its slot is on every command).
const CRC16_TABLES: [[u16; 256]; 8] = {
    let mut t = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// CRC16-XMODEM, as Redis Cluster uses it.
pub fn crc16(bytes: &[u8]) -> u16 {
    let t = &CRC16_TABLES;
    let mut crc = 0u16;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let [hi, lo] = crc.to_be_bytes();
        crc = t[7][(c[0] ^ hi) as usize]
            ^ t[6][(c[1] ^ lo) as usize]
            ^ t[5][c[2] as usize]
            ^ t[4][c[3] as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    crc16_bytewise(crc, chunks.remainder())
}

fn crc16_bytewise(crc: u16, bytes: &[u8]) -> u16 {
    bytes.iter().fold(crc, |crc, &b| {
        (crc << 8) ^ CRC16_TABLES[0][(((crc >> 8) as u8) ^ b) as usize]
    })
}

/// The slot of a token that `token::parse` accepted: tokens hold no `{`, so the whole token is
/// hashed and the hash-tag scan of `key_slot` is skipped.
pub fn token_slot(token: &[u8]) -> u16 {
    debug_assert!(!token.contains(&b'{'));
    crc16(token) & (SLOTS as u16 - 1)
}

/// The slot of a token `token::parse` accepted (`token`: its bytes). A v1 token is hashed whole
/// (see `token_slot`); a v2 token's slot is its hash tag's, and a tag that is not the tag of
/// that slot makes the token malformed: every slot has exactly one v2 token shape per id.
pub fn of_parsed(token: &[u8], parsed: &Parsed) -> Result<u16, Error> {
    let Some(t) = &parsed.tag else {
        return Ok(token_slot(token));
    };
    let slot = crc16(t.as_bytes()) & (SLOTS as u16 - 1);
    if tag(slot) == t.as_bytes() {
        Ok(slot)
    } else {
        Err(Error::TokenFormat)
    }
}

/// The slot Redis gives a key, hash tags included.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) & (SLOTS as u16 - 1)
}

#[derive(Clone, Copy)]
struct Tag {
    len: u8,
    bytes: [u8; MAX_TAG],
}

impl Tag {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

fn tags() -> &'static [Tag; SLOTS] {
    static TABLE: OnceLock<Box<[Tag; SLOTS]>> = OnceLock::new();
    TABLE.get_or_init(build_tags)
}

fn build_tags() -> Box<[Tag; SLOTS]> {
    let empty = Tag {
        len: 0,
        bytes: [0; MAX_TAG],
    };
    let mut table = Box::new([empty; SLOTS]);
    let mut missing = SLOTS;
    for len in 1..=MAX_TAG {
        let mut idx = [0usize; MAX_TAG];
        loop {
            let mut t = empty;
            t.len = len as u8;
            for (dst, &i) in t.bytes.iter_mut().zip(&idx[..len]) {
                *dst = TAG_ALPHABET[i];
            }
            let slot = key_slot(t.as_bytes()) as usize;
            if table[slot].len == 0 {
                table[slot] = t;
                missing -= 1;
            }
            // Next string of this length, last character fastest.
            let mut pos = len;
            loop {
                if pos == 0 {
                    break;
                }
                pos -= 1;
                idx[pos] += 1;
                if idx[pos] < TAG_ALPHABET.len() {
                    break;
                }
                idx[pos] = 0;
                if pos == 0 {
                    pos = usize::MAX;
                    break;
                }
            }
            if pos == usize::MAX {
                break;
            }
        }
    }
    assert_eq!(
        missing, 0,
        "every slot has a tag of at most {MAX_TAG} characters"
    );
    table
}

/// Builds the tag table now rather than on the first command.
pub fn init() {
    tags();
}

pub fn tag(slot: u16) -> &'static [u8] {
    tags()[slot as usize].as_bytes()
}

/// `sessiongate:{<tag>}:<id>`, written into `buf`; returns its length.
pub fn session_key(slot: u16, id: &Id, buf: &mut [u8; MAX_KEY_LEN]) -> usize {
    let tag = tag(slot);
    let mut n = 0;
    for part in [KEY_PREFIX, tag, b"}:", id] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}

/// The longest `probe_key`.
pub const MAX_PROBE_KEY_LEN: usize = KEY_PREFIX.len() + MAX_TAG + 1;

/// `sessiongate:{<tag>}`, a name of slot `slot` that is never a session (a session's name goes
/// on with `:<id>`) and carries no secret: what the cluster code asks the server about the
/// slot with. Written into `buf`; returns its length.
pub fn probe_key(slot: u16, buf: &mut [u8; MAX_PROBE_KEY_LEN]) -> usize {
    let mut n = 0;
    for part in [KEY_PREFIX, tag(slot), b"}"] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_probe_key_of_a_slot_is_in_that_slot() {
        let mut buf = [0u8; MAX_PROBE_KEY_LEN];
        for slot in 0..SLOTS as u16 {
            let n = probe_key(slot, &mut buf);
            assert_eq!(key_slot(&buf[..n]), slot);
            assert!(buf[..n].starts_with(b"sessiongate:{") && buf[n - 1] == b'}');
        }
        let n = probe_key(0, &mut buf);
        assert_eq!(&buf[..n], [b"sessiongate:{", tag(0), b"}"].concat());
    }

    #[test]
    fn crc16_matches_redis_cluster_spec() {
        // The reference value of the Redis Cluster specification.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        // Values of `CLUSTER KEYSLOT` on a Redis 7.0 server.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") & 16383);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn sliced_crc16_equals_bytewise() {
        // A small xorshift, so that the inputs are fixed and need no RNG crate.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut data = Vec::new();
        for len in 0..300 {
            for _ in 0..4 {
                data.clear();
                for _ in 0..len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    data.push(x as u8);
                }
                assert_eq!(crc16(&data), crc16_bytewise(0, &data), "len {len}");
            }
        }
        let tok =
            b"v1.abcdefghijklmnop.40e494757241a7b4dd348fa60fd085121014c9e4fd16cdc17adc8f7475adfa21";
        assert_eq!(token_slot(tok), key_slot(tok));
    }

    #[test]
    fn every_tag_maps_to_its_slot() {
        for slot in 0..SLOTS as u16 {
            let t = tag(slot);
            assert!(!t.is_empty() && t.len() <= MAX_TAG);
            assert!(t.iter().all(|c| TAG_ALPHABET.contains(c)));
            assert_eq!(key_slot(t), slot);
        }
    }

    #[test]
    fn tag_table_golden_values() {
        // Computed independently (Python's binascii.crc_hqx, the same rule): changing these
        // orphans every stored session.
        let golden: [(u16, &[u8]); 8] = [
            (0, b"06S"),
            (1, b"Qi"),
            (866, b"CX"),
            (5061, b"Aus"),
            (8000, b"42"),
            (12182, b"9Le"),
            (16383, b"6ZJ"),
            (12539, b"4Fs"),
        ];
        let got: Vec<(u16, String)> = golden
            .iter()
            .map(|&(s, _)| (s, String::from_utf8_lossy(tag(s)).into_owned()))
            .collect();
        for (&(slot, want), (_, have)) in golden.iter().zip(&got) {
            assert_eq!(have.as_bytes(), want, "slot {slot}; table now: {got:?}");
        }
        let mut h = Sha256::new();
        for slot in 0..SLOTS as u16 {
            h.update(tag(slot));
            h.update(b"\n");
        }
        assert_eq!(
            hex::encode(h.finalize()),
            "6ea2f779890a69f6f9d18579101675b9b9450c2ac66fe9aac8eeea5963567aea"
        );
    }

    #[test]
    fn session_key_shape_and_slot() {
        let id = *b"AbCdEfGh12345678";
        let mut buf = [0u8; MAX_KEY_LEN];
        for slot in [0u16, 1, 9999, 16383] {
            let n = session_key(slot, &id, &mut buf);
            let key = &buf[..n];
            assert!(key.starts_with(b"sessiongate:{"));
            assert!(key.ends_with(b"}:AbCdEfGh12345678"));
            assert_eq!(key_slot(key), slot);
        }
    }

    #[test]
    fn a_v2_token_is_in_its_tags_slot_and_only_the_slots_own_tag_is_valid() {
        use crate::token::{self, Tag};
        let id = *b"AbCdEfGh12345678";
        let sig = [7u8; token::SIG_LEN];
        for slot in [0u16, 1, 866, 12182, 16383] {
            let t = token::format_v2(&Tag::new(tag(slot)).unwrap(), &id, &sig);
            let p = token::parse(t.as_bytes()).unwrap();
            assert_eq!(of_parsed(t.as_bytes(), &p), Ok(slot));
            assert_eq!(
                key_slot(t.as_bytes()),
                slot,
                "clients route it to that slot"
            );
        }
        // A string of the tags' shape that is not its own slot's tag (most three-character
        // strings, since every slot has a shorter or earlier one) makes a malformed token.
        let mut others = 0;
        for candidate in [&b"zzz"[..], b"yyy", b"xxx", b"www", b"Aus0"] {
            let Some(t) = Tag::new(candidate) else {
                continue;
            };
            if tag(key_slot(candidate)) == candidate {
                continue;
            }
            others += 1;
            let tok = token::format_v2(&t, &id, &sig);
            let p = token::parse(tok.as_bytes()).unwrap();
            assert_eq!(of_parsed(tok.as_bytes(), &p), Err(Error::TokenFormat));
        }
        assert!(others >= 2);
        let v1 = token::format(&id, &sig);
        let p = token::parse(&v1).unwrap();
        assert_eq!(of_parsed(&v1, &p), Ok(key_slot(&v1)));
    }
}
