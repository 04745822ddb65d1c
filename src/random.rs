//! The module's CSPRNG: ChaCha12 (rand's `StdRng`) seeded from the operating system and
//! reseeded after `RESEED_AFTER` draws, as rand's `ThreadRng` does. It is kept in a static, not
//! in a thread-local like `ThreadRng` (whose destructor would keep the module's shared object
//! loaded after MODULE UNLOAD, see lib.rs), and its state is wiped when replaced or unloaded.

use std::sync::{Mutex, PoisonError};

use rand::rngs::{OsRng, StdRng};
use rand::SeedableRng;

/// Draws (ids) between two seeds: an id takes one 32-byte fill, so about 64 KiB of output.
const RESEED_AFTER: u32 = 2048;

struct Csprng {
    rng: StdRng,
    left: u32,
}

impl Drop for Csprng {
    fn drop(&mut self) {
        const { assert!(!std::mem::needs_drop::<StdRng>()) };
        // SAFETY: StdRng is ChaCha12's state and output buffer: integers only, no pointer, no
        // field with a Drop impl, and all zeroes a valid value; it is not used after this.
        unsafe { zeroize::zeroize_flat_type(&mut self.rng as *mut StdRng) };
    }
}

static RNG: Mutex<Option<Csprng>> = Mutex::new(None);

/// Runs `f` with the generator (one draw).
pub fn with<R>(f: impl FnOnce(&mut StdRng) -> R) -> R {
    let mut guard = RNG.lock().unwrap_or_else(PoisonError::into_inner);
    if !matches!(&*guard, Some(c) if c.left > 0) {
        let rng = StdRng::from_rng(OsRng).expect("the operating system's random source");
        *guard = Some(Csprng {
            rng,
            left: RESEED_AFTER,
        });
    }
    let c = guard.as_mut().expect("seeded above");
    c.left -= 1;
    f(&mut c.rng)
}

/// Wipes the generator (the module is being unloaded).
pub fn clear() {
    let taken = RNG.lock().unwrap_or_else(PoisonError::into_inner).take();
    drop(taken);
}
