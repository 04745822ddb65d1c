use std::ffi::c_int;

use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache;
use crate::lifetime::{self, Meta};
use crate::mac::SignState;
use crate::random;
use crate::rm::{self, Ctx};
use crate::slot;
use crate::stats::{self, Counter};
use crate::store::{self, Payloads};
use crate::strings::Args;
use crate::token::{self, Id, Token};

/// How many ids START draws before giving up; in a cluster a node serving one slot in 16384
/// needs about 16384 draws on average, so this leaves room for the smallest share.
const MAX_DRAWS: usize = 1 << 20;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    cluster::refuse_in_multi(ctx, Error::StartInMulti)?;
    let sign_key = argv.bytes(1);
    args::check_sign_key(sign_key)?;
    let ttl = args::parse_ttl(argv.bytes(2))?;
    let now = rm::milliseconds();
    let (expire_at, deadline) =
        lifetime::new_session_end(now, ttl, argv.get(3).map(|a| a.bytes()))?;
    let key = keycache::sign_key(sign_key);
    let meta = Meta::new(&key.fingerprint, deadline);
    let no_payloads = Payloads::none(ctx);
    let tok = new_token(ctx, &key.mac, |slot, id| {
        if ttl == 0 {
            return Ok(true);
        }
        store::create(
            ctx,
            slot,
            id,
            meta.as_bytes(),
            &no_payloads,
            Some(expire_at),
        )
    })?;
    stats::bump(Counter::SessionsStarted);
    Ok(rm::reply_bytes(ctx, &tok))
}

/// Draws session ids (uniform; in a cluster, only of slots this node serves and is not
/// migrating) and calls `create` with each one's slot until it returns true (false: that key
/// is taken). Returns the token of the id taken, signed with `mac`.
pub fn new_token(
    ctx: Ctx,
    mac: &SignState,
    mut create: impl FnMut(u16, &Id) -> Result<bool, Error>,
) -> Result<Token, Error> {
    let mut slots = cluster::SlotFilter::new(ctx)?;
    for _ in 0..MAX_DRAWS {
        let id = random::with(token::generate_id);
        let tok = token::format(&id, &token::sign(mac, &id));
        let slot = slot::token_slot(&tok);
        if !slots.accepts(ctx, slot)? {
            continue;
        }
        if create(slot, &id)? {
            return Ok(tok);
        }
    }
    Err(Error::IdSpaceExhausted)
}
