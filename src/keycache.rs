//! Per-sign-key precomputation: the HMAC key schedule and the key's fingerprint, cached so the
//! hot path hashes only the 16-byte id.
//!
//! The cache is keyed by the SHA-256 digest of the sign key and never holds the key itself, so
//! an entry costs the same whatever the key's length (the contract caps it only at Redis' own
//! bulk limit, 512 MB by default). Everything an entry holds stands for the key and is wiped
//! when the entry goes: cache emptied, last key replaced, module unload.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::mac::{self, SignState};

pub const FINGERPRINT_LEN: usize = 16;
/// The cache is emptied whole when it reaches this many sign keys: applications use a handful,
/// and a flood of random keys must not grow memory.
pub const CAPACITY: usize = 1024;

pub struct SignKey {
    /// Wipes itself when dropped.
    pub mac: SignState,
    pub fingerprint: [u8; FINGERPRINT_LEN],
}

impl SignKey {
    const EMPTY: SignKey = SignKey {
        mac: SignState::EMPTY,
        fingerprint: [0; FINGERPRINT_LEN],
    };

    pub fn new(key: &[u8]) -> SignKey {
        let mut k = SignKey::EMPTY;
        k.init(key);
        k
    }

    /// Fills an entry in place (a cache entry is made where it is kept, never moved there).
    fn init(&mut self, key: &[u8]) {
        self.mac.init(key);
        let mut fp = Zeroizing::new([0u8; mac::OUT_LEN]);
        self.mac.sign_into(b"sessiongate key fingerprint", &mut fp);
        self.fingerprint.copy_from_slice(&fp[..FINGERPRINT_LEN]);
    }
}

impl Drop for SignKey {
    fn drop(&mut self) {
        self.fingerprint.zeroize();
    }
}

/// The SHA-256 digest of a sign key: what the cache is keyed by. It stands for the key (it
/// lets anyone test guesses offline), so it is compared in constant time and wiped on drop.
#[derive(Clone)]
struct KeyDigest([u8; 32]);

impl KeyDigest {
    fn of(key: &[u8]) -> KeyDigest {
        let mut d = KeyDigest([0; 32]);
        mac::sha256_into(key, &mut d.0);
        d
    }
}

impl PartialEq for KeyDigest {
    fn eq(&self, other: &KeyDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyDigest {}

impl Hash for KeyDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0);
    }
}

impl Drop for KeyDigest {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[derive(Default)]
pub struct Cache {
    /// Sized for CAPACITY at the first insert and never grown: growing would free the old
    /// table, digests included, without wiping it.
    map: HashMap<KeyDigest, Arc<SignKey>>,
    /// The last key's entry: applications use one or a few sign keys, so most calls are
    /// answered without a map lookup.
    last: Option<(KeyDigest, Arc<SignKey>)>,
}

impl Cache {
    pub fn get(&mut self, key: &[u8]) -> &SignKey {
        let digest = KeyDigest::of(key);
        if !matches!(&self.last, Some((d, _)) if *d == digest) {
            let entry = match self.map.get(&digest) {
                Some(e) => Arc::clone(e),
                None => {
                    if self.map.len() >= CAPACITY {
                        self.map.clear();
                    }
                    if self.map.capacity() < CAPACITY {
                        self.map.reserve(CAPACITY);
                    }
                    let mut e = Arc::new(SignKey::EMPTY);
                    Arc::get_mut(&mut e).expect("not shared yet").init(key);
                    self.map.insert(digest.clone(), Arc::clone(&e));
                    e
                }
            };
            self.last = Some((digest, entry));
        }
        &self.last.as_ref().expect("set above").1
    }

    /// Drops (and so wipes) every entry and frees the table.
    pub fn clear(&mut self) {
        self.map.clear();
        self.map = HashMap::new();
        self.last = None;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A static, not a thread-local: a thread-local with a destructor would keep the module's
/// shared object loaded after MODULE UNLOAD (see lib.rs). Redis runs commands on one thread,
/// so the lock is never contended.
static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// Runs `f` with the precomputed state of `key`.
pub fn with_sign_key<R>(key: &[u8], f: impl FnOnce(&SignKey) -> R) -> R {
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    f(cache.get_or_insert_with(Cache::default).get(key))
}

/// The entry of `key`, held past the lock: for commands that call into Redis while they use it
/// (a keyspace notification may run another module's code, which may call this module again).
/// Dropping the last holder of a removed entry wipes it.
pub fn sign_key(key: &[u8]) -> Arc<SignKey> {
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let c = cache.get_or_insert_with(Cache::default);
    c.get(key);
    Arc::clone(&c.last.as_ref().expect("set by get").1)
}

/// Empties the cache, wiping every entry and freeing the table (the module is being
/// unloaded).
pub fn clear() {
    let taken = CACHE.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(mut cache) = taken {
        cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{size_of, MaybeUninit};

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
        let mut first_capacity = None;
        for i in 0..CAPACITY * 3 + 5 {
            let key = format!("key-{i}");
            let fp = c.get(key.as_bytes()).fingerprint;
            assert_eq!(fp, SignKey::new(key.as_bytes()).fingerprint);
            assert!(c.len() <= CAPACITY);
            // Sized once, at the first insert: a table that grew freed its old memory, digests
            // included, without wiping it.
            let capacity = *first_capacity.get_or_insert(c.map.capacity());
            assert!(capacity >= CAPACITY, "{capacity}");
            assert_eq!(
                c.map.capacity(),
                capacity,
                "the table was reallocated at key {i}"
            );
        }
        assert!(!c.is_empty());
        c.clear();
        assert!(c.is_empty() && c.last.is_none() && c.map.capacity() == 0);
        assert_eq!(c.get(b"k").fingerprint, SignKey::new(b"k").fingerprint);
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

    #[test]
    fn a_long_key_is_cached_by_its_digest_only() {
        let mut c = Cache::default();
        let long = vec![7u8; 1 << 20];
        assert_eq!(c.get(&long).fingerprint, SignKey::new(&long).fingerprint);
        // HMAC hashes a key longer than its block: the same state as the key's SHA-256.
        let mut hashed = [0u8; 32];
        mac::sha256_into(&long, &mut hashed);
        assert_eq!(c.get(&long).fingerprint, SignKey::new(&hashed).fingerprint);
        assert_eq!(c.len(), 1);
    }

    /// Drops a value in place and returns the bytes it left behind.
    fn bytes_after_drop<T>(value: T) -> Vec<u8> {
        let mut slot = MaybeUninit::new(value);
        // SAFETY: the value is dropped once; the drop of both types wrote every byte of it,
        // so reading them back as bytes reads initialized memory.
        unsafe {
            std::ptr::drop_in_place(slot.as_mut_ptr());
            std::slice::from_raw_parts(slot.as_ptr().cast::<u8>(), size_of::<T>()).to_vec()
        }
    }

    #[test]
    fn entries_are_wiped_when_dropped() {
        let key = SignKey::new(b"a secret sign key");
        assert!(size_of::<SignKey>() < 512, "an entry does not hold the key");
        assert!(bytes_after_drop(key).iter().all(|&b| b == 0));
        let digest = KeyDigest::of(b"a secret sign key");
        assert!(digest.0.iter().any(|&b| b != 0));
        assert!(bytes_after_drop(digest).iter().all(|&b| b == 0));
    }
}
