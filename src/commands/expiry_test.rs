//! Test-only (cargo feature `no-abs-expire`, never in a release build): `SESSIONGATE.__EXPIREIN
//! <sign_key> <token> <ms>` makes the session end `ms` (a signed integer) milliseconds from
//! now through the same path as EXPIRE, so a test can aim at the boundary where the relative
//! expiry of servers without `SetAbsExpire` changes meaning (-1 is "no expiry").

use std::ffi::c_int;

use super::verified;
use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::strings::Args;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let offset: i64 = std::str::from_utf8(argv.bytes(3))
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Error::InvalidTtl)?;
    let (session, _) = token.open(ctx, true, None)?;
    session.expire_at(rm::milliseconds().saturating_add(offset))?;
    Ok(rm::reply_ok(ctx))
}
