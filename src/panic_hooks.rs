//! Test-only (cargo feature `panic-test`, never in a release build): points inside the
//! callbacks Redis calls where `SESSIONGATE.__PANICAT` makes the module panic, so the
//! hardening tests can prove each callback's panic barrier. The load is armed by a last load
//! argument `panic-at-load` instead (nothing can be sent before the module is loaded).

use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Clone, Copy, Debug)]
pub enum Point {
    /// The ScanKey callback of PGETALL, for every field of the hash.
    ScanKey,
    /// The INFO callback, after the section header.
    Info,
    /// The CONFIG GET callbacks of the module configs.
    ConfigGet,
    /// The CONFIG SET callbacks, before they change anything.
    ConfigSet,
    /// The end of the module's load, once everything is registered.
    Load,
}

/// Per point: how many arrivals are left until the one that panics (0: disarmed).
static ARMED: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];

/// Arms `Point::Load` if the last load argument is `panic-at-load`; the other arguments.
pub fn take_load_point(mut args: Vec<&[u8]>) -> Vec<&[u8]> {
    if args.last() == Some(&&b"panic-at-load"[..]) {
        args.pop();
        arm(Point::Load, 1);
    }
    args
}

/// Makes the `nth` next arrival at `point` panic, once.
pub fn arm(point: Point, nth: u32) {
    ARMED[point as usize].store(nth, Ordering::Relaxed);
}

pub fn reached(point: Point) {
    let left = &ARMED[point as usize];
    match left.load(Ordering::Relaxed) {
        0 => {}
        1 => {
            left.store(0, Ordering::Relaxed);
            panic!("sessiongate panic-test: deliberate panic at {point:?}");
        }
        n => left.store(n - 1, Ordering::Relaxed),
    }
}
