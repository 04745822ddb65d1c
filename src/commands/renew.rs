//! RENEW: the same session under a new id (signed with the new sign key when one is given):
//! every payload, the absolute expiry and the cap copied to a key drawn as START draws one,
//! then the old key deleted.

use std::ffi::c_int;

use super::{start, verified};
use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache;
use crate::lifetime::Meta;
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
    let (fingerprint, mac) = token.verify_signer()?;
    cluster::route(ctx, token.slot(), argv.bytes(2))?;
    let (old, _) = token.open_verified(ctx, &fingerprint, true, None)?;

    let (mac, new_fingerprint) = match new_sign_key {
        Some(key) => keycache::with_sign_key(key, |k| (k.mac.clone(), k.fingerprint)),
        None => (mac, fingerprint),
    };
    let meta = Meta::new(&new_fingerprint, old.deadline);
    let expire_at = old.expires_at_ms();
    let payloads = old.payloads();
    let tok = start::new_token(ctx, &mac, |slot, id| {
        store::create(ctx, slot, id, &meta, &payloads, expire_at)
    })?;
    old.end();
    stats::bump(Counter::SessionsRenewed);
    Ok(rm::reply_bytes(ctx, &tok))
}
