use std::ffi::c_int;

use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache;
use crate::rm::{self, Ctx};
use crate::slot;
use crate::stats::{self, Counter};
use crate::store;
use crate::strings::Args;
use crate::token;

/// How many ids START draws before giving up; in a cluster a node serving one slot in 16384
/// needs about 16384 draws on average, so this leaves room for the smallest share.
const MAX_DRAWS: usize = 1 << 20;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let sign_key = argv.bytes(1);
    args::check_sign_key(sign_key)?;
    let ttl = args::parse_ttl(argv.bytes(2))?;
    let expire_at = args::expire_at(rm::milliseconds(), ttl)?;
    let (mac, fingerprint) = keycache::with_sign_key(sign_key, |k| (k.mac.clone(), k.fingerprint));
    let mut slots = cluster::SlotFilter::new(ctx)?;
    let mut rng = rand::thread_rng();
    for _ in 0..MAX_DRAWS {
        let id = token::generate_id(&mut rng);
        let tok = token::format(&id, &token::sign(&mac, &id));
        let slot = slot::token_slot(&tok);
        if !slots.accepts(ctx, slot, &tok)? {
            continue;
        }
        if ttl == 0 || store::create(ctx, slot, &id, &fingerprint, expire_at)? {
            stats::bump(Counter::SessionsStarted);
            return Ok(rm::reply_bytes(ctx, &tok));
        }
    }
    Err(Error::IdSpaceExhausted)
}
