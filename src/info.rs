//! `INFO sessiongate`: the counters of `stats`, in the section `sessiongate_stats`.

use redis_module::raw;

use crate::rm;
use crate::stats;

/// A panic here ends the section early: INFO still answers, and Redis keeps running.
unsafe extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: std::ffi::c_int) {
    rm::no_unwind((), || {
        // SAFETY: ctx is the info context Redis hands us; names are static C strings.
        unsafe {
            raw::RedisModule_InfoAddSection.unwrap()(ctx, c"stats".as_ptr());
            #[cfg(feature = "panic-test")]
            crate::panic_hooks::reached(crate::panic_hooks::Point::Info);
            for (i, name) in stats::FIELDS.iter().enumerate() {
                raw::RedisModule_InfoAddFieldULongLong.unwrap()(ctx, name.as_ptr(), stats::get(i));
            }
        }
    })
}

pub fn register(ctx: *mut raw::RedisModuleCtx) {
    // SAFETY: ctx is the load context.
    unsafe {
        raw::RedisModule_RegisterInfoFunc.unwrap()(ctx, Some(info));
    }
}
