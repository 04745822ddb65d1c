use std::ffi::c_int;

use super::verified;
use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::strings::Args;

/// Every payload as HGETALL answers: a map in RESP3, a flat name/data array in RESP2.
pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let (session, _) = token.open(ctx, false, None)?;
    let mut reply = rm::PostponedMap::begin(ctx);
    session.for_each_payload(|name, data| {
        reply.push(name);
        reply.push(data);
    });
    stats::bump(Counter::PayloadGets);
    Ok(reply.finish())
}
