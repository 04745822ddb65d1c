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
    let (_session, value) = token.open(ctx, false, Some(argv.str(3)))?;
    let value = value.ok_or(Error::NoPayload)?;
    stats::bump(Counter::PayloadGets);
    Ok(rm::reply_str(ctx, value.as_str()))
}
