//! The one place that reads and writes session hashes and owners' indexes, and replicates what
//! it wrote.
//!
//! A session is the hash `sessiongate:{<tag>}:<id>`: field "" holds the sign key's
//! fingerprint (and the deadline of a capped session, see `lifetime`; and the owner digest and
//! creation time of an owned one, see `owners`), every other field is a payload; the key's TTL
//! is the session's lifetime. An owner's index (`index`) is a sorted set in the owner's slot.
//! Every write is propagated as a native command (HSET, HDEL, PEXPIREAT, UNLINK; ZADD, ZREM,
//! PERSIST for indexes), so the one MULTI/EXEC Redis wraps around a command's propagation
//! carries a session's writes and its index's together.

mod index;

pub use index::{open_for_start, open_owner, Access, Index};

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
use crate::owners::{self, Owner};
use crate::rm::{self, replicate, Ctx};
use crate::slot;
use crate::strings::{OwnedStr, RStr, Str};
use crate::token::Id;

/// The empty field name of the fingerprint, as a module string made once at load.
static META_FIELD: AtomicPtr<raw::RedisModuleString> = AtomicPtr::new(ptr::null_mut());

pub fn init() {
    // Made with no context, so Redis never frees it: it lives until `deinit`.
    // SAFETY: CreateString copies zero bytes from a valid pointer.
    let s = unsafe { raw::RedisModule_CreateString.unwrap()(ptr::null_mut(), c"".as_ptr(), 0) };
    META_FIELD.store(s, Ordering::Release);
}

/// Frees the meta field's string (the module is being unloaded).
pub fn deinit() {
    let s = META_FIELD.swap(ptr::null_mut(), Ordering::AcqRel);
    if !s.is_null() {
        // SAFETY: made by `init` with no context; nothing uses it once the module unloads.
        unsafe { raw::RedisModule_FreeString.unwrap()(ptr::null_mut(), s) };
    }
}

fn meta_field() -> Str<'static> {
    // SAFETY: made at load and never freed.
    unsafe { Str::from_raw(META_FIELD.load(Ordering::Acquire)) }
}

pub struct Session {
    ctx: Ctx,
    key: *mut raw::RedisModuleKey,
    name: OwnedStr,
    slot: u16,
    id: Id,
    /// The absolute deadline (Unix ms) of a capped session.
    pub deadline: Option<i64>,
    /// An owned session's owner digest and creation time.
    pub owner: Option<Owner>,
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
        slot,
        id: *id,
        deadline: None,
        owner: None,
    }
}

/// Opens the live session `id` of this sign key, reading the payload `field` in the same
/// lookup when asked. `owned`: whether the token is an owned session's (v2); a token of the
/// other shape names no session.
pub fn open_session(
    ctx: Ctx,
    slot: u16,
    id: &Id,
    fingerprint: &[u8; FINGERPRINT_LEN],
    owned: bool,
    write: bool,
    field: Option<Str<'_>>,
) -> Result<(Session, Option<OwnedStr>), Error> {
    let mut s = open(ctx, slot, id, write);
    if !s.is_hash() {
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
    match owners::decode(meta.bytes()) {
        Some(m) if bool::from(m.fingerprint.ct_eq(fingerprint)) => {
            if m.owner.is_some() != owned {
                return Err(Error::NoSession);
            }
            s.deadline = m.deadline;
            s.owner = m.owner;
        }
        _ => return Err(Error::ForeignSession),
    }
    Ok((s, value))
}

/// Creates the session `id` unless its key is taken (`Ok(false)`): the meta field (`meta`, as
/// `lifetime::Meta` or `owners::OwnedMeta` lays it out), the `payloads` (another session's,
/// see `Session::payloads`) and the expiry, if any. A session whose end has already come is
/// not stored (START answers its token, as for ttl 0). An owned session's index is the
/// caller's (`Index`).
pub fn create(
    ctx: Ctx,
    slot: u16,
    id: &Id,
    meta: &[u8],
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
    let expiry = expire_at_ms.map(plan_expiry);
    if expiry == Some(Expiry::Now) {
        return Ok(true);
    }
    let meta_value = OwnedStr::new(ctx, meta);
    let written = s.hash_set(meta_field(), meta_value.as_str())
        && payloads.pairs().all(|(name, data)| s.hash_set(name, data));
    if !written || expiry.is_some_and(|e| !set_expiry(s.key, e)) {
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

fn plan_expiry(at_ms: i64) -> Expiry {
    expiry::plan(at_ms, rm::milliseconds(), set_abs_expire().is_some())
}

/// Sets a planned expiry (never `Expiry::Now`) on an open key; false when the server refused
/// it. Cannot panic: it runs between a write and its propagation.
fn set_expiry(key: *mut raw::RedisModuleKey, expiry: Expiry) -> bool {
    // SAFETY: reads a function pointer set once at load.
    let set_relative = unsafe { raw::RedisModule_SetExpire };
    // SAFETY: the caller's key is open for writing.
    let status = unsafe {
        match (expiry, set_abs_expire(), set_relative) {
            (Expiry::At(at_ms), Some(set_abs), _) => set_abs(key, at_ms),
            (Expiry::In(ms), _, Some(set)) => set(key, ms),
            _ => rm::ERR,
        }
    };
    status == rm::OK
}

/// Milliseconds until an open key ends, or -1 when it has no expiry.
fn remaining_ms(key: *mut raw::RedisModuleKey) -> i64 {
    // SAFETY: the caller's key is open.
    unsafe { raw::RedisModule_GetExpire.unwrap()(key) }
}

/// The absolute expiry of an open key in Unix ms, or `None` when it has none.
fn expires_at_ms(key: *mut raw::RedisModuleKey) -> Option<i64> {
    // SAFETY: reads a function pointer set once at load; the caller's key is open.
    let at = match unsafe { raw::RedisModule_GetAbsExpire } {
        Some(get_abs) => unsafe { get_abs(key) },
        None => match remaining_ms(key) {
            ms if ms < 0 => -1,
            ms => rm::milliseconds() + ms,
        },
    };
    (at >= 0).then_some(at)
}

fn key_type(key: *mut raw::RedisModuleKey) -> c_int {
    // SAFETY: the caller's key is open.
    unsafe { raw::RedisModule_KeyType.unwrap()(key) }
}

/// Deletes an open key, replicated as `UNLINK` with its `del` event; `UnlinkKey` frees its
/// memory in the background where the server has it.
fn unlink(ctx: Ctx, key: *mut raw::RedisModuleKey, name: Str<'_>) {
    // SAFETY: the caller's key is open for writing.
    unsafe {
        match raw::RedisModule_UnlinkKey {
            Some(unlink) => unlink(key),
            None => raw::RedisModule_DeleteKey.unwrap()(key),
        };
    }
    replicate!(ctx, c"UNLINK", c"s", name.ptr());
    rm::notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del", name);
}

/// Makes an open key end at `at_ms` (`expiry`, its plan, never `Expiry::Now`), replicated as
/// `PEXPIREAT` with its `expire` event.
fn expire(
    ctx: Ctx,
    key: *mut raw::RedisModuleKey,
    name: Str<'_>,
    at_ms: i64,
    expiry: Expiry,
) -> Result<(), Error> {
    if !set_expiry(key, expiry) {
        return Err(Error::Internal);
    }
    replicate!(
        ctx,
        c"PEXPIREAT",
        c"sl",
        name.ptr(),
        at_ms as std::ffi::c_longlong
    );
    rm::notify(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"expire", name);
    Ok(())
}

impl Session {
    fn name(&self) -> Str<'_> {
        self.name.as_str()
    }

    fn is_hash(&self) -> bool {
        key_type(self.key) == raw::REDISMODULE_KEYTYPE_HASH as c_int
    }

    pub fn id(&self) -> &Id {
        &self.id
    }

    /// Milliseconds until the session ends, or -1 when it has no expiry.
    pub fn remaining_ms(&self) -> i64 {
        remaining_ms(self.key)
    }

    /// One field's value, if the session has it.
    pub fn get(&self, field: Str<'_>) -> Option<OwnedStr> {
        let mut value: RStr = ptr::null_mut();
        // SAFETY: self.key is open; a NULL-terminated list of one (field, out) pair.
        unsafe {
            raw::RedisModule_HashGet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                field.ptr(),
                &mut value as *mut RStr,
                ptr::null_mut::<RStr>(),
            );
            OwnedStr::adopt(self.ctx, value)
        }
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
        expires_at_ms(self.key)
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

    /// Makes the session end at `at_ms`; ends it now if that time has come. An owned
    /// session's index is made to last at least as long (and to list it, should it not).
    pub fn expire_at(&self, at_ms: i64) -> Result<(), Error> {
        let expiry = plan_expiry(at_ms);
        if expiry == Expiry::Now {
            self.end();
            return Ok(());
        }
        let index = match &self.owner {
            Some(owner) => Some(self.index_to_keep(owner)?),
            None => None,
        };
        expire(self.ctx, self.key, self.name(), at_ms, expiry)?;
        if let (Some(index), Some(owner)) = (index, &self.owner) {
            index.keep(&self.id, owner.created_ms, Some(at_ms))?;
        }
        Ok(())
    }

    /// The owner's index, for a write that keeps this owned session listed in it: `OwnerMoving`
    /// when the index is not here while the slot is in transit (it may be on the other node,
    /// and a copy made here would collide with it there).
    fn index_to_keep(&self, owner: &Owner) -> Result<Index, Error> {
        let index = Index::open(self.ctx, self.slot, &owner.digest, true)?;
        if !index.exists() && cluster::slot_in_transit(self.ctx, self.slot) {
            return Err(Error::OwnerMoving);
        }
        Ok(index)
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

    /// Ends the session, and takes it off its owner's index (where that index is here).
    pub fn end(&self) {
        self.unlink();
        if let Some(owner) = &self.owner {
            if let Ok(index) = Index::open(self.ctx, self.slot, &owner.digest, true) {
                index.remove(&self.id);
            }
        }
    }

    /// Ends the session and leaves its owner's index as it is (the caller's to keep right).
    pub fn unlink(&self) {
        unlink(self.ctx, self.key, self.name());
    }
}
