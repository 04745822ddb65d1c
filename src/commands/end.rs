use std::ffi::c_int;

use super::verified;
use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::strings::Args;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let (session, _) = token.open(ctx, true, None)?;
    session.end();
    stats::bump(Counter::SessionsEnded);
    Ok(rm::reply_ok(ctx))
}
