//! HMAC-SHA256 (RFC 2104) on SHA-256's compression function, with a sign key's schedule
//! computed once and every copy of key material wiped when it is dropped.
//!
//! The schedule (the SHA-256 states after the key's inner and outer padded blocks) signs for
//! the key as well as the key itself. It lives in one place (the key cache), every command
//! works on a copy that wipes itself, and so do the padded key blocks and the hash
//! temporaries: nothing derived from a sign key is left behind in freed memory or on the
//! stack by this code. (What the compiler keeps in registers is out of its reach.)

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

pub const OUT_LEN: usize = 32;
const BLOCK: usize = 64;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A 64-byte slice as the one block `compress256` takes, by reference (never copied).
fn one_block(block: &[u8]) -> &[GenericArray<u8, sha2::digest::consts::U64>] {
    std::slice::from_ref(GenericArray::from_slice(block))
}

/// Scratch bytes held in 64-bit words and wiped when dropped: W volatile writes rather than
/// 8·W, which keeps the wiping off the hot path's profile.
struct Scratch<const W: usize>([u64; W]);

impl<const W: usize> Scratch<W> {
    fn new() -> Self {
        Scratch([0; W])
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: [u64; W] is 8·W initialized bytes, and u8 needs no alignment.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), W * 8) }
    }
}

impl<const W: usize> Drop for Scratch<W> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A SHA-256 in progress: made zeroed, `start`ed in place (so a state copied in is never moved
/// around), fed, finished; its state and block are wiped when dropped.
struct Stream {
    state: [u32; 8],
    block: Scratch<{ BLOCK / 8 }>,
    filled: usize,
    total: u64,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            state: [0; 8],
            block: Scratch::new(),
            filled: 0,
            total: 0,
        }
    }

    /// Starts from `state`, which has absorbed `before` bytes (whole blocks).
    fn start(&mut self, state: &[u32; 8], before: u64) {
        self.state = *state;
        self.filled = 0;
        self.total = before;
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.filled > 0 {
            let take = (BLOCK - self.filled).min(data.len());
            self.block.bytes()[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled < BLOCK {
                return;
            }
            compress256(&mut self.state, one_block(self.block.bytes()));
            self.filled = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            compress256(&mut self.state, one_block(block));
        }
        let rest = blocks.remainder();
        self.block.bytes()[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// Pads, and writes the 32-byte digest to `out`.
    fn finish(&mut self, out: &mut [u8]) {
        let bits = self.total.wrapping_mul(8);
        let filled = self.filled;
        let block = self.block.bytes();
        block[filled] = 0x80;
        block[filled + 1..].fill(0);
        if filled + 9 > BLOCK {
            compress256(&mut self.state, one_block(self.block.bytes()));
            self.block.bytes().fill(0);
        }
        self.block.bytes()[BLOCK - 8..].copy_from_slice(&bits.to_be_bytes());
        compress256(&mut self.state, one_block(self.block.bytes()));
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state.iter()) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

/// SHA-256 of `data` into `out`, its temporaries wiped.
pub fn sha256_into(data: &[u8], out: &mut [u8; OUT_LEN]) {
    let mut h = Stream::new();
    h.start(&IV, 0);
    h.update(data);
    h.finish(out);
}

/// A sign key's HMAC-SHA256 schedule. Never cloned: `sign_into` works on a wiped copy.
pub struct SignState {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl SignState {
    /// All zeroes: a placeholder to fill in place with `init`.
    pub const EMPTY: SignState = SignState {
        inner: [0; 8],
        outer: [0; 8],
    };

    pub fn new(key: &[u8]) -> SignState {
        let mut s = SignState::EMPTY;
        s.init(key);
        s
    }

    /// Computes the schedule of `key` into `self` (in place, so that it can be made where it
    /// is kept, never moved there).
    pub fn init(&mut self, key: &[u8]) {
        let mut scratch = Scratch::<{ BLOCK / 8 }>::new();
        let block = scratch.bytes();
        if key.len() > BLOCK {
            let mut digest = Zeroizing::new([0u8; OUT_LEN]);
            sha256_into(key, &mut digest);
            block[..OUT_LEN].copy_from_slice(&*digest);
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        for b in block.iter_mut() {
            *b ^= 0x36;
        }
        self.inner = IV;
        compress256(&mut self.inner, one_block(block));
        for b in block.iter_mut() {
            *b ^= 0x36 ^ 0x5c;
        }
        self.outer = IV;
        compress256(&mut self.outer, one_block(block));
    }

    /// HMAC-SHA256(key, message) into `out`.
    pub fn sign_into(&self, message: &[u8], out: &mut [u8; OUT_LEN]) {
        self.sign_parts_into(&[message], out);
    }

    /// HMAC-SHA256(key, the parts one after the other) into `out`. The working copy of the
    /// schedule is compressed in place (once used it holds a digest, no longer the schedule)
    /// and wiped.
    pub fn sign_parts_into(&self, parts: &[&[u8]], out: &mut [u8; OUT_LEN]) {
        let mut h = Stream::new();
        h.start(&self.inner, BLOCK as u64);
        for part in parts {
            h.update(part);
        }
        let mut inner = Scratch::<{ OUT_LEN / 8 }>::new();
        h.finish(inner.bytes());
        h.start(&self.outer, BLOCK as u64);
        h.update(inner.bytes());
        h.finish(out);
    }

    /// Whether `tag` is HMAC-SHA256(key, message), compared in constant time.
    pub fn verify(&self, message: &[u8], tag: &[u8; OUT_LEN]) -> bool {
        let mut expected = Scratch::<{ OUT_LEN / 8 }>::new();
        let expected = expected.bytes();
        self.sign_into(message, expected.try_into().expect("32 bytes"));
        expected.ct_eq(&tag[..]).into()
    }
}

impl Drop for SignState {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use rand::{Rng, RngCore, SeedableRng};
    use sha2::{Digest, Sha256};

    fn sign(key: &[u8], message: &[u8]) -> String {
        let mut out = [0u8; OUT_LEN];
        SignState::new(key).sign_into(message, &mut out);
        hex::encode(out)
    }

    #[test]
    fn rfc_4231_vectors() {
        let long_key = [0xaau8; 131];
        let cases: [(&[u8], &[u8], &str); 6] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (&[0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (&long_key, b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, message, want) in cases {
            assert_eq!(sign(key, message), want);
        }
    }

    #[test]
    fn agrees_with_the_hmac_and_sha2_crates_at_every_length() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for len in 0..300 {
            let mut key = vec![0u8; rng.gen_range(0..200)];
            let mut message = vec![0u8; len];
            rng.fill_bytes(&mut key);
            rng.fill_bytes(&mut message);
            let mut reference = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            reference.update(&message);
            let want = hex::encode(reference.finalize().into_bytes());
            assert_eq!(
                sign(&key, &message),
                want,
                "key {} message {len}",
                key.len()
            );
            let mut digest = [0u8; OUT_LEN];
            sha256_into(&message, &mut digest);
            assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&message)));
        }
    }

    #[test]
    fn parts_sign_as_their_concatenation() {
        let s = SignState::new(b"k");
        let message: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        for cut in [0, 1, 17, 63, 64, 65, 128, 200, 300] {
            for second in [cut, (cut + 70).min(300)] {
                let (a, rest) = message.split_at(cut);
                let (b, c) = rest.split_at(second - cut);
                let mut whole = [0u8; OUT_LEN];
                let mut parts = [0u8; OUT_LEN];
                s.sign_into(&message, &mut whole);
                s.sign_parts_into(&[a, b, c], &mut parts);
                assert_eq!(whole, parts, "cut at {cut} and {second}");
            }
        }
    }

    #[test]
    fn verify_takes_exactly_the_tag() {
        let s = SignState::new(b"k");
        let mut tag = [0u8; OUT_LEN];
        s.sign_into(b"message", &mut tag);
        assert!(s.verify(b"message", &tag));
        assert!(!s.verify(b"messagf", &tag));
        for i in 0..OUT_LEN {
            let mut bad = tag;
            bad[i] ^= 0x01;
            assert!(!s.verify(b"message", &bad));
        }
    }

    #[test]
    fn dropped_schedule_is_wiped() {
        let mut slot = std::mem::MaybeUninit::new(SignState::new(b"a secret sign key"));
        // SAFETY: dropped once; Drop wrote every byte, so they are initialized.
        let left = unsafe {
            std::ptr::drop_in_place(slot.as_mut_ptr());
            std::slice::from_raw_parts(slot.as_ptr().cast::<u8>(), std::mem::size_of::<SignState>())
                .to_vec()
        };
        assert!(left.iter().all(|&b| b == 0));
    }
}
