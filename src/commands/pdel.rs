use std::ffi::c_int;

use super::verified;
use crate::args;
use crate::config;
use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::strings::Args;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    args::check_payload_name(argv.bytes(3), config::max_payload_name())?;
    let (session, _) = token.open(ctx, true, None)?;
    if !session.delete(argv.str(3)) {
        return Err(Error::NoPayload);
    }
    stats::bump(Counter::PayloadDeletes);
    Ok(rm::reply_ok(ctx))
}
