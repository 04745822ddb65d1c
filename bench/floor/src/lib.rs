//! The floor of `make bench` (DESIGN §6, BENCHMARKS.md): for each Session Gate command it
//! measures, a command that receives the same arguments (sign key, 84-byte token, payload
//! name, ...), checks the token's shape and makes the session key from it exactly as Session
//! Gate does (the same source files: token parsing and hex, the CRC16 slot, the slot's tag, the
//! key name), opens the key and does the one key-API action, and nothing else: no HMAC, no
//! fingerprint field, no redaction, no replication, no notification, no counters, no panic
//! guard. Loaded next to Session Gate by bench/run.py and bench/profile.sh; never shipped.
//!
//! Each command answers an error when it could not do its work, so that a misconfigured
//! benchmark fails instead of measuring errors. Every `unsafe` block calls the module API with
//! what Redis handed to the command or to load.

// Session Gate's own pure code, compiled into the floor as it is into the module; the floor
// uses only part of it.
#[allow(dead_code)]
#[path = "../../../src/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "../../../src/errors.rs"]
mod errors;
#[allow(dead_code)]
#[path = "../../../src/mac.rs"]
mod mac;
#[allow(dead_code)]
#[path = "../../../src/slot.rs"]
mod slot;
#[allow(dead_code)]
#[path = "../../../src/token.rs"]
mod token;

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

unsafe fn bytes<'a>(s: RStr) -> &'a [u8] {
    let mut len = 0;
    let ptr = raw::RedisModule_StringPtrLen.unwrap()(s, &mut len);
    std::slice::from_raw_parts(ptr.cast(), len)
}

/// Opens the session key of `slot` and `id` (made as Session Gate makes it, into a new module
/// string), runs `body` with the key and its name, then closes the key and frees the name.
unsafe fn with_session_key(
    ctx: Ctx,
    slot: u16,
    id: &token::Id,
    mode: c_int,
    body: impl FnOnce(Key, RStr) -> c_int,
) -> c_int {
    let mut buf = [0u8; slot::MAX_KEY_LEN];
    let n = slot::session_key(slot, id, &mut buf);
    let name = raw::RedisModule_CreateString.unwrap()(ctx, buf.as_ptr().cast(), n);
    let key = raw::RedisModule_OpenKey.unwrap()(ctx, name, mode);
    let status = body(key, name);
    raw::RedisModule_CloseKey.unwrap()(key);
    raw::RedisModule_FreeString.unwrap()(ctx, name);
    status
}

/// A token command's common part: the arity, the token's shape (argv[2]), its slot and key.
unsafe fn with_token_key(
    ctx: Ctx,
    (argv, argc): (*mut RStr, c_int),
    arity: usize,
    mode: c_int,
    body: impl FnOnce(&[RStr], Key) -> c_int,
) -> c_int {
    if argc as usize != arity {
        return raw::RedisModule_WrongArity.unwrap()(ctx);
    }
    let argv = std::slice::from_raw_parts(argv, arity);
    let raw_token = bytes(argv[2]);
    let Ok(parsed) = token::parse(raw_token) else {
        return error(ctx, c"ERR floor: the token has not the shape of one");
    };
    let slot = slot::token_slot(raw_token);
    with_session_key(ctx, slot, &parsed.id, mode, |key, _| body(argv, key))
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

/// The absolute end, in Unix ms, of a ttl argument given now, as Session Gate computes it.
unsafe fn expire_at(arg: RStr) -> Option<c_longlong> {
    let ttl = args::parse_ttl(bytes(arg)).ok()?;
    args::expire_at(raw::RedisModule_Milliseconds.unwrap()(), ttl).ok()
}

unsafe fn set_expire_at(key: Key, at_ms: c_longlong) -> c_int {
    match raw::RedisModule_SetAbsExpire {
        Some(set_abs) => set_abs(key, at_ms),
        None => raw::RedisModule_SetExpire.unwrap()(
            key,
            at_ms - raw::RedisModule_Milliseconds.unwrap()(),
        ),
    }
}

/// FLOOR.PGET sign_key token payload_name: HashGet of one field, ReplyWithString.
extern "C" fn pget(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_token_key(ctx, (argv, argc), 4, READ, |argv, key| {
            let mut value: RStr = null_mut();
            if key_type(key) == HASH {
                let get = raw::RedisModule_HashGet.unwrap();
                get(
                    key,
                    NONE,
                    argv[3],
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

/// FLOOR.PSET sign_key token payload_name payload_data: HashSet of an existing hash, OK.
extern "C" fn pset(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_token_key(ctx, (argv, argc), 5, WRITE, |argv, key| {
            if key_type(key) != HASH {
                return error(ctx, c"ERR floor: no such hash");
            }
            raw::RedisModule_HashSet.unwrap()(key, NONE, argv[3], argv[4], null_mut::<RStr>());
            ok(ctx)
        })
    }
}

/// FLOOR.EXPIRE sign_key token ttl: SetAbsExpire of an existing hash at now + ttl, OK.
extern "C" fn expire(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        with_token_key(ctx, (argv, argc), 4, WRITE, |argv, key| {
            let Some(at) = expire_at(argv[3]) else {
                return error(ctx, c"ERR floor: bad ttl");
            };
            if key_type(key) != HASH || set_expire_at(key, at) != OK {
                return error(ctx, c"ERR floor: no such hash");
            }
            ok(ctx)
        })
    }
}

/// FLOOR.START sign_key ttl: an id drawn as START draws it, the token's shape with a constant
/// signature (no HMAC), its slot and key; HashSet of "" → 16 bytes into the new key and
/// SetAbsExpire; the token as a bulk string.
extern "C" fn start(ctx: Ctx, argv: *mut RStr, argc: c_int) -> c_int {
    unsafe {
        if argc != 3 {
            return raw::RedisModule_WrongArity.unwrap()(ctx);
        }
        let argv = std::slice::from_raw_parts(argv, 3);
        let Some(at) = expire_at(argv[2]) else {
            return error(ctx, c"ERR floor: bad ttl");
        };
        let mut rng = rand::thread_rng();
        loop {
            let id = token::generate_id(&mut rng);
            let tok = token::format(&id, &[0; token::SIG_LEN]);
            let slot = slot::token_slot(&tok);
            let created = with_session_key(ctx, slot, &id, WRITE, |key, _| {
                if key_type(key) != EMPTY {
                    return 0;
                }
                let (field, value) = (FIELD.load(Ordering::Relaxed), VALUE.load(Ordering::Relaxed));
                raw::RedisModule_HashSet.unwrap()(key, NONE, field, value, null_mut::<RStr>());
                set_expire_at(key, at);
                1
            });
            if created == 1 {
                return raw::RedisModule_ReplyWithStringBuffer.unwrap()(
                    ctx,
                    tok.as_ptr().cast(),
                    tok.len(),
                );
            }
        }
    }
}

/// Name, function, flags and declared key (argv index, 0 for none), as Session Gate's.
const COMMANDS: [(&CStr, CmdFn, &CStr, c_int); 4] = [
    (c"floor.pget", pget, c"readonly fast", 2),
    (c"floor.pset", pset, c"write deny-oom fast", 2),
    (c"floor.expire", expire, c"write fast", 2),
    (c"floor.start", start, c"write deny-oom fast", 0),
];

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    slot::init();
    unsafe {
        let create = raw::RedisModule_CreateString.unwrap();
        FIELD.store(create(null_mut(), c"".as_ptr(), 0), Ordering::Relaxed);
        VALUE.store(
            create(null_mut(), c"0123456789abcdef".as_ptr(), 16),
            Ordering::Relaxed,
        );
        for (name, func, flags, key) in COMMANDS {
            let register = raw::RedisModule_CreateCommand.unwrap();
            let step = c_int::from(key != 0);
            if register(
                ctx.ctx,
                name.as_ptr(),
                Some(func),
                flags.as_ptr(),
                key,
                key,
                step,
            ) != OK
            {
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
