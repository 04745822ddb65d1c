//! RENEW: the same session under a new id (signed with the new sign key when one is given):
//! every payload, the absolute expiry and the cap copied to a key drawn as START draws one,
//! then the old key deleted. The expiry is capped by the deadline again (a capped session made
//! persistent by a native PERSIST gets its deadline back); a session already past it ends.

use std::ffi::c_int;

use super::{start, verified};
use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache;
use crate::lifetime::{self, Meta};
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::store;
use crate::strings::Args;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    cluster::refuse_in_multi(ctx, Error::RenewInMulti)?;
    let token = verified::parse(argv)?;
    let new_sign_key = match argv.get(3) {
        Some(key) => {
            args::check_new_sign_key(key.bytes())?;
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
    let signer = match new_sign_key {
        Some(key) => keycache::sign_key(key),
        None => signer,
    };
    let meta = Meta::new(&signer.fingerprint, old.deadline);
    let payloads = old.payloads();
    let tok = start::new_token(ctx, &signer.mac, |slot, id| {
        store::create(ctx, slot, id, &meta, &payloads, expire_at)
    })?;
    old.end();
    stats::bump(Counter::SessionsRenewed);
    Ok(rm::reply_bytes(ctx, &tok))
}
