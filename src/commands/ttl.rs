use std::ffi::c_int;

use super::verified;
use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::strings::Args;

/// Seconds left, rounded as Redis' TTL rounds; -1 for a session someone made persistent.
pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let (session, _) = token.open(ctx, false, None)?;
    let ms = session.remaining_ms();
    let secs = if ms < 0 { -1 } else { (ms + 500) / 1000 };
    Ok(rm::reply_integer(ctx, secs))
}
