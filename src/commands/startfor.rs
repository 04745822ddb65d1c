//! STARTFOR: a session owned by `<owner>`, created in the owner's hash slot (so its v2 token
//! routes there) and listed in the owner's index, whose end it raises to the session's; the ids
//! of sessions gone among the index's oldest are taken off on the way. Also the id drawing of owned sessions, which RENEW shares.

use std::ffi::c_int;

use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache;
use crate::lifetime::{self, Meta};
use crate::mac::SignState;
use crate::owners::{self, OwnedMeta, Owner};
use crate::random;
use crate::rm::{self, Ctx};
use crate::slot;
use crate::stats::{self, Counter};
use crate::store::{self, Payloads};
use crate::strings::Args;
use crate::token::{self, Id, Tag, TokenV2};

/// Ids drawn before giving up: any id of the slot will do, so one draw almost always does.
const MAX_DRAWS: usize = 64;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let sign_key = argv.bytes(1);
    args::check_sign_key(sign_key)?;
    let owner = argv.bytes(2);
    owners::check_owner(owner)?;
    let ttl = args::parse_ttl(argv.bytes(3))?;
    let now = rm::milliseconds();
    let (expire_at, deadline) =
        lifetime::new_session_end(now, ttl, argv.get(4).map(|a| a.bytes()))?;
    let slot = owners::slot_of(owner);
    if cluster::slot_in_transit(ctx, slot) {
        return Err(Error::OwnerMoving);
    }
    let key = keycache::sign_key(sign_key);
    let (mac, fingerprint) = (&key.mac, key.fingerprint);
    let owner = Owner {
        digest: owners::digest(mac, owner),
        created_ms: now,
    };
    let meta = OwnedMeta::new(&Meta::new(&fingerprint, deadline), &owner);
    let tok = if ttl == 0 {
        new_owned_token(mac, slot, |_| Ok(true))?.0
    } else {
        let index = store::open_for_start(ctx, slot, &owner.digest, &fingerprint)?;
        let no_payloads = Payloads::none(ctx);
        let (tok, id) = new_owned_token(mac, slot, |id| {
            store::create(
                ctx,
                slot,
                id,
                meta.as_bytes(),
                &no_payloads,
                Some(expire_at),
            )
        })?;
        index.keep(&id, owner.created_ms, Some(expire_at))?;
        tok
    };
    stats::bump(Counter::SessionsStarted);
    stats::bump(Counter::OwnedSessionsStarted);
    Ok(rm::reply_bytes(ctx, tok.as_bytes()))
}

/// Draws ids (uniform, as START draws them) and calls `create` with each until it returns true
/// (false: that key is taken). Returns the v2 token of the id taken, in `slot`, signed with
/// `mac`, and the id.
pub fn new_owned_token(
    mac: &SignState,
    slot: u16,
    mut create: impl FnMut(&Id) -> Result<bool, Error>,
) -> Result<(TokenV2, Id), Error> {
    let tag = Tag::new(slot::tag(slot)).ok_or(Error::Internal)?;
    for _ in 0..MAX_DRAWS {
        let id = random::with(token::generate_id);
        if create(&id)? {
            let sig = token::sign_v2(mac, &tag, &id);
            return Ok((token::format_v2(&tag, &id, &sig), id));
        }
    }
    Err(Error::IdSpaceExhausted)
}
