//! Test-only (cargo feature `panic-test`, never in a release build): commands that make the
//! module panic, so the hardening tests can prove every panic barrier.
//!
//! - `SESSIONGATE.__PANIC <sign_key> <token>` verifies the token, opens its session for
//!   writing, then panics: the guard must answer an error, close the key while unwinding and
//!   keep Redis running.
//! - `SESSIONGATE.__PANICAT <point> <nth>` makes the `nth` next arrival at a point inside a
//!   callback Redis calls panic (`scankey`: PGETALL's ScanKey callback; `info`: the INFO
//!   callback; `config-get`, `config-set`: the module configs' callbacks).

use std::ffi::c_int;

use redis_module::raw;

use super::verified;
use crate::args;
use crate::errors::Error;
use crate::panic_hooks::{self, Point};
use crate::rm::{self, Ctx};
use crate::strings::Args;

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let token = verified::parse(argv)?;
    let (_session, _) = token.open(ctx, true, None)?;
    panic!("sessiongate panic-test: deliberate panic with a session key open");
}

pub fn panic_at(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let point = match argv.bytes(1) {
        b"scankey" => Point::ScanKey,
        b"info" => Point::Info,
        b"config-get" => Point::ConfigGet,
        b"config-set" => Point::ConfigSet,
        // SAFETY: ctx is the command's context; the message is a static C string.
        _ => {
            return Ok(unsafe {
                raw::RedisModule_ReplyWithError.unwrap()(ctx, c"ERR no such point".as_ptr())
            })
        }
    };
    let nth = u32::try_from(args::parse_ttl(argv.bytes(2))?).map_err(|_| Error::InvalidTtl)?;
    panic_hooks::arm(point, nth);
    Ok(rm::reply_ok(ctx))
}
