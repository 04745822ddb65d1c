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
    args::check_payload_data(argv.bytes(4), config::max_payload_data())?;
    let (session, _) = token.open(ctx, true, None)?;
    session.set(argv.str(3), argv.str(4))?;
    stats::bump(Counter::PayloadSets);
    Ok(rm::reply_ok(ctx))
}
