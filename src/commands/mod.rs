//! Command registration and the guard every handler runs in: redaction of the sign key, the
//! arity check, and a panic barrier so that no panic reaches Redis.

mod end;
mod expire;
#[cfg(feature = "panic-test")]
mod panic_test;
mod pdel;
mod pget;
mod pset;
mod start;
mod verified;

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use crate::errors::Error;
use crate::rm::{self, Ctx, RStr};

type Handler = fn(Ctx, &[RStr]) -> Result<c_int, Error>;

fn guard(ctx: Ctx, argv: *mut RStr, argc: c_int, arity: usize, handler: Handler) -> c_int {
    if argc > 1 {
        rm::redact(ctx, 1);
    }
    if argc < 0 || argc as usize != arity || argv.is_null() {
        return rm::wrong_arity(ctx);
    }
    // SAFETY: Redis passes argc valid argument pointers.
    let args = unsafe { std::slice::from_raw_parts(argv, argc as usize) };
    match catch_unwind(AssertUnwindSafe(|| handler(ctx, args))) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => rm::reply_error(ctx, &e),
        Err(_) => rm::reply_error(ctx, &Error::Internal),
    }
}

macro_rules! command {
    ($fn_name:ident, $arity:expr, $handler:path) => {
        extern "C" fn $fn_name(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
            guard(ctx, argv, argc, $arity, $handler)
        }
    };
}

command!(start_cmd, 3, start::run);
command!(expire_cmd, 4, expire::run);
command!(pset_cmd, 5, pset::run);
command!(pget_cmd, 4, pget::run);
command!(pdel_cmd, 4, pdel::run);
command!(end_cmd, 3, end::run);
#[cfg(feature = "panic-test")]
command!(panic_cmd, 3, panic_test::run);

type CmdFn = extern "C" fn(Ctx, *mut RStr, c_int) -> c_int;

/// name, function, flags, first key (0: keyless). The token, argv[2], is the only key.
const COMMANDS: [(&CStr, CmdFn, &CStr, c_int); 6] = [
    (c"sessiongate.start", start_cmd, c"write deny-oom fast", 0),
    (c"sessiongate.expire", expire_cmd, c"write fast", 2),
    (c"sessiongate.pset", pset_cmd, c"write deny-oom fast", 2),
    (c"sessiongate.pget", pget_cmd, c"readonly fast", 2),
    (c"sessiongate.pdel", pdel_cmd, c"write fast", 2),
    (c"sessiongate.end", end_cmd, c"write", 2),
];

pub fn register(ctx: Ctx) -> Result<(), String> {
    #[cfg(feature = "panic-test")]
    let commands =
        COMMANDS
            .into_iter()
            .chain([(c"sessiongate.__panic", panic_cmd as CmdFn, c"write", 2)]);
    #[cfg(not(feature = "panic-test"))]
    let commands = COMMANDS;
    for (name, func, flags, key) in commands {
        // SAFETY: all strings are NUL-terminated and static.
        let status = unsafe {
            raw::RedisModule_CreateCommand.unwrap()(
                ctx,
                name.as_ptr(),
                Some(func),
                flags.as_ptr(),
                key,
                key,
                c_int::from(key != 0),
            )
        };
        if status != rm::OK {
            return Err(format!("could not register {}", name.to_string_lossy()));
        }
    }
    Ok(())
}
