//! Micro-benchmarks of the pure hot path (no Redis): verify a token with a cached key, sign,
//! parse, slot and tag lookup, key-cache lookup.
//!
//! `cargo bench --features system-alloc` (the crate's global allocator is Redis' otherwise,
//! which aborts outside Redis). A small std::time harness: each case runs in batches sized to
//! about 20 ms; the figure is the median ns per call over the batches (min and max shown too),
//! so a noisy neighbour on a shared machine moves it little. `cargo bench --features
//! system-alloc -- slot` runs only the cases whose name contains `slot`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sessiongate::keycache::{self, Cache, SignKey};
use sessiongate::mac::SignState;
use sessiongate::slot;
use sessiongate::token;

const BATCHES: usize = 25;
const BATCH_TIME: Duration = Duration::from_millis(20);

fn bench(filter: &[String], name: &str, mut f: impl FnMut()) {
    if !filter.is_empty() && !filter.iter().any(|w| name.contains(w.as_str())) {
        return;
    }
    // Calibrate: how many calls fill one batch.
    let mut iters: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() >= BATCH_TIME / 4 || iters >= 1 << 30 {
            let per = t.elapsed().as_secs_f64() / iters as f64;
            iters = ((BATCH_TIME.as_secs_f64() / per.max(1e-10)) as u64).max(1);
            break;
        }
        iters *= 4;
    }
    let mut ns: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / iters as f64
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    println!(
        "{name:<32} {:>9.1} ns/call   (min {:.1}, max {:.1}; {BATCHES} batches of {iters})",
        ns[BATCHES / 2],
        ns[0],
        ns[BATCHES - 1]
    );
}

fn main() {
    // `cargo bench` passes `--bench`; other words filter the cases by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let key = b"bench-sign-key";
    let mac = SignState::new(key);
    let id = *b"AbCdEfGh12345678";
    let tok = token::format(&id, &token::sign(&mac, &id));
    let parsed = token::parse(&tok).unwrap();
    let slot_of_tok = slot::key_slot(&tok);
    slot::init();

    bench(&filter, "token::parse", || {
        black_box(token::parse(black_box(&tok)).unwrap());
    });
    bench(&filter, "token::verify (cached key)", || {
        token::verify(black_box(&mac), black_box(&parsed)).unwrap();
    });
    bench(&filter, "token::sign (cached key)", || {
        black_box(token::sign(black_box(&mac), black_box(&id)));
    });
    bench(&filter, "token::format", || {
        black_box(token::format(black_box(&id), black_box(&parsed.sig)));
    });
    let mut rng = rand::thread_rng();
    bench(&filter, "token::generate_id", || {
        black_box(token::generate_id(&mut rng));
    });
    bench(&filter, "slot::key_slot (token)", || {
        black_box(slot::key_slot(black_box(&tok)));
    });
    bench(&filter, "slot::token_slot (parsed token)", || {
        black_box(slot::token_slot(black_box(&tok)));
    });
    bench(&filter, "slot::crc16 (84 bytes)", || {
        black_box(slot::crc16(black_box(&tok)));
    });
    bench(&filter, "slot::tag", || {
        black_box(slot::tag(black_box(slot_of_tok)));
    });
    let mut buf = [0u8; slot::MAX_KEY_LEN];
    bench(&filter, "slot::session_key", || {
        black_box(slot::session_key(
            black_box(slot_of_tok),
            black_box(&id),
            &mut buf,
        ));
    });
    bench(&filter, "keycache::with_sign_key (hit)", || {
        black_box(keycache::with_sign_key(black_box(key), |k| k.fingerprint));
    });
    bench(&filter, "keycache::sign_key (hit, held)", || {
        black_box(keycache::sign_key(black_box(key)).fingerprint);
    });
    let other = b"another-sign-key";
    let mut flip = false;
    bench(&filter, "keycache::with_sign_key (2 keys)", || {
        flip = !flip;
        let k: &[u8] = if flip { key } else { other };
        black_box(keycache::with_sign_key(black_box(k), |k| k.fingerprint));
    });
    let mut cache = Cache::default();
    let mut i = 0u64;
    bench(&filter, "keycache miss (new key)", || {
        i += 1;
        black_box(cache.get(&i.to_le_bytes()).fingerprint);
    });
    bench(&filter, "SignKey::new (uncached)", || {
        black_box(SignKey::new(black_box(key)).fingerprint);
    });
    // The pure part of a token command: parse, slot, cached key, verify, key name.
    bench(&filter, "hot path: PGET's pure part", || {
        let t = black_box(&tok[..]);
        let p = token::parse(t).unwrap();
        let s = slot::token_slot(t);
        let fp = keycache::with_sign_key(black_box(key), |k| {
            token::verify(&k.mac, &p).map(|()| k.fingerprint)
        })
        .unwrap();
        let n = slot::session_key(s, &p.id, &mut buf);
        black_box((fp, n));
    });
}
