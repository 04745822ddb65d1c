use std::ffi::c_int;

use super::verified;
use crate::args;
use crate::errors::Error;
use crate::lifetime;
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::strings::Args;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let ttl = args::parse_ttl(argv.bytes(3))?;
    let now = rm::milliseconds();
    let expire_at = args::expire_at(now, ttl)?;
    let (session, _) = token.open(ctx, true, None)?;
    stats::bump(Counter::ExpiriesSet);
    let expire_at = lifetime::capped(expire_at, session.deadline);
    if ttl == 0 || expire_at <= now {
        session.end();
        stats::bump(Counter::SessionsEnded);
    } else {
        session.expire_at(expire_at)?;
    }
    Ok(rm::reply_ok(ctx))
}
