//! Which server loaded the module, and the module options it gets for that server.
//!
//! One option is declared: Valkey's `HANDLE_ATOMIC_SLOT_MIGRATION`, bit 5 of
//! `SetModuleOptions` (Valkey 9.0+), without which Valkey refuses `CLUSTER MIGRATESLOTS` while
//! the module is loaded. The module qualifies: it replicates only native commands, so the
//! target applies a migrating slot's writes without running the module, and START never draws
//! a slot the node does not own yet (an imported slot is not owned until the hand-over).
//! Redis up to 8.2 defines option bits 0 to 3 at most and ignores the others, but a later Redis
//! may give bit 5 another meaning: the bit is set only on a Valkey 9+ that lists it among the
//! options it knows (`GetModuleOptionsAll`).

use std::ffi::{c_int, CStr};

use redis_module::{raw, Context};

use crate::rm::Ctx;

pub const HANDLE_ATOMIC_SLOT_MIGRATION: c_int = 1 << 5;

/// What the module knows about the server at load.
#[derive(Debug, PartialEq, Eq)]
pub struct Server {
    /// INFO's `server_name` (Valkey 8+ has `valkey`; Redis has no such field).
    pub name: Option<Vec<u8>>,
    /// `GetServerVersion`: 0x00MMmmpp (Valkey 8+ gives its own version, not the Redis one).
    pub version: Option<c_int>,
    /// `GetModuleOptionsAll`: every option bit this server knows (Redis 7.2+, Valkey).
    pub options_all: Option<c_int>,
}

impl Server {
    pub fn is_valkey(&self) -> bool {
        self.name.as_deref() == Some(b"valkey")
    }

    /// `Redis 8.2.3`, `Valkey 9.1.2`.
    pub fn describe(&self) -> String {
        let name = if self.is_valkey() { "Valkey" } else { "Redis" };
        match self.version {
            Some(v) => format!("{name} {}.{}.{}", v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff),
            None => format!("{name} (version unknown)"),
        }
    }

    /// The options to pass to `SetModuleOptions` (the call takes the whole mask).
    pub fn module_options(&self) -> c_int {
        let knows_asm = self
            .options_all
            .is_some_and(|all| all & HANDLE_ATOMIC_SLOT_MIGRATION != 0);
        let valkey_9 = self.is_valkey() && self.version.is_some_and(|v| v >= 0x0009_0000);
        if valkey_9 && knows_asm {
            HANDLE_ATOMIC_SLOT_MIGRATION
        } else {
            0
        }
    }
}

/// Reads the server's name, version and known options; every call is optional.
fn probe(ctx: Ctx) -> Server {
    // SAFETY: load-time calls on the load context; the field points into the info data, so it
    // is copied before the data is freed (once).
    unsafe {
        let version = raw::RedisModule_GetServerVersion.map(|f| f());
        let options_all = raw::RedisModule_GetModuleOptionsAll.map(|f| f());
        let name = match (
            raw::RedisModule_GetServerInfo,
            raw::RedisModule_ServerInfoGetFieldC,
            raw::RedisModule_FreeServerInfo,
        ) {
            (Some(get), Some(field), Some(free)) => {
                let info = get(ctx, c"server".as_ptr());
                if info.is_null() {
                    None
                } else {
                    let value = field(info, c"server_name".as_ptr());
                    let name =
                        (!value.is_null()).then(|| CStr::from_ptr(value).to_bytes().to_vec());
                    free(ctx, info);
                    name
                }
            }
            _ => None,
        };
        Server {
            name,
            version,
            options_all,
        }
    }
}

/// Sets the module options for this server and logs the choice.
pub fn declare_options(ctx: &Context) {
    let server = probe(ctx.ctx);
    let options = server.module_options();
    // SAFETY: called once from OnLoad with the load context.
    if let Some(set) = unsafe { raw::RedisModule_SetModuleOptions } {
        unsafe { set(ctx.ctx, options) };
    }
    let what = if options & HANDLE_ATOMIC_SLOT_MIGRATION != 0 {
        "declared atomic slot migration support (CLUSTER MIGRATESLOTS)"
    } else {
        "no atomic slot migration option on this server (resharding by SETSLOT and MIGRATE)"
    };
    let known = server
        .options_all
        .map_or("unknown".to_string(), |all| format!("{all:#x}"));
    ctx.log_notice(&format!(
        "{} (module options it knows: {known}): {what}",
        server.describe()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: Option<&str>, version: Option<c_int>, all: Option<c_int>) -> Server {
        Server {
            name: name.map(|n| n.as_bytes().to_vec()),
            version,
            options_all: all,
        }
    }

    #[test]
    fn bit_5_only_on_a_valkey_9_that_knows_it() {
        // As the servers of the matrix report themselves.
        assert_eq!(server(None, Some(0x0006_020e), None).module_options(), 0);
        assert_eq!(server(None, Some(0x0007_000f), None).module_options(), 0);
        assert_eq!(
            server(None, Some(0x0008_0203), Some(0xf)).module_options(),
            0
        );
        assert_eq!(
            server(Some("valkey"), Some(0x0008_0108), Some(0x1f)).module_options(),
            0
        );
        assert_eq!(
            server(Some("valkey"), Some(0x0009_0102), Some(0x3f)).module_options(),
            HANDLE_ATOMIC_SLOT_MIGRATION
        );
        assert_eq!(
            server(Some("valkey"), Some(0x000a_0000), Some(0xff)).module_options(),
            HANDLE_ATOMIC_SLOT_MIGRATION
        );
        // A Redis that one day knows a bit 5 of its own, a Valkey that does not list it, or a
        // server that cannot say what it is: nothing.
        assert_eq!(
            server(None, Some(0x0009_0000), Some(0x3f)).module_options(),
            0
        );
        assert_eq!(
            server(Some("redis"), Some(0x0009_0000), Some(0x3f)).module_options(),
            0
        );
        assert_eq!(
            server(Some("valkey"), Some(0x0009_0000), Some(0x1f)).module_options(),
            0
        );
        assert_eq!(
            server(Some("valkey"), Some(0x0009_0000), None).module_options(),
            0
        );
        assert_eq!(server(Some("valkey"), None, Some(0x3f)).module_options(), 0);
    }

    #[test]
    fn describes_the_server() {
        assert_eq!(
            server(Some("valkey"), Some(0x0009_0102), None).describe(),
            "Valkey 9.1.2"
        );
        assert_eq!(
            server(None, Some(0x0008_0203), None).describe(),
            "Redis 8.2.3"
        );
        assert_eq!(
            server(None, None, None).describe(),
            "Redis (version unknown)"
        );
    }
}
