//! The one place that reads and writes session hashes and replicates what it wrote.
//!
//! A session is the hash `sessiongate:{<tag>}:<id>`: field "" holds the sign key's
//! fingerprint (and the deadline of a capped session, see `lifetime`), every other field is a
//! payload; the key's TTL is the session's lifetime.
//! Every write is propagated as a native command (HSET, HDEL, PEXPIREAT, UNLINK).

use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::raw;
use subtle::ConstantTimeEq;

use crate::cluster;
use crate::errors::Error;
use crate::keycache::FINGERPRINT_LEN;
use crate::lifetime::{self, Meta};
use crate::rm::{self, replicate, Ctx, OwnedStr, RStr};
use crate::slot;
use crate::token::Id;

/// The empty field name of the fingerprint, as a module string made once at load.
static META_FIELD: AtomicPtr<raw::RedisModuleString> = AtomicPtr::new(ptr::null_mut());

pub fn init() {
    // Made with no context, so Redis never frees it: it lives as long as the process.
    // SAFETY: CreateString copies zero bytes from a valid pointer.
    let s = unsafe { raw::RedisModule_CreateString.unwrap()(ptr::null_mut(), c"".as_ptr(), 0) };
    META_FIELD.store(s, Ordering::Release);
}

fn meta_field() -> RStr {
    META_FIELD.load(Ordering::Acquire)
}

pub struct Session {
    ctx: Ctx,
    key: *mut raw::RedisModuleKey,
    pub name: OwnedStr,
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
    let key = unsafe { raw::RedisModule_OpenKey.unwrap()(ctx, name.ptr, mode as c_int) };
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
    field: Option<RStr>,
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
                meta_field(),
                &mut meta as *mut RStr,
                f,
                &mut value as *mut RStr,
                ptr::null_mut::<RStr>(),
            ),
            None => raw::RedisModule_HashGet.unwrap()(
                s.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                meta_field(),
                &mut meta as *mut RStr,
                ptr::null_mut::<RStr>(),
            ),
        };
    }
    let meta = OwnedStr::adopt(ctx, meta);
    let value = OwnedStr::adopt(ctx, value);
    let Some(meta) = meta else {
        return Err(Error::NoSession);
    };
    match lifetime::decode(meta.bytes()) {
        Some((fp, deadline)) if bool::from(fp.ct_eq(fingerprint)) => s.deadline = deadline,
        _ => return Err(Error::ForeignSession),
    }
    Ok((s, value))
}

/// Creates the session `id` unless its key is taken (`None` then): the meta field, the
/// `payloads` (of another session, see `Session::payloads`) and the expiry, if any.
pub fn create(
    ctx: Ctx,
    slot: u16,
    id: &Id,
    meta: &Meta,
    payloads: &Payloads,
    expire_at_ms: Option<i64>,
) -> Option<()> {
    let s = open(ctx, slot, id, true);
    let meta = meta.as_bytes();
    // SAFETY: s.key is open for writing; every list is NULL-terminated.
    unsafe {
        if raw::RedisModule_KeyType.unwrap()(s.key) != raw::REDISMODULE_KEYTYPE_EMPTY as c_int {
            return None;
        }
        let fp = OwnedStr::new(ctx, meta);
        raw::RedisModule_HashSet.unwrap()(
            s.key,
            raw::REDISMODULE_HASH_NONE as c_int,
            meta_field(),
            fp.ptr,
            ptr::null_mut::<RStr>(),
        );
        for pair in payloads.strings.chunks_exact(2) {
            raw::RedisModule_HashSet.unwrap()(
                s.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                pair[0],
                pair[1],
                ptr::null_mut::<RStr>(),
            );
        }
    }
    if payloads.strings.is_empty() {
        replicate!(
            ctx,
            c"HSET",
            c"sbb",
            s.name.ptr,
            c"".as_ptr(),
            0usize,
            meta.as_ptr(),
            meta.len()
        );
    } else {
        replicate!(
            ctx,
            c"HSET",
            c"sbbv",
            s.name.ptr,
            c"".as_ptr(),
            0usize,
            meta.as_ptr(),
            meta.len(),
            payloads.strings.as_ptr(),
            payloads.strings.len()
        );
    }
    rm::notify(ctx, raw::REDISMODULE_NOTIFY_HASH, c"hset", s.name.ptr);
    if let Some(at) = expire_at_ms {
        s.expire_at(at);
    }
    Some(())
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
}

impl Drop for Payloads {
    fn drop(&mut self) {
        for &s in &self.strings {
            // SAFETY: we hold one reference to each string (see `Session::payloads`).
            unsafe { raw::RedisModule_FreeString.unwrap()(self.ctx, s) }
        }
    }
}

impl Session {
    /// Milliseconds until the session ends, or -1 when it has no expiry.
    pub fn remaining_ms(&self) -> i64 {
        // SAFETY: self.key is open.
        unsafe { raw::RedisModule_GetExpire.unwrap()(self.key) }
    }

    /// Calls `f` with each payload's name and data (never the fingerprint field); the strings
    /// live only for the call.
    pub fn for_each_payload(&self, mut f: impl FnMut(RStr, RStr)) {
        unsafe extern "C" fn visit(
            _key: *mut raw::RedisModuleKey,
            field: RStr,
            value: RStr,
            privdata: *mut std::ffi::c_void,
        ) {
            if rm::bytes(field).is_empty() {
                return;
            }
            // SAFETY: privdata is the `&mut dyn FnMut` passed below, alive for the scan.
            let f = unsafe { &mut *(privdata as *mut &mut dyn FnMut(RStr, RStr)) };
            f(field, value);
        }
        let mut f: &mut dyn FnMut(RStr, RStr) = &mut f;
        // SAFETY: the cursor is created and destroyed here; the key stays open throughout.
        unsafe {
            let cursor = raw::RedisModule_ScanCursorCreate.unwrap()();
            while raw::RedisModule_ScanKey.unwrap()(
                self.key,
                cursor,
                Some(visit),
                &mut f as *mut &mut dyn FnMut(RStr, RStr) as *mut std::ffi::c_void,
            ) != 0
            {}
            raw::RedisModule_ScanCursorDestroy.unwrap()(cursor);
        }
    }

    /// The absolute expiry in Unix ms, or `None` when the key has none.
    pub fn expires_at_ms(&self) -> Option<i64> {
        // SAFETY: self.key is open.
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
                unsafe { raw::RedisModule_RetainString.unwrap()(self.ctx, s) };
                held.strings.push(s);
            }
        });
        held
    }

    fn set_expire_at(&self, at_ms: i64) {
        // SAFETY: self.key is open for writing.
        unsafe {
            match raw::RedisModule_SetAbsExpire {
                Some(set_abs) => set_abs(self.key, at_ms),
                None => raw::RedisModule_SetExpire.unwrap()(self.key, at_ms - rm::milliseconds()),
            };
        }
    }

    pub fn expire_at(&self, at_ms: i64) {
        self.set_expire_at(at_ms);
        replicate!(
            self.ctx,
            c"PEXPIREAT",
            c"sl",
            self.name.ptr,
            at_ms as std::ffi::c_longlong
        );
        rm::notify(
            self.ctx,
            raw::REDISMODULE_NOTIFY_GENERIC,
            c"expire",
            self.name.ptr,
        );
    }

    pub fn set(&self, field: RStr, value: RStr) {
        // SAFETY: self.key is open for writing; the list is NULL-terminated.
        unsafe {
            raw::RedisModule_HashSet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                field,
                value,
                ptr::null_mut::<RStr>(),
            );
        }
        replicate!(self.ctx, c"HSET", c"sss", self.name.ptr, field, value);
        rm::notify(
            self.ctx,
            raw::REDISMODULE_NOTIFY_HASH,
            c"hset",
            self.name.ptr,
        );
    }

    /// Deletes one payload; false when the session has no such payload.
    pub fn delete(&self, field: RStr) -> bool {
        // SAFETY: self.key is open for writing; the list is NULL-terminated.
        let deleted = unsafe {
            raw::RedisModule_HashSet.unwrap()(
                self.key,
                raw::REDISMODULE_HASH_NONE as c_int,
                field,
                raw::REDISMODULE_HASH_DELETE,
                ptr::null_mut::<RStr>(),
            )
        };
        if deleted == 0 {
            return false;
        }
        replicate!(self.ctx, c"HDEL", c"ss", self.name.ptr, field);
        rm::notify(
            self.ctx,
            raw::REDISMODULE_NOTIFY_HASH,
            c"hdel",
            self.name.ptr,
        );
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
        replicate!(self.ctx, c"UNLINK", c"s", self.name.ptr);
        rm::notify(
            self.ctx,
            raw::REDISMODULE_NOTIFY_GENERIC,
            c"del",
            self.name.ptr,
        );
    }
}
