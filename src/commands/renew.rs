//! RENEW: the same session under a new id (signed with the new sign key when one is given):
//! every payload, the absolute expiry and the cap copied to a key drawn as START draws one,
//! then the old key deleted. An owned session stays in its owner's slot (same tag, same
//! owner and creation time), and its owner's index lists the new id instead of the old. The
//! expiry is capped by the deadline again (a capped session made persistent by a native PERSIST
//! gets its deadline back); a session already past it ends.

use std::ffi::c_int;

use super::{start, startfor, verified};
use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache::{self, SignKey};
use crate::lifetime::{self, Meta};
use crate::owners::{OwnedMeta, Owner};
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::store::{self, Index, Session};
use crate::strings::Args;
use crate::token;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    cluster::refuse_in_multi(ctx, Error::RenewInMulti)?;
    let token = verified::parse(argv)?;
    let new_sign_key = match argv.get(3) {
        Some(key) => {
            args::check_new_sign_key(key.bytes())?;
            // The owner's index is keyed by the sign key that started the session.
            if token.owned() {
                return Err(Error::OwnedNewSignKey);
            }
            Some(key.bytes())
        }
        None => None,
    };
    let signer = token.verify_signer()?;
    cluster::route(ctx, token.slot())?;
    let (old, _) = token.open_verified(ctx, &signer.fingerprint, true, None)?;
    let expire_at = lifetime::capped_expiry(old.expires_at_ms(), old.deadline);
    if expire_at.is_some_and(|at| at <= rm::milliseconds()) {
        old.end();
        stats::bump(Counter::SessionsEnded);
        return Err(Error::NoSession);
    }
    if let Some(owner) = old.owner {
        let tok = renew_owned(ctx, &signer, &old, owner, token.slot(), expire_at)?;
        stats::bump(Counter::SessionsRenewed);
        return Ok(rm::reply_bytes(ctx, tok.as_bytes()));
    }

    let signer = match new_sign_key {
        Some(key) => keycache::sign_key(key),
        None => signer,
    };
    let meta = Meta::new(&signer.fingerprint, old.deadline);
    let payloads = old.payloads();
    let tok = start::new_token(ctx, &signer.mac, |slot, id| {
        store::create(ctx, slot, id, meta.as_bytes(), &payloads, expire_at)
    })?;
    old.end();
    stats::bump(Counter::SessionsRenewed);
    Ok(rm::reply_bytes(ctx, &tok))
}

/// RENEW of an owned session: a new id in the same slot (only there do its token and its
/// owner's index route), listed in the index in the old one's place.
fn renew_owned(
    ctx: Ctx,
    signer: &SignKey,
    old: &Session,
    owner: Owner,
    slot: u16,
    expire_at: Option<i64>,
) -> Result<token::TokenV2, Error> {
    // As START never draws a slot in transit, a renewed session is never created in one.
    if cluster::slot_in_transit(ctx, slot) {
        return Err(Error::OwnerMoving);
    }
    let index = Index::open(ctx, slot, &owner.digest, true)?;
    let meta = OwnedMeta::new(&Meta::new(&signer.fingerprint, old.deadline), &owner);
    let payloads = old.payloads();
    let (tok, id) = startfor::new_owned_token(&signer.mac, slot, |id| {
        store::create(ctx, slot, id, meta.as_bytes(), &payloads, expire_at)
    })?;
    index.keep(&id, owner.created_ms, expire_at)?;
    old.unlink();
    index.remove(old.id());
    Ok(tok)
}
