//! The module's pure files, compiled here under the crate's name so that the fuzz targets use
//! the module's very code without building the Redis bindings (`redis-module`, bindgen,
//! libclang) under the fuzzer's instrumentation. Which files: what the targets use and what
//! those files use (`crate::...`).
#![allow(dead_code)]

#[path = "../../src/args.rs"]
pub mod args;
#[path = "../../src/errors.rs"]
pub mod errors;
#[path = "../../src/keycache.rs"]
pub mod keycache;
#[path = "../../src/lifetime.rs"]
pub mod lifetime;
#[path = "../../src/mac.rs"]
pub mod mac;
#[path = "../../src/slot.rs"]
pub mod slot;
#[path = "../../src/token.rs"]
pub mod token;
