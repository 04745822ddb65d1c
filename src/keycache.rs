//! Per-sign-key precomputation: the HMAC key schedule and the key's fingerprint, cached so the
//! hot path hashes only the 16-byte id.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use hmac::Mac;
use subtle::ConstantTimeEq;

use crate::token::HmacSha256;

pub const FINGERPRINT_LEN: usize = 16;
/// The cache is emptied whole when it reaches this many sign keys: applications use a handful,
/// and a flood of random keys must not grow memory.
pub const CAPACITY: usize = 1024;

pub struct SignKey {
    pub mac: HmacSha256,
    pub fingerprint: [u8; FINGERPRINT_LEN],
}

impl SignKey {
    pub fn new(key: &[u8]) -> SignKey {
        let mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        let mut fp = mac.clone();
        fp.update(b"sessiongate key fingerprint");
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        fingerprint.copy_from_slice(&fp.finalize().into_bytes()[..FINGERPRINT_LEN]);
        SignKey { mac, fingerprint }
    }
}

#[derive(Default)]
pub struct Cache {
    map: HashMap<Box<[u8]>, Rc<SignKey>>,
    /// The sign key of the last call and its state: applications use one or a few sign keys,
    /// so most calls are answered by comparing the key with the last one, without hashing it.
    last_key: Vec<u8>,
    last: Option<Rc<SignKey>>,
}

impl Cache {
    pub fn get(&mut self, key: &[u8]) -> &SignKey {
        // Constant time: the last key is another client's secret.
        let same = self.last_key.len() == key.len() && bool::from(self.last_key.ct_eq(key));
        if self.last.is_none() || !same {
            if !self.map.contains_key(key) {
                if self.map.len() >= CAPACITY {
                    self.map.clear();
                }
                self.map.insert(key.into(), Rc::new(SignKey::new(key)));
            }
            self.last = Some(Rc::clone(&self.map[key]));
            self.last_key.clear();
            self.last_key.extend_from_slice(key);
        }
        self.last.as_deref().expect("set above")
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::default();
}

/// Runs `f` with the precomputed state of `key`. Redis runs commands on one thread, so the
/// cache lives there without a lock.
pub fn with_sign_key<R>(key: &[u8], f: impl FnOnce(&SignKey) -> R) -> R {
    CACHE.with(|c| f(c.borrow_mut().get(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_truncated_hmac_of_fixed_message() {
        // printf 'sessiongate key fingerprint' | openssl dgst -sha256 -hmac qwerty
        let k = SignKey::new(b"qwerty");
        assert_eq!(
            hex::encode(k.fingerprint),
            "f1bdf90a604609be4165dcd5578f2506"
        );
        assert_ne!(SignKey::new(b"qwertz").fingerprint, k.fingerprint);
    }

    #[test]
    fn cache_is_bounded_and_stays_correct() {
        let mut c = Cache::default();
        for i in 0..CAPACITY * 3 + 5 {
            let key = format!("key-{i}");
            let fp = c.get(key.as_bytes()).fingerprint;
            assert_eq!(fp, SignKey::new(key.as_bytes()).fingerprint);
            assert!(c.len() <= CAPACITY);
        }
        assert!(!c.is_empty());
    }

    #[test]
    fn last_key_fast_path_follows_the_key() {
        let mut c = Cache::default();
        for key in [&b"a"[..], b"b", b"a", b"a", b"ab", b"", b"a\0", b"a"] {
            assert_eq!(c.get(key).fingerprint, SignKey::new(key).fingerprint);
        }
        // The map holds each key once, whichever path answered.
        assert_eq!(c.len(), 5);
    }
}
