//! Redis module strings, with lifetimes the compiler checks: `Args<'a>` (a command's
//! arguments), `Str<'a>` (a string Redis lends for `'a`) and `OwnedStr` (one the module owns).
//! Only the constructors that take a raw pointer are `unsafe`; everything built from them is
//! safe to use.

use std::marker::PhantomData;

use redis_module::raw;

pub type RStr = *mut raw::RedisModuleString;

/// The context a module string is created in and freed with (`rm::Ctx`, named here so that
/// this file depends on nothing of the crate).
type Ctx = *mut raw::RedisModuleCtx;

/// The bytes of a module string.
///
/// # Safety
///
/// `s` must be a live module string that stays alive and unchanged for `'a`.
pub unsafe fn bytes<'a>(s: RStr) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: s is live (the caller's promise); StringPtrLen points into it.
    unsafe {
        let p = raw::RedisModule_StringPtrLen.unwrap()(s, &mut len);
        if p.is_null() || len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// A module string that Redis lends for `'a`: a command argument, a field during a scan.
#[derive(Clone, Copy)]
pub struct Str<'a> {
    ptr: RStr,
    lent: PhantomData<&'a raw::RedisModuleString>,
}

impl<'a> Str<'a> {
    /// # Safety
    ///
    /// `ptr` must be a live module string that stays alive and unchanged for `'a`.
    pub unsafe fn from_raw(ptr: RStr) -> Str<'a> {
        Str {
            ptr,
            lent: PhantomData,
        }
    }

    /// The pointer, for a call into Redis while `'a` lasts.
    pub fn ptr(self) -> RStr {
        self.ptr
    }

    pub fn bytes(self) -> &'a [u8] {
        // SAFETY: the string lives, unchanged, for 'a (promised at construction).
        unsafe { bytes(self.ptr) }
    }
}

/// A command's arguments, made once by the command guard from Redis' argv: what it hands out
/// cannot outlive the command's call.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    argv: &'a [RStr],
}

impl<'a> Args<'a> {
    /// # Safety
    ///
    /// `argv` must point to `argc` live module strings that stay alive and unchanged for `'a`.
    pub unsafe fn new(argv: *mut RStr, argc: usize) -> Args<'a> {
        // SAFETY: the caller's promise.
        Args {
            argv: unsafe { std::slice::from_raw_parts(argv, argc) },
        }
    }

    pub fn str(self, i: usize) -> Str<'a> {
        // SAFETY: every argument lives, unchanged, for 'a (promised at construction).
        unsafe { Str::from_raw(self.argv[i]) }
    }

    pub fn bytes(self, i: usize) -> &'a [u8] {
        self.str(i).bytes()
    }

    /// Argument `i`, if the command has it (an optional argument).
    pub fn get(self, i: usize) -> Option<Str<'a>> {
        (i < self.argv.len()).then(|| self.str(i))
    }
}

/// A module string owned by us, freed on drop.
pub struct OwnedStr {
    ctx: Ctx,
    ptr: RStr,
}

impl OwnedStr {
    pub fn new(ctx: Ctx, data: &[u8]) -> OwnedStr {
        // SAFETY: CreateString copies `data`.
        let ptr = unsafe {
            raw::RedisModule_CreateString.unwrap()(ctx, data.as_ptr().cast(), data.len())
        };
        OwnedStr { ctx, ptr }
    }

    /// Takes ownership of a string Redis created for us (for example by HashGet).
    ///
    /// # Safety
    ///
    /// `ptr` must be null or a module string of which the caller owns one reference.
    pub unsafe fn adopt(ctx: Ctx, ptr: RStr) -> Option<OwnedStr> {
        if ptr.is_null() {
            None
        } else {
            Some(OwnedStr { ctx, ptr })
        }
    }

    pub fn as_str(&self) -> Str<'_> {
        // SAFETY: we hold a reference to the string while the borrow lasts.
        unsafe { Str::from_raw(self.ptr) }
    }

    pub fn bytes(&self) -> &[u8] {
        self.as_str().bytes()
    }
}

impl Drop for OwnedStr {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the string.
        unsafe { raw::RedisModule_FreeString.unwrap()(self.ctx, self.ptr) }
    }
}
