//! Test-only (cargo feature `panic-test`, never in a release build): `SESSIONGATE.__PANIC
//! <sign_key> <token>` verifies the token, opens its session for writing, then panics, so the
//! hardening tests can prove that the guard's panic barrier answers an error, closes the key
//! while unwinding and keeps Redis running.

use std::ffi::c_int;

use super::verified;
use crate::errors::Error;
use crate::rm::{Ctx, RStr};

pub fn run(ctx: Ctx, argv: &[RStr]) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let (_session, _) = token.open(ctx, true, None)?;
    panic!("sessiongate panic-test: deliberate panic with a session key open");
}
