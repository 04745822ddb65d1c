//! Session Gate: signed-token sessions inside Redis.
//!
//! Pure logic (token, slot, args, lifetime, owners, expiry, errors, keycache) is public and tested
//! without Redis; the Redis side (rm, store, cluster, commands) stays thin. This file only
//! registers.

pub mod args;
pub mod errors;
pub mod expiry;
pub mod keycache;
pub mod lifetime;
pub mod mac;
pub mod owners;
pub mod slot;
pub mod token;
pub mod topology;

mod cluster;
mod commands;
mod config;
mod info;
#[cfg(feature = "panic-test")]
mod panic_hooks;
mod random;
mod rm;
mod server;
mod stats;
mod store;
mod strings;

use redis_module::{redis_module, Context, RedisString, Status};

#[cfg(not(any(test, feature = "system-alloc")))]
const ALLOCATOR: redis_module::alloc::RedisAlloc = redis_module::alloc::RedisAlloc;
#[cfg(not(any(test, feature = "system-alloc")))]
type Allocator = redis_module::alloc::RedisAlloc;
#[cfg(any(test, feature = "system-alloc"))]
const ALLOCATOR: std::alloc::System = std::alloc::System;
#[cfg(any(test, feature = "system-alloc"))]
type Allocator = std::alloc::System;

/// Called by the `RedisModule_OnLoad` that `redis_module!` generates, which catches no panic:
/// a panic fails the load instead of aborting the server.
fn init(ctx: &Context, args: &[RedisString]) -> Status {
    rm::no_unwind(Status::Err, || load(ctx, args))
}

fn load(ctx: &Context, args: &[RedisString]) -> Status {
    rm::log_panics();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    #[cfg(feature = "panic-test")]
    let args = panic_hooks::take_load_point(args);
    if let Err(e) = config::apply_load_args(&args) {
        ctx.log_warning(&format!("sessiongate: {e}"));
        return Status::Err;
    }
    slot::init();
    store::init();
    cluster::init(ctx.ctx);
    match commands::register(ctx.ctx) {
        Ok(true) => {}
        Ok(false) => ctx.log_notice(
            "this server has no command metadata API: COMMAND DOCS shows no Session Gate docs (Redis 7.0+ does)",
        ),
        Err(e) => {
            ctx.log_warning(&e);
            return Status::Err;
        }
    }
    match config::register(ctx.ctx) {
        Ok(true) => {}
        Ok(false) => ctx.log_notice(
            "this server has no module configs: set limits with load arguments (CONFIG SET needs Redis 7.0+)",
        ),
        Err(e) => {
            ctx.log_warning(&e);
            return Status::Err;
        }
    }
    info::register(ctx.ctx);
    server::declare_options(ctx);
    if !rm::can_redact() {
        ctx.log_notice(
            "this server cannot redact arguments: sign keys will show in MONITOR and SLOWLOG (Redis 7.0+ hides them)",
        );
    }
    #[cfg(feature = "panic-test")]
    panic_hooks::reached(panic_hooks::Point::Load);
    Status::Ok
}

/// MODULE UNLOAD: wipes the cached key material and the generator's state, and frees what the
/// module holds. The shared object is really unmapped afterwards, so a MODULE LOAD of a new
/// file at the same path runs the new code: the module registers no thread-local destructor
/// (glibc keeps a shared object that did mapped until the thread exits, and Redis' main thread
/// never does), and its panic hook does not touch `std::thread::current`, which would register
/// one. A panic here cancels the unload (Redis keeps the module loaded and says so in its log).
fn deinit(_ctx: &Context) -> Status {
    rm::no_unwind(Status::Err, || {
        #[cfg(feature = "panic-test")]
        panic_hooks::reached(panic_hooks::Point::Deinit);
        keycache::clear();
        random::clear();
        cluster::clear();
        store::deinit();
        Status::Ok
    })
}

redis_module! {
    name: "sessiongate",
    version: 1,
    allocator: (Allocator, ALLOCATOR),
    data_types: [],
    init: init,
    deinit: deinit,
}
