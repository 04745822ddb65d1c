//! The one place that reads and writes session hashes and replicates what it wrote.
//!
//! A session is the hash `sessiongate:{<tag>}:<id>`: field "" holds the sign key's
//! fingerprint (and the deadline of a capped session, see `lifetime`), every other field is a
//! payload; the key's TTL is the session's lifetime.
//! Every write is propagated as a native command (HSET, HDEL, PEXPIREAT, UNLINK).

use std::any::Any;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::raw;
use subtle::ConstantTimeEq;

use crate::cluster;
use crate::errors::Error;
use crate::expiry::{self, Expiry};
use crate::keycache::FINGERPRINT_LEN;
use crate::lifetime::{self, Meta};
use crate::rm::{self, replicate, Ctx};
use crate::slot;
use crate::strings::{OwnedStr, RStr, Str};
use crate::token::Id;

/// The empty field name of the fingerprint, as a module string made once at load.
static META_FIELD: AtomicPtr<raw::RedisModuleString> = AtomicPtr::new(ptr::null_mut());

pub fn init() {
    // Made with no context, so Redis never frees it: it lives as long as the process.
    // SAFETY: CreateString copies zero bytes from a valid pointer.
    let s = unsafe { raw::RedisModule_CreateString.unwrap()(ptr::null_mut(), c"".as_ptr(), 0) };
    META_FIELD.store(s, Ordering::Release);
}

fn meta_field() -> Str<'static> {
    // SAFETY: made at load and never freed.
    unsafe { Str::from_raw(META_FIELD.load(Ordering::Acquire)) }
}

pub struct Session {
    ctx: Ctx,
    key: *mut raw::RedisModuleKey,
    name: OwnedStr,
    /// The absolute deadline (Unix ms) of a capped session.
    pub deadline: Option<i64>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the key was opened by us and is closed once.
        unsafe { raw::RedisModule_CloseKey.unwrap()(self.key) }
    }
}

fn open(ctx: Ctx, slot: u16, id: &Id, write: bool) -> Session {
    let mut buf = [0u8; slot::MAX_KEY_LEN];
    let n = slot::session_key(slot, id, &mut buf);
    let name = OwnedStr::new(ctx, &buf[..n]);
    let mode = if write {
        raw::REDISMODULE_READ | raw::REDISMODULE_WRITE
    } else {
        raw::REDISMODULE_READ
    };
    // SAFETY: name is a live module string.
    let key = unsafe { raw::RedisModule_OpenKey.unwrap()(ctx, name.as_str().ptr(), mode as c_int) };
    Session {
        ctx,
        key,
        name,
        deadline: None,
    }
}

/// Opens the live session `id` of this sign key, reading the payload `field` in the same
/// lookup when asked.
pub fn open_session(
    ctx: Ctx,
    slot: u16,
    id: &Id,
    fingerprint: &[u8; FINGERPRINT_LEN],
    write: bool,
    field: Option<Str<'_>>,
) -> Result<(Session, Option<OwnedStr>), Error> {
    let mut s = open(ctx, slot, id, write);
    // SAFETY: s.key is open.
    let kind = unsafe { raw::RedisModule_KeyType.unwrap()(s.key) };
    if kind != raw::REDISMODULE_KEYTYPE_HASH as c_int {
        return Err(cluster::missing_session(ctx, slot));
    }
    let mut meta: RStr = ptr::null_mut();
    let mut value: RStr = ptr::null_mut();
    // SAFETY: NULL-terminated list of (field, out) pairs of module strings.
    unsafe {
        match field {
            Some(f) => raw::RedisModule_HashGet.unwrap()(
                s.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                meta_field().ptr(),
                &mut meta as *mut RStr,
                f.ptr(),
                &mut value as *mut RStr,
                ptr::null_mut::<RStr>(),
            ),
            None => raw::RedisModule_HashGet.unwrap()(
                s.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                meta_field().ptr(),
                &mut meta as *mut RStr,
                ptr::null_mut::<RStr>(),
            ),
        };
    }
    // SAFETY: HashGet hands us one reference to each string it found, null for the others.
    let (meta, value) = unsafe { (OwnedStr::adopt(ctx, meta), OwnedStr::adopt(ctx, value)) };
    let Some(meta) = meta else {
        return Err(Error::NoSession);
    };
    match lifetime::decode(meta.bytes()) {
        Some((fp, deadline)) if bool::from(fp.ct_eq(fingerprint)) => s.deadline = deadline,
        _ => return Err(Error::ForeignSession),
    }
    Ok((s, value))
}

/// Creates the session `id` unless its key is taken (`Ok(false)`): the meta field, the
/// `payloads` (another session's, see `Session::payloads`) and the expiry, if any. A session
/// whose end has already come is not stored (START answers its token, as for ttl 0).
pub fn create(
    ctx: Ctx,
    slot: u16,
    id: &Id,
    meta: &Meta,
    payloads: &Payloads,
    expire_at_ms: Option<i64>,
) -> Result<bool, Error> {
    let s = open(ctx, slot, id, true);
    // SAFETY: s.key is open for writing.
    if unsafe { raw::RedisModule_KeyType.unwrap()(s.key) }
        != raw::REDISMODULE_KEYTYPE_EMPTY as c_int
    {
        return Ok(false);
    }
    let expiry = expire_at_ms.map(|at| s.plan_expiry(at));
    if expiry == Some(Expiry::Now) {
        return Ok(true);
    }
    let meta = meta.as_bytes();
    let meta_value = OwnedStr::new(ctx, meta);
    let written = s.hash_set(meta_field(), meta_value.as_str())
        && payloads.pairs().all(|(name, data)| s.hash_set(name, data));
    if !written || expiry.is_some_and(|e| !s.set_expiry(e)) {
        // Never leave a half session or one without an end: take back the key, replicate
        // nothing.
        // SAFETY: reads a function pointer set once at load; s.key is open for writing.
        if let Some(delete) = unsafe { raw::RedisModule_DeleteKey } {
            unsafe { delete(s.key) };
        }
        return Err(Error::Internal);
    }
    // The strings already made ("s" takes a reference; "b" would copy each into a new one).
    if payloads.strings.is_empty() {
        replicate!(
            ctx,
            c"HSET",
            c"sss",
            s.name().ptr(),
            meta_field().ptr(),
            meta_value.as_str().ptr()
        );
    } else {
        replicate!(
            ctx,
            c"HSET",
            c"sssv",
            s.name().ptr(),
            meta_field().ptr(),
            meta_value.as_str().ptr(),
            payloads.strings.as_ptr(),
            payloads.strings.len()
        );
    }
    rm::notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hset", s.name());
    if let Some(at) = expire_at_ms {
        replicate!(
            ctx,
            c"PEXPIREAT",
            c"sl",
            s.name().ptr(),
            at as std::ffi::c_longlong
        );
        rm::notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"expire", s.name());
    }
    Ok(true)
}

/// Payload names and data, alternating, each string held until this is dropped.
pub struct Payloads {
    ctx: Ctx,
    strings: Vec<RStr>,
}

impl Payloads {
    pub fn none(ctx: Ctx) -> Payloads {
        Payloads {
            ctx,
            strings: Vec::new(),
        }
    }

    fn pairs(&self) -> impl Iterator<Item = (Str<'_>, Str<'_>)> {
        self.strings.chunks_exact(2).map(|pair| {
            // SAFETY: we hold a reference to each string while `self` is borrowed.
            unsafe { (Str::from_raw(pair[0]), Str::from_raw(pair[1])) }
        })
    }
}

impl Drop for Payloads {
    fn drop(&mut self) {
        for &s in &self.strings {
            // SAFETY: we hold one reference to each string (see `Session::payloads`).
            unsafe { raw::RedisModule_FreeString.unwrap()(self.ctx, s) }
        }
    }
}

/// `RedisModule_SetAbsExpire`, which Redis 6.0 to 6.2.1 lack. The test-only feature
/// `no-abs-expire` hides it, so the tests run those servers' path on any server.
fn set_abs_expire() -> Option<unsafe extern "C" fn(*mut raw::RedisModuleKey, i64) -> c_int> {
    if cfg!(feature = "no-abs-expire") {
        return None;
    }
    // SAFETY: reads a function pointer set once at load.
    unsafe { raw::RedisModule_SetAbsExpire }
}

/// Whether `RedisModule_HashSet` counts inserted fields with `REDISMODULE_HASH_COUNT_ALL` and
/// reports a refused write as 0: Redis 6.2.0+, which brought the stream API in the same
/// release. Redis 6.0 ignores the flag, so there 0 is also "inserted".
fn hash_set_counts_all() -> bool {
    // SAFETY: reads a function pointer set once at load.
    unsafe { raw::RedisModule_StreamAdd }.is_some()
}

impl Session {
    fn name(&self) -> Str<'_> {
        self.name.as_str()
    }

    /// Milliseconds until the session ends, or -1 when it has no expiry.
    pub fn remaining_ms(&self) -> i64 {
        // SAFETY: self.key is open.
        unsafe { raw::RedisModule_GetExpire.unwrap()(self.key) }
    }

    /// Calls `f` with each payload's name and data (never the fingerprint field); the strings
    /// live only for the call. A panic in `f` stops the scan and is raised again here, once
    /// the scan is over: it never unwinds through Redis' ScanKey.
    pub fn for_each_payload(&self, mut f: impl FnMut(Str<'_>, Str<'_>)) {
        struct Scan<'f> {
            f: &'f mut dyn FnMut(Str<'_>, Str<'_>),
            panic: Option<Box<dyn Any + Send>>,
        }
        unsafe extern "C" fn visit(
            _key: *mut raw::RedisModuleKey,
            field: RStr,
            value: RStr,
            privdata: *mut c_void,
        ) {
            // SAFETY: privdata is the `Scan` below, alive for the whole scan.
            let scan = unsafe { &mut *(privdata as *mut Scan) };
            if scan.panic.is_some() {
                return;
            }
            // SAFETY: Redis keeps both strings alive until this callback returns.
            let (field, value) = unsafe { (Str::from_raw(field), Str::from_raw(value)) };
            let visited = catch_unwind(AssertUnwindSafe(|| {
                #[cfg(feature = "panic-test")]
                crate::panic_hooks::reached(crate::panic_hooks::Point::ScanKey);
                if !field.bytes().is_empty() {
                    (scan.f)(field, value);
                }
            }));
            scan.panic = visited.err();
        }
        // SAFETY: reads function pointers set once at load.
        let (create, scan_key, destroy) = unsafe {
            (
                raw::RedisModule_ScanCursorCreate.unwrap(),
                raw::RedisModule_ScanKey.unwrap(),
                raw::RedisModule_ScanCursorDestroy.unwrap(),
            )
        };
        let mut scan = Scan {
            f: &mut f,
            panic: None,
        };
        // SAFETY: the cursor is created and destroyed here; the key stays open throughout.
        unsafe {
            let cursor = create();
            while scan.panic.is_none()
                && scan_key(
                    self.key,
                    cursor,
                    Some(visit),
                    &mut scan as *mut Scan as *mut c_void,
                ) != 0
            {}
            destroy(cursor);
        }
        if let Some(panic) = scan.panic {
            resume_unwind(panic);
        }
    }

    /// The absolute expiry in Unix ms, or `None` when the key has none.
    pub fn expires_at_ms(&self) -> Option<i64> {
        // SAFETY: reads a function pointer set once at load; self.key is open.
        let at = match unsafe { raw::RedisModule_GetAbsExpire } {
            Some(get_abs) => unsafe { get_abs(self.key) },
            None => match self.remaining_ms() {
                ms if ms < 0 => -1,
                ms => rm::milliseconds() + ms,
            },
        };
        (at >= 0).then_some(at)
    }

    /// Every payload, held past the key's lifetime (for a copy into another session).
    pub fn payloads(&self) -> Payloads {
        let mut held = Payloads::none(self.ctx);
        self.for_each_payload(|name, data| {
            for s in [name, data] {
                // SAFETY: the scan's strings are live for the call; retaining adds a reference
                // that `Payloads` drops.
                unsafe { raw::RedisModule_RetainString.unwrap()(self.ctx, s.ptr()) };
                held.strings.push(s.ptr());
            }
        });
        held
    }

    fn plan_expiry(&self, at_ms: i64) -> Expiry {
        expiry::plan(at_ms, rm::milliseconds(), set_abs_expire().is_some())
    }

    /// Sets a planned expiry (never `Expiry::Now`); false when the server refused it. Cannot
    /// panic: it runs between a write and its propagation.
    fn set_expiry(&self, expiry: Expiry) -> bool {
        // SAFETY: reads a function pointer set once at load.
        let set_relative = unsafe { raw::RedisModule_SetExpire };
        // SAFETY: self.key is open for writing.
        let status = unsafe {
            match (expiry, set_abs_expire(), set_relative) {
                (Expiry::At(at_ms), Some(set_abs), _) => set_abs(self.key, at_ms),
                (Expiry::In(ms), _, Some(set)) => set(self.key, ms),
                _ => rm::ERR,
            }
        };
        status == rm::OK
    }

    /// Sets one field; false when the server refused the write (which only a key not open
    /// for writing, or not a hash, makes it do).
    fn hash_set(&self, field: Str<'_>, value: Str<'_>) -> bool {
        let counts_all = hash_set_counts_all();
        let flags = if counts_all {
            raw::REDISMODULE_HASH_COUNT_ALL
        } else {
            raw::REDISMODULE_HASH_NONE
        };
        // SAFETY: self.key is open; the list is NULL-terminated.
        let counted = unsafe {
            raw::RedisModule_HashSet.unwrap()(
                self.key,
                flags as c_int,
                field.ptr(),
                value.ptr(),
                ptr::null_mut::<RStr>(),
            )
        };
        counted > 0 || !counts_all
    }

    /// Makes the session end at `at_ms`; ends it now if that time has come.
    pub fn expire_at(&self, at_ms: i64) -> Result<(), Error> {
        let expiry = self.plan_expiry(at_ms);
        if expiry == Expiry::Now {
            self.end();
            return Ok(());
        }
        if !self.set_expiry(expiry) {
            return Err(Error::Internal);
        }
        replicate!(
            self.ctx,
            c"PEXPIREAT",
            c"sl",
            self.name().ptr(),
            at_ms as std::ffi::c_longlong
        );
        rm::notify(
            self.ctx,
            raw::REDISMODULE_NOTIFY_GENERIC,
            c"expire",
            self.name(),
        );
        Ok(())
    }

    pub fn set(&self, field: Str<'_>, value: Str<'_>) -> Result<(), Error> {
        if !self.hash_set(field, value) {
            return Err(Error::Internal);
        }
        replicate!(
            self.ctx,
            c"HSET",
            c"sss",
            self.name().ptr(),
            field.ptr(),
            value.ptr()
        );
        rm::notify(self.ctx, raw::REDISMODULE_NOTIFY_HASH, c"hset", self.name());
        Ok(())
    }

    /// Deletes one payload; false when the session has no such payload.
    pub fn delete(&self, field: Str<'_>) -> bool {
        // SAFETY: self.key is open for writing; the list is NULL-terminated.
        let deleted = unsafe {
            raw::RedisModule_HashSet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                field.ptr(),
                raw::REDISMODULE_HASH_DELETE,
                ptr::null_mut::<RStr>(),
            )
        };
        if deleted == 0 {
            return false;
        }
        replicate!(self.ctx, c"HDEL", c"ss", self.name().ptr(), field.ptr());
        rm::notify(self.ctx, raw::REDISMODULE_NOTIFY_HASH, c"hdel", self.name());
        true
    }

    pub fn end(&self) {
        // SAFETY: self.key is open for writing.
        unsafe {
            match raw::RedisModule_UnlinkKey {
                Some(unlink) => unlink(self.key),
                None => raw::RedisModule_DeleteKey.unwrap()(self.key),
            };
        }
        replicate!(self.ctx, c"UNLINK", c"s", self.name().ptr());
        rm::notify(
            self.ctx,
            raw::REDISMODULE_NOTIFY_GENERIC,
            c"del",
            self.name(),
        );
    }
}
