//! The floor of `make bench` (DESIGN §6, BENCHMARKS.md): for each Session Gate command, a
//! command that makes only the module API calls it cannot do without, and none of Session
//! Gate's own work (no token, no HMAC, no redaction, no replication, no notification).
//! Loaded next to Session Gate by bench/run.py and bench/profile.sh; never shipped.
//!
//! Each command makes its key name with `CreateString` from argv[1], as Session Gate must (its
//! key is derived from the token, never an argument), and answers an error when it could not
//! do its work, so that a misconfigured benchmark fails instead of measuring errors.
//! Every `unsafe` block calls the module API with what Redis handed to the command or to load.

use std::ffi::{c_int, c_longlong, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::alloc::RedisAlloc;
use redis_module::{raw, redis_module, Context, RedisString, Status};

type Ctx = *mut raw::RedisModuleCtx;
type RStr = *mut raw::RedisModuleString;
type Key = *mut raw::RedisModuleKey;
type CmdFn = extern "C" fn(Ctx, *mut RStr, c_int) -> c_int;

const READ: c_int = raw::REDISMODULE_READ as c_int;
const WRITE: c_int = (raw::REDISMODULE_READ | raw::REDISMODULE_WRITE) as c_int;
const HASH: c_int = raw::REDISMODULE_KEYTYPE_HASH as c_int;
const EMPTY: c_int = raw::REDISMODULE_KEYTYPE_EMPTY as c_int;
const NONE: c_int = raw::REDISMODULE_HASH_NONE as c_int;
const OK: c_int = raw::REDISMODULE_OK as c_int;

/// FLOOR.START's field and value, as a session's: "" → 16 bytes. Made once at load.
static FIELD: AtomicPtr<raw::RedisModuleString> = AtomicPtr::new(null_mut());
static VALUE: AtomicPtr<raw::RedisModuleString> = AtomicPtr::new(null_mut());

/// Checks the arity, opens the key named by argv[1]'s bytes through a new string, runs `body`
/// with the arguments, the key and its name, then closes the key and frees the name.
unsafe fn with_key(
    ctx: Ctx,
    (argv, argc): (*mut RStr, c_int),
    arity: usize,
    mode: c_int,
    body: impl FnOnce(&[RStr], Key, RStr) -> c_int,
) -> c_int {
    if argc as usize != arity {
        return raw::RedisModule_WrongArity.unwrap()(ctx);
    }
    let argv = std::slice::from_raw_parts(argv, arity);
    let mut len = 0;
    let bytes = raw::RedisModule_StringPtrLen.unwrap()(argv[1], &mut len);
    let name = raw::RedisModule_CreateString.unwrap()(ctx, bytes, len);
    let key = raw::RedisModule_OpenKey.unwrap()(ctx, name, mode);
    let status = body(argv, key, name);
    raw::RedisModule_CloseKey.unwrap()(key);
    raw::RedisModule_FreeString.unwrap()(ctx, name);
    status
}

unsafe fn key_type(key: Key) -> c_int {
    raw::RedisModule_KeyType.unwrap()(key)
}

unsafe fn error(ctx: Ctx, msg: &CStr) -> c_int {
    raw::RedisModule_ReplyWithError.unwrap()(ctx, msg.as_ptr())
}

unsafe fn ok(ctx: Ctx) -> c_int {
    raw::RedisModule_ReplyWithSimpleString.unwrap()(ctx, c"OK".as_ptr())
}

/// Milliseconds from a decimal number of seconds ≥ 0.
unsafe fn millis(arg: RStr) -> Option<c_longlong> {
    let mut secs: c_longlong = 0;
    let parsed = raw::RedisModule_StringToLongLong.unwrap()(arg, &mut secs) == OK;
    (parsed && secs >= 0)
        .then(|| secs.checked_mul(1000))
        .flatten()
}

/// FLOOR.HGET key field: OpenKey (read), HashGet, ReplyWithString.
extern "C" fn hget(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_key(ctx, (argv, argc), 3, READ, |argv, key, _| {
            let mut value: RStr = null_mut();
            if key_type(key) == HASH {
                let get = raw::RedisModule_HashGet.unwrap();
                get(
                    key,
                    NONE,
                    argv[2],
                    &mut value as *mut RStr,
                    null_mut::<RStr>(),
                );
            }
            if value.is_null() {
                return error(ctx, c"ERR floor: no such hash field");
            }
            let status = raw::RedisModule_ReplyWithString.unwrap()(ctx, value);
            raw::RedisModule_FreeString.unwrap()(ctx, value);
            status
        })
    }
}

/// FLOOR.HSET key field value: OpenKey (write) of an existing hash, HashSet, OK.
extern "C" fn hset(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_key(ctx, (argv, argc), 4, WRITE, |argv, key, _| {
            if key_type(key) != HASH {
                return error(ctx, c"ERR floor: no such hash");
            }
            raw::RedisModule_HashSet.unwrap()(key, NONE, argv[2], argv[3], null_mut::<RStr>());
            ok(ctx)
        })
    }
}

/// FLOOR.EXPIRE key seconds: OpenKey (write) of an existing hash, SetExpire, OK.
extern "C" fn expire(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_key(ctx, (argv, argc), 3, WRITE, |argv, key, _| {
            let Some(ms) = millis(argv[2]) else {
                return error(ctx, c"ERR floor: bad seconds");
            };
            if key_type(key) != HASH || raw::RedisModule_SetExpire.unwrap()(key, ms) != OK {
                return error(ctx, c"ERR floor: no such hash");
            }
            ok(ctx)
        })
    }
}

/// FLOOR.START key ttl: OpenKey (write) of a new key, HashSet of "" → 16 bytes, SetExpire, the
/// key name as a bulk string.
extern "C" fn start(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_key(ctx, (argv, argc), 3, WRITE, |argv, key, name| {
            let Some(ms) = millis(argv[2]) else {
                return error(ctx, c"ERR floor: bad seconds");
            };
            // A random name may repeat: the earlier key is then overwritten, as HSET does.
            if key_type(key) != EMPTY && key_type(key) != HASH {
                return error(ctx, c"ERR floor: key of another type");
            }
            let (field, value) = (FIELD.load(Ordering::Relaxed), VALUE.load(Ordering::Relaxed));
            raw::RedisModule_HashSet.unwrap()(key, NONE, field, value, null_mut::<RStr>());
            raw::RedisModule_SetExpire.unwrap()(key, ms);
            raw::RedisModule_ReplyWithString.unwrap()(ctx, name)
        })
    }
}

const COMMANDS: [(&CStr, CmdFn, &CStr); 4] = [
    (c"floor.hget", hget, c"readonly fast"),
    (c"floor.hset", hset, c"write deny-oom fast"),
    (c"floor.expire", expire, c"write fast"),
    (c"floor.start", start, c"write deny-oom fast"),
];

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    unsafe {
        let create = raw::RedisModule_CreateString.unwrap();
        FIELD.store(create(null_mut(), c"".as_ptr(), 0), Ordering::Relaxed);
        VALUE.store(
            create(null_mut(), c"0123456789abcdef".as_ptr(), 16),
            Ordering::Relaxed,
        );
        for (name, func, flags) in COMMANDS {
            let register = raw::RedisModule_CreateCommand.unwrap();
            if register(ctx.ctx, name.as_ptr(), Some(func), flags.as_ptr(), 1, 1, 1) != OK {
                return Status::Err;
            }
        }
    }
    Status::Ok
}

redis_module! {
    name: "floor",
    version: 1,
    allocator: (RedisAlloc, RedisAlloc),
    data_types: [],
    init: init,
}
