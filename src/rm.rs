//! Thin, allocation-free wrappers over the raw Redis module API used by the handlers.

use std::cell::Cell;
use std::ffi::{c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;

use crate::errors::Error;
use crate::strings::Str;

pub type Ctx = *mut raw::RedisModuleCtx;

pub const OK: c_int = raw::REDISMODULE_OK as c_int;
pub const ERR: c_int = raw::REDISMODULE_ERR as c_int;

pub fn milliseconds() -> i64 {
    // SAFETY: a plain call with no arguments.
    unsafe { raw::RedisModule_Milliseconds.unwrap()() }
}

pub fn reply_ok(ctx: Ctx) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_ReplyWithSimpleString.unwrap()(ctx, c"OK".as_ptr()) }
}

pub fn reply_bytes(ctx: Ctx, data: &[u8]) -> c_int {
    // SAFETY: the reply copies the buffer.
    unsafe {
        raw::RedisModule_ReplyWithStringBuffer.unwrap()(ctx, data.as_ptr().cast(), data.len())
    }
}

pub fn reply_str(ctx: Ctx, s: Str<'_>) -> c_int {
    // SAFETY: s is live for the call.
    unsafe { raw::RedisModule_ReplyWithString.unwrap()(ctx, s.ptr()) }
}

pub fn reply_integer(ctx: Ctx, n: i64) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, n) }
}

/// Opens an array reply of `len` elements, which the caller then sends.
pub fn reply_array(ctx: Ctx, len: usize) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_ReplyWithArray.unwrap()(ctx, len as std::ffi::c_long) }
}

/// A null reply (RESP2: the null bulk string).
pub fn reply_null(ctx: Ctx) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_ReplyWithNull.unwrap()(ctx) }
}

/// A map reply whose length is set once its pairs are written: a RESP3 map where the server
/// has map replies, else (Redis 6.x, RESP2 clients) a flat array.
///
/// Dropped before `finish` (a panic unwinding), it ends the reply with the internal error as
/// its last element and closes it as an array, so the client still gets exactly one
/// well-formed reply; the command guard then adds none (see `take_replied_by_drop`).
pub struct PostponedMap {
    ctx: Ctx,
    map: bool,
    elements: usize,
    closed: bool,
}

impl PostponedMap {
    pub fn begin(ctx: Ctx) -> PostponedMap {
        let len = raw::REDISMODULE_POSTPONED_LEN as std::ffi::c_long;
        // SAFETY: ctx is the command's context; reads function pointers set at load.
        let map = unsafe {
            match (
                raw::RedisModule_ReplyWithMap,
                raw::RedisModule_ReplySetMapLength,
            ) {
                (Some(with_map), Some(_)) => {
                    with_map(ctx, len);
                    true
                }
                _ => {
                    raw::RedisModule_ReplyWithArray.unwrap()(ctx, len);
                    false
                }
            }
        };
        PostponedMap {
            ctx,
            map,
            elements: 0,
            closed: false,
        }
    }

    /// Adds one element: a name, then its data, and so on.
    pub fn push(&mut self, s: Str<'_>) {
        reply_str(self.ctx, s);
        self.elements += 1;
    }

    pub fn finish(mut self) -> c_int {
        // SAFETY: closes the postponed reply opened by `begin`.
        unsafe {
            if self.map {
                raw::RedisModule_ReplySetMapLength.unwrap()(
                    self.ctx,
                    (self.elements / 2) as std::ffi::c_long,
                );
            } else {
                raw::RedisModule_ReplySetArrayLength.unwrap()(
                    self.ctx,
                    self.elements as std::ffi::c_long,
                );
            }
        }
        self.closed = true;
        OK
    }
}

impl Drop for PostponedMap {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // A postponed reply is a placeholder of no type yet: closing it as an array is valid
        // for one opened as a map.
        // SAFETY: reads a function pointer set once at load.
        if let Some(set_len) = unsafe { raw::RedisModule_ReplySetArrayLength } {
            reply_error(self.ctx, &Error::Internal);
            // SAFETY: ctx is the command's context; the placeholder opened by `begin` is open.
            unsafe { set_len(self.ctx, (self.elements + 1) as std::ffi::c_long) };
            REPLIED_BY_DROP.with(|r| r.set(true));
        }
    }
}

thread_local! {
    static REPLIED_BY_DROP: Cell<bool> = const { Cell::new(false) };
}

/// Whether a `PostponedMap` dropped unfinished completed the reply since the last call: the
/// guard then must not answer again.
pub fn take_replied_by_drop() -> bool {
    REPLIED_BY_DROP.with(|r| r.replace(false))
}

/// Runs `f`, or returns `fallback` if it panics: the body of every callback Redis calls
/// outside a command (a panic must never unwind into C; with Rust 1.81+ it aborts Redis).
pub fn no_unwind<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Makes the module's panics (all caught, see `no_unwind` and the command guard) go to the
/// server's log as one warning, instead of std's default hook, which writes to stderr and calls
/// `std::thread::current`, whose thread-local destructor would keep the module's shared object
/// mapped after MODULE UNLOAD. Only a panic's static message is logged: a formatted one could
/// hold request data (sign keys, tokens, payloads are never logged).
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or("(formatted message not logged)");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        log_warning(&format!("sessiongate: caught a panic{at}: {what}"));
    }));
}

/// One warning line in the server's log (no context needed).
pub fn log_warning(msg: &str) {
    let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: reads a function pointer set once at load; "%s" takes the one C string.
    if let Some(log) = unsafe { raw::RedisModule_Log } {
        unsafe {
            log(
                std::ptr::null_mut(),
                c"warning".as_ptr(),
                c"%s".as_ptr(),
                msg.as_ptr(),
            )
        };
    }
}

/// Has no step that can panic: the guard answers caught panics with it. With error codes on
/// (`errors::codes`), the code word goes before the text in the same buffer.
pub fn reply_error(ctx: Ctx, e: &Error) -> c_int {
    // SAFETY: reads a function pointer set once at load.
    let Some(reply) = (unsafe { raw::RedisModule_ReplyWithError }) else {
        return ERR;
    };
    let msg = e.message();
    let code = e.prefix(&msg, crate::errors::codes()).unwrap_or("");
    let sep = if code.is_empty() { "" } else { " " };
    // Every message fits this buffer, so the fixed messages reply without allocating. (Messages
    // hold no NUL.)
    let mut buf = [0u8; 256];
    let len = code.len() + sep.len() + msg.len();
    if len < buf.len() {
        let mut at = 0;
        for part in [code, sep, &msg] {
            buf[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        // SAFETY: buf is NUL-terminated (zeroed past the message) and outlives the call.
        return unsafe { reply(ctx, buf.as_ptr().cast()) };
    }
    let msg = CString::new(format!("{code}{sep}{msg}")).unwrap_or_default();
    // SAFETY: msg is NUL-terminated and outlives the call.
    unsafe { reply(ctx, msg.as_ptr()) }
}

pub fn wrong_arity(ctx: Ctx) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_WrongArity.unwrap()(ctx) }
}

/// Hides argument `pos` from MONITOR and SLOWLOG where the server can (Redis 7.0+, Valkey).
pub fn redact(ctx: Ctx, pos: c_int) {
    // SAFETY: called from within a command, with pos < argc.
    if let Some(f) = unsafe { raw::RedisModule_RedactClientCommandArgument } {
        unsafe { f(ctx, pos) };
    }
}

pub fn can_redact() -> bool {
    // SAFETY: reads a function pointer set once at load.
    unsafe { (*std::ptr::addr_of!(raw::RedisModule_RedactClientCommandArgument)).is_some() }
}

/// Cannot panic, like `replicate!`: nothing may interrupt a write and its propagation.
pub fn notify(ctx: Ctx, class: c_int, event: &CStr, key: Str<'_>) {
    // SAFETY: reads a function pointer set once at load.
    if let Some(notify) = unsafe { raw::RedisModule_NotifyKeyspaceEvent } {
        // SAFETY: event is NUL-terminated; key is live.
        unsafe { notify(ctx, class, event.as_ptr(), key.ptr()) };
    }
}

/// Propagates one native command to replicas and the AOF. `fmt` follows RedisModule_Replicate.
/// Has no step that can panic, so a write is never left unpropagated by one.
macro_rules! replicate {
    ($ctx:expr, $cmd:expr, $fmt:expr $(, $arg:expr)*) => {
        // SAFETY: reads a function pointer set once at load.
        if let Some(replicate) = unsafe { redis_module::raw::RedisModule_Replicate } {
            // SAFETY: the format string matches the arguments that follow it.
            unsafe { replicate($ctx, $cmd.as_ptr(), $fmt.as_ptr() $(, $arg)*) };
        }
    };
}
pub(crate) use replicate;
