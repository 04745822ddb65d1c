//! Owners (DESIGN §1b): what an owned session and its owner's index are, without Redis.
//!
//! - The owner digest, `HMAC-SHA256(sign_key, "sessiongate owner:" || owner)[..16]`: one per
//!   (application, owner). Without the sign key it tells nothing about the owner, and the owner
//!   string itself is stored nowhere.
//! - The owner's slot is `key_slot(owner)`, as cluster clients compute it for the declared key;
//!   an owned session and the owner's index both live there.
//! - The index key, `sessiongate:{<tag>}:owner:<32 hex digits of the digest>`: a sorted set of
//!   the owner's session ids, scored by their creation time in Unix ms. No session id has a `:`,
//!   so an index name is never a session's.
//! - An owned session's meta field: its unowned layout (`lifetime`: fingerprint, then the
//!   deadline when capped), then the owner digest and the creation time (Unix ms, 8 bytes
//!   big-endian). The lengths tell the layouts apart: 16 and 24 unowned, 40 and 48 owned.

use crate::errors::Error;
use crate::keycache::FINGERPRINT_LEN;
use crate::lifetime::{self, Meta};
use crate::mac::{self, SignState};
use crate::slot;

pub const DIGEST_LEN: usize = 16;
pub type Digest = [u8; DIGEST_LEN];

/// What an owned session's meta field holds after the unowned layout.
pub const OWNED_TAIL_LEN: usize = DIGEST_LEN + 8;
pub const MAX_META_LEN: usize = lifetime::CAPPED_META_LEN + OWNED_TAIL_LEN;

const DIGEST_MESSAGE: &[u8] = b"sessiongate owner:";
const INDEX_INFIX: &[u8] = b"}:owner:";
pub const MAX_INDEX_KEY_LEN: usize =
    slot::MAX_KEY_LEN - crate::token::ID_LEN - 2 + INDEX_INFIX.len() + 2 * DIGEST_LEN;

pub fn check_owner(owner: &[u8]) -> Result<(), Error> {
    if owner.is_empty() {
        Err(Error::EmptyOwner)
    } else {
        Ok(())
    }
}

/// `mac` is the sign key's precomputed HMAC schedule (see `mac`).
pub fn digest(mac: &SignState, owner: &[u8]) -> Digest {
    let mut full = [0u8; mac::OUT_LEN];
    mac.sign_parts_into(&[DIGEST_MESSAGE, owner], &mut full);
    let mut d = [0u8; DIGEST_LEN];
    d.copy_from_slice(&full[..DIGEST_LEN]);
    d
}

/// The hash slot of the owner, hash tags included.
pub fn slot_of(owner: &[u8]) -> u16 {
    slot::key_slot(owner)
}

/// `sessiongate:{<tag>}:owner:<hex digest>`, written into `buf`; returns its length.
pub fn index_key(slot: u16, digest: &Digest, buf: &mut [u8; MAX_INDEX_KEY_LEN]) -> usize {
    let mut hex = [0u8; 2 * DIGEST_LEN];
    hex::encode_to_slice(digest, &mut hex).expect("buffer has the exact hex length");
    let mut n = 0;
    for part in [b"sessiongate:{", slot::tag(slot), INDEX_INFIX, &hex[..]] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}

/// The owner part of an owned session's meta field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub digest: Digest,
    /// When the session was started (STARTFOR), in Unix ms; RENEW keeps it.
    pub created_ms: i64,
}

/// The bytes of an owned session's meta field.
pub struct OwnedMeta {
    bytes: [u8; MAX_META_LEN],
    len: usize,
}

impl OwnedMeta {
    pub fn new(base: &Meta, owner: &Owner) -> OwnedMeta {
        let base = base.as_bytes();
        let mut bytes = [0u8; MAX_META_LEN];
        bytes[..base.len()].copy_from_slice(base);
        bytes[base.len()..base.len() + DIGEST_LEN].copy_from_slice(&owner.digest);
        bytes[base.len() + DIGEST_LEN..base.len() + OWNED_TAIL_LEN]
            .copy_from_slice(&owner.created_ms.to_be_bytes());
        OwnedMeta {
            bytes,
            len: base.len() + OWNED_TAIL_LEN,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A stored meta field, owned or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub fingerprint: &'a [u8],
    pub deadline: Option<i64>,
    pub owner: Option<Owner>,
}

/// `None` for a field this module did not write (see `lifetime::decode`; a negative creation
/// time is not ours either).
pub fn decode(meta: &[u8]) -> Option<Decoded<'_>> {
    let (base, owner) = match meta.len() {
        n if n == FINGERPRINT_LEN + OWNED_TAIL_LEN || n == MAX_META_LEN => {
            let (base, tail) = meta.split_at(n - OWNED_TAIL_LEN);
            let (digest, created) = tail.split_at(DIGEST_LEN);
            let created_ms = i64::from_be_bytes(created.try_into().ok()?);
            if created_ms < 0 {
                return None;
            }
            let owner = Owner {
                digest: digest.try_into().ok()?,
                created_ms,
            };
            (base, Some(owner))
        }
        _ => (meta, None),
    };
    let (fingerprint, deadline) = lifetime::decode(base)?;
    Some(Decoded {
        fingerprint,
        deadline,
        owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: [u8; 16] = *b"0123456789abcdef";

    fn mac(key: &[u8]) -> SignState {
        SignState::new(key)
    }

    #[test]
    fn the_digest_is_per_application_and_owner() {
        // printf 'sessiongate owner:alice' | openssl dgst -sha256 -hmac qwerty
        assert_eq!(
            hex::encode(digest(&mac(b"qwerty"), b"alice")),
            "991b53d2ec15e6e96fe580ce84c52f38"
        );
        let a = digest(&mac(b"qwerty"), b"alice");
        assert_ne!(a, digest(&mac(b"qwertz"), b"alice"), "another application");
        assert_ne!(a, digest(&mac(b"qwerty"), b"alicf"), "another owner");
        assert_ne!(a, digest(&mac(b"qwerty"), b"alice\0"));
        // Binary owners are owners like any other.
        assert_ne!(digest(&mac(b"k"), b"\0\xff"), digest(&mac(b"k"), b"\0\xfe"));
    }

    #[test]
    fn the_owner_slot_honours_hash_tags() {
        assert_eq!(slot_of(b"user:{42}:x"), slot::key_slot(b"42"));
        assert_eq!(slot_of(b"foo"), 12182);
    }

    #[test]
    fn the_index_key_is_in_the_owner_slot_and_never_a_session_key() {
        let d: Digest = *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\xff";
        let mut buf = [0u8; MAX_INDEX_KEY_LEN];
        for owner in [&b"alice"[..], b"{bob}", b"\0", b"x{y}z"] {
            let s = slot_of(owner);
            let n = index_key(s, &d, &mut buf);
            let key = &buf[..n];
            assert_eq!(slot::key_slot(key), s);
            assert!(key.starts_with(b"sessiongate:{"));
            assert!(key.ends_with(b"}:owner:000102030405060708090a0b0c0d0eff"));
            // A session key ends in "}:" and 16 alphanumerics.
            let tail = &key[key.iter().rposition(|&b| b == b'}').unwrap() + 2..];
            assert!(tail.contains(&b':') && tail.len() != 16);
        }
        let n = index_key(0, &d, &mut buf);
        assert_eq!(n, MAX_INDEX_KEY_LEN, "slot 0 has a three-character tag");
    }

    #[test]
    fn owned_meta_layouts_decode_from_their_length() {
        let owner = Owner {
            digest: *b"ownerdigest-16by",
            created_ms: 1_700_000_000_123,
        };
        for deadline in [None, Some(1_700_000_360_000i64)] {
            let base = Meta::new(&FP, deadline);
            let m = OwnedMeta::new(&base, &owner);
            let bytes = m.as_bytes();
            assert_eq!(bytes.len(), base.as_bytes().len() + 24);
            assert_eq!(&bytes[..base.as_bytes().len()], base.as_bytes());
            assert_eq!(
                &bytes[bytes.len() - 8..],
                &[0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x7b]
            );
            assert_eq!(
                decode(bytes),
                Some(Decoded {
                    fingerprint: &FP,
                    deadline,
                    owner: Some(owner)
                })
            );
        }
        assert_eq!(MAX_META_LEN, 48);
    }

    #[test]
    fn unowned_meta_decodes_as_before() {
        for deadline in [None, Some(5)] {
            let base = Meta::new(&FP, deadline);
            assert_eq!(
                decode(base.as_bytes()),
                Some(Decoded {
                    fingerprint: &FP,
                    deadline,
                    owner: None
                })
            );
        }
    }

    #[test]
    fn other_meta_fields_are_not_ours() {
        let owned = OwnedMeta::new(
            &Meta::new(&FP, Some(9)),
            &Owner {
                digest: [1; 16],
                created_ms: 2,
            },
        );
        let negative_created = [&FP[..], &[1; 16], &(-1i64).to_be_bytes()].concat();
        let negative_deadline = [&FP[..], &(-1i64).to_be_bytes(), &[1; 16], &[0; 8]].concat();
        for bad in [
            &b""[..],
            &FP[..15],
            &[0u8; 32],
            &[0u8; 39],
            &[0u8; 41],
            &[0u8; 47],
            &[0u8; 49],
            &owned.as_bytes()[1..],
            &negative_created,
            &negative_deadline,
        ] {
            assert_eq!(decode(bad), None, "{} bytes", bad.len());
        }
    }

    #[test]
    fn an_owner_has_at_least_one_byte() {
        assert_eq!(check_owner(b""), Err(Error::EmptyOwner));
        assert_eq!(check_owner(b"\0"), Ok(()));
    }
}
