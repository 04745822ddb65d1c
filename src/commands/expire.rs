use std::ffi::c_int;

use super::verified;
use crate::args;
use crate::errors::Error;
use crate::rm::{self, bytes, Ctx, RStr};

pub fn run(ctx: Ctx, argv: &[RStr]) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let ttl = args::parse_ttl(bytes(argv[3]))?;
    let expire_at = args::expire_at(rm::milliseconds(), ttl)?;
    let (session, _) = token.open(ctx, true, None)?;
    if ttl == 0 {
        session.end();
    } else {
        session.expire_at(expire_at);
    }
    Ok(rm::reply_ok(ctx))
}
