use std::ffi::c_int;

use super::verified;
use crate::errors::Error;
use crate::rm::{self, Ctx, RStr};
use crate::stats::{self, Counter};

pub fn run(ctx: Ctx, argv: &[RStr]) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let (session, _) = token.open(ctx, true, None)?;
    session.end();
    stats::bump(Counter::SessionsEnded);
    Ok(rm::reply_ok(ctx))
}
