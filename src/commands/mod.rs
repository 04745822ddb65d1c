//! Command registration and the guard every handler runs in: redaction of the sign keys and
//! tokens, the arity check, counting, and a panic barrier so that no panic reaches Redis.

mod docs;
mod end;
mod expire;
#[cfg(feature = "no-abs-expire")]
mod expiry_test;
#[cfg(feature = "panic-test")]
mod panic_test;
mod pdel;
mod pget;
mod pgetall;
mod pset;
mod renew;
mod revoke;
mod sessions;
mod start;
mod startfor;
mod ttl;
mod verified;

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::stats;
use crate::strings::{Args, RStr};
use docs::Doc;

type Handler = fn(Ctx, Args<'_>) -> Result<c_int, Error>;

/// The fewest and most arguments of a command, its name included.
type Arity = (c_int, c_int);

/// Everything but the redaction runs inside `catch_unwind`; a caught panic is answered with
/// `rm::reply_error`, which cannot panic, unless a reply already open was completed while
/// unwinding. `secrets`: the positions of the sign keys and tokens (a token is a bearer
/// credential), hidden from MONITOR and SLOWLOG.
fn guard(
    ctx: Ctx,
    argv: *mut RStr,
    argc: c_int,
    arity: Arity,
    secrets: &[c_int],
    handler: Handler,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| run(ctx, argv, argc, arity, handler)));
    let replied_by_drop = rm::take_replied_by_drop();
    let status = match result {
        Ok(status) => status,
        Err(_) if replied_by_drop => rm::OK,
        Err(_) => rm::reply_error(ctx, &Error::Internal),
    };
    // Redact only once the handler is done with its arguments: Valkey 8.1 replaces argv[1]
    // itself with "(redacted)" (and frees the original), so a handler running after the call
    // would sign and verify with that constant instead of the caller's key. MONITOR and
    // SLOWLOG read the arguments after the command returns, so they still see the redaction.
    for &pos in secrets.iter().filter(|&&pos| pos < argc) {
        rm::redact(ctx, pos);
    }
    status
}

fn run(ctx: Ctx, argv: *mut RStr, argc: c_int, arity: Arity, handler: Handler) -> c_int {
    if argc < arity.0 || argc > arity.1 || argv.is_null() {
        return rm::wrong_arity(ctx);
    }
    // SAFETY: Redis passes argc argument strings that live, unchanged, until the command
    // returns; the guard redacts the sign keys (which replaces them on Valkey) only after `run`.
    let args = unsafe { Args::new(argv, argc as usize) };
    match handler(ctx, args) {
        Ok(status) => status,
        Err(e) => {
            if let Some(counter) = stats::rejection(&e) {
                stats::bump(counter);
            }
            rm::reply_error(ctx, &e)
        }
    }
}

macro_rules! command {
    ($fn_name:ident, $min:expr, $max:expr, $secrets:expr, $handler:path) => {
        extern "C" fn $fn_name(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
            guard(ctx, argv, argc, ($min, $max), $secrets, $handler)
        }
    };
    ($fn_name:ident, $arity:expr, $handler:path) => {
        command!($fn_name, $arity, $arity, &[1, 2], $handler);
    };
}

command!(start_cmd, 3, 4, &[1], start::run);
command!(renew_cmd, 3, 4, &[1, 2, 3], renew::run);
command!(expire_cmd, 4, expire::run);
command!(pset_cmd, 5, pset::run);
command!(pget_cmd, 4, pget::run);
command!(pdel_cmd, 4, pdel::run);
command!(end_cmd, 3, end::run);
command!(ttl_cmd, 3, ttl::run);
command!(pgetall_cmd, 3, pgetall::run);
command!(startfor_cmd, 4, 5, &[1], startfor::run);
command!(sessions_cmd, 3, c_int::MAX, &[1], sessions::run);
// argv[4]: the EXCEPT token (or, in a list of ids, the second id, which hides nothing).
command!(revoke_cmd, 3, c_int::MAX, &[1, 4], revoke::run);
#[cfg(feature = "panic-test")]
command!(panic_cmd, 3, panic_test::run);
#[cfg(feature = "panic-test")]
command!(panic_at_cmd, 3, panic_test::panic_at);
#[cfg(feature = "no-abs-expire")]
command!(expire_in_cmd, 4, expiry_test::run);

type CmdFn = extern "C" fn(Ctx, *mut RStr, c_int) -> c_int;

struct Command {
    name: &'static CStr,
    func: CmdFn,
    flags: &'static CStr,
    /// ACL categories, set where the server can (Redis 7.2+, Valkey); older servers give
    /// module commands none, so ACL rules name them one by one there.
    acl: &'static CStr,
    /// As COMMAND INFO shows it: -N for N or more arguments (the command name included).
    arity: c_int,
    doc: Doc,
}

/// The token, argv[2], is the only key of every command but START and RENEW; the owner, argv[2],
/// of the owner commands.
const COMMANDS: [Command; 12] = [
    Command {
        name: c"sessiongate.start",
        func: start_cmd,
        acl: c"write fast hash",
        flags: c"write deny-oom fast",
        arity: -3,
        doc: docs::START,
    },
    Command {
        name: c"sessiongate.renew",
        func: renew_cmd,
        acl: c"write hash",
        flags: c"write deny-oom",
        arity: -3,
        doc: docs::RENEW,
    },
    Command {
        name: c"sessiongate.expire",
        func: expire_cmd,
        acl: c"write fast hash",
        flags: c"write fast",
        arity: 4,
        doc: docs::EXPIRE,
    },
    Command {
        name: c"sessiongate.pset",
        func: pset_cmd,
        acl: c"write fast hash",
        flags: c"write deny-oom fast",
        arity: 5,
        doc: docs::PSET,
    },
    Command {
        name: c"sessiongate.pget",
        func: pget_cmd,
        acl: c"read fast hash",
        flags: c"readonly fast",
        arity: 4,
        doc: docs::PGET,
    },
    Command {
        name: c"sessiongate.pdel",
        func: pdel_cmd,
        acl: c"write fast hash",
        flags: c"write fast",
        arity: 4,
        doc: docs::PDEL,
    },
    Command {
        name: c"sessiongate.end",
        func: end_cmd,
        acl: c"write hash",
        flags: c"write",
        arity: 3,
        doc: docs::END,
    },
    Command {
        name: c"sessiongate.ttl",
        func: ttl_cmd,
        acl: c"read fast hash",
        flags: c"readonly fast",
        arity: 3,
        doc: docs::TTL_DOC,
    },
    Command {
        name: c"sessiongate.pgetall",
        func: pgetall_cmd,
        acl: c"read hash",
        flags: c"readonly",
        arity: 3,
        doc: docs::PGETALL,
    },
    Command {
        name: c"sessiongate.startfor",
        func: startfor_cmd,
        acl: c"write hash",
        flags: c"write deny-oom",
        arity: -4,
        doc: docs::STARTFOR,
    },
    Command {
        name: c"sessiongate.sessions",
        func: sessions_cmd,
        acl: c"read hash",
        flags: c"readonly",
        arity: -3,
        doc: docs::SESSIONS,
    },
    Command {
        name: c"sessiongate.revoke",
        func: revoke_cmd,
        acl: c"write hash",
        flags: c"write",
        arity: -3,
        doc: docs::REVOKE,
    },
];

/// Test builds only (feature `panic-test`): commands that make the module panic.
#[cfg(feature = "panic-test")]
const PANIC_TEST: &[Command] = &[
    Command {
        name: c"sessiongate.__panic",
        func: panic_cmd,
        acl: c"write",
        flags: c"write",
        arity: 3,
        doc: Doc {
            summary: c"Test only: panics with the session key open.",
            complexity: c"O(1)",
            args: &[],
            key_flags: docs::UPDATE,
        },
    },
    Command {
        name: c"sessiongate.__panicat",
        func: panic_at_cmd,
        acl: c"admin",
        flags: c"admin",
        arity: 3,
        doc: Doc {
            summary: c"Test only: makes the nth next arrival at a point in a callback panic.",
            complexity: c"O(1)",
            args: &[],
            key_flags: 0,
        },
    },
];
#[cfg(not(feature = "panic-test"))]
const PANIC_TEST: &[Command] = &[];

/// Test builds only (feature `no-abs-expire`): a session's end set in milliseconds from now.
#[cfg(feature = "no-abs-expire")]
const EXPIRY_TEST: &[Command] = &[Command {
    name: c"sessiongate.__expirein",
    func: expire_in_cmd,
    acl: c"write",
    flags: c"write",
    arity: 4,
    doc: Doc {
        summary: c"Test only: makes the session end a signed number of ms from now.",
        complexity: c"O(1)",
        args: &[],
        key_flags: docs::UPDATE,
    },
}];
#[cfg(not(feature = "no-abs-expire"))]
const EXPIRY_TEST: &[Command] = &[];

/// Registers every command; returns whether the server took their metadata too.
pub fn register(ctx: Ctx) -> Result<bool, String> {
    let mut documented = true;
    for c in COMMANDS.iter().chain(PANIC_TEST).chain(EXPIRY_TEST) {
        let key = if c.doc.key_flags == 0 { 0 } else { 2 };
        // SAFETY: all strings are NUL-terminated and static.
        let status = unsafe {
            raw::RedisModule_CreateCommand.unwrap()(
                ctx,
                c.name.as_ptr(),
                Some(c.func),
                c.flags.as_ptr(),
                key,
                key,
                c_int::from(key != 0),
            )
        };
        if status != rm::OK {
            return Err(format!("could not register {}", c.name.to_string_lossy()));
        }
        documented &= docs::set(ctx, c.name, c.arity, &c.doc);
        docs::set_acl_categories(ctx, c.name, c.acl);
    }
    Ok(documented)
}
