use std::ffi::c_int;

use super::verified;
use crate::args;
use crate::config;
use crate::errors::Error;
use crate::rm::{self, bytes, Ctx, RStr};
use crate::stats::{self, Counter};

pub fn run(ctx: Ctx, argv: &[RStr]) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    args::check_payload_name(bytes(argv[3]), config::max_payload_name())?;
    args::check_payload_data(bytes(argv[4]), config::max_payload_data())?;
    let (session, _) = token.open(ctx, true, None)?;
    session.set(argv[3], argv[4])?;
    stats::bump(Counter::PayloadSets);
    Ok(rm::reply_ok(ctx))
}
