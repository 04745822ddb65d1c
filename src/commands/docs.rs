//! Command metadata for `COMMAND DOCS` and `COMMAND INFO` (Redis 7.0+, Valkey): summaries,
//! arities, argument lists and key specs, so `redis-cli` hints and cluster clients see them.

use std::ffi::{c_int, CStr};
use std::mem::size_of;
use std::ptr;

use redis_module::raw;

use crate::rm::Ctx;

#[derive(Clone, Copy)]
pub enum Arg {
    Str(&'static CStr),
    Int(&'static CStr),
    Key(&'static CStr),
    Optional(&'static Arg),
    /// One or more of the argument.
    Multiple(&'static Arg),
    /// A string argument after a keyword: (keyword, name).
    Keyword(&'static CStr, &'static CStr),
    /// Exactly one of the arguments.
    OneOf(&'static CStr, &'static [Arg]),
}

pub struct Doc {
    pub summary: &'static CStr,
    pub complexity: &'static CStr,
    pub args: &'static [Arg],
    /// REDISMODULE_CMD_KEY_* flags of the token; 0 for a keyless command.
    pub key_flags: u32,
}

const SIGN_KEY: Arg = Arg::Str(c"sign_key");
const TOKEN: Arg = Arg::Key(c"token");
const TTL: Arg = Arg::Int(c"ttl");
const NAME: Arg = Arg::Str(c"payload_name");
const DATA: Arg = Arg::Str(c"payload_data");
const MAX_LIFETIME: Arg = Arg::Int(c"max_lifetime");
const NEW_SIGN_KEY: Arg = Arg::Str(c"new_sign_key");
const OWNER: Arg = Arg::Key(c"owner");

pub const RO: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
pub const UPDATE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE;
pub const DELETE_FIELD: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE;
pub const DELETE_KEY: u32 = raw::REDISMODULE_CMD_KEY_RM | raw::REDISMODULE_CMD_KEY_DELETE;
pub const INSERT: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT;

pub const START: Doc = Doc {
    summary: c"Starts a session signed with sign_key that lives ttl seconds, and never more than max_lifetime seconds when given; returns its token. In a cluster, the token is of a slot the node serves.",
    complexity: c"O(1)",
    args: &[SIGN_KEY, TTL, Arg::Optional(&MAX_LIFETIME)],
    key_flags: 0,
};
pub const RENEW: Doc = Doc {
    summary: c"Gives the session a new id and returns its token (signed with new_sign_key when given): same payloads, expiry and cap; the old token stops working. In a cluster, send it to the primary serving the old token's hash slot (others answer MOVED).",
    complexity: c"O(N) where N is the size of the session's payloads",
    args: &[SIGN_KEY, Arg::Str(c"token"), Arg::Optional(&NEW_SIGN_KEY)],
    key_flags: 0,
};
pub const EXPIRE: Doc = Doc {
    summary: c"Makes the session end ttl seconds from now (0: at once).",
    complexity: c"O(1)",
    args: &[SIGN_KEY, TOKEN, TTL],
    key_flags: UPDATE,
};
pub const PSET: Doc = Doc {
    summary: c"Sets a payload of the session, keeping its TTL.",
    complexity: c"O(1)",
    args: &[SIGN_KEY, TOKEN, NAME, DATA],
    key_flags: UPDATE,
};
pub const PGET: Doc = Doc {
    summary: c"Returns a payload of the session.",
    complexity: c"O(1)",
    args: &[SIGN_KEY, TOKEN, NAME],
    key_flags: RO,
};
pub const PDEL: Doc = Doc {
    summary: c"Deletes a payload of the session, keeping its TTL.",
    complexity: c"O(1)",
    args: &[SIGN_KEY, TOKEN, NAME],
    key_flags: DELETE_FIELD,
};
pub const END: Doc = Doc {
    summary: c"Ends the session and deletes its payloads.",
    complexity: c"O(1) (the memory is freed in the background)",
    args: &[SIGN_KEY, TOKEN],
    key_flags: DELETE_KEY,
};
pub const TTL_DOC: Doc = Doc {
    summary: c"Returns the seconds the session has left.",
    complexity: c"O(1)",
    args: &[SIGN_KEY, TOKEN],
    key_flags: RO,
};
pub const PGETALL: Doc = Doc {
    summary: c"Returns every payload of the session, as HGETALL does.",
    complexity: c"O(N) where N is the number of payloads",
    args: &[SIGN_KEY, TOKEN],
    key_flags: RO,
};

pub const STARTFOR: Doc = Doc {
    summary: c"Starts a session owned by owner (an opaque string such as a user id) in the owner's hash slot, as START does; returns its v2 token and lists it in the owner's index.",
    complexity: c"O(log(N)) where N is the number of sessions of the owner (the ids of ended ones among its 4 oldest are taken off the index)",
    args: &[SIGN_KEY, OWNER, TTL, Arg::Optional(&MAX_LIFETIME)],
    key_flags: INSERT,
};
pub const SESSIONS: Doc = Doc {
    summary: c"Lists the owner's live sessions of this application, newest first: id, creation time (Unix seconds), seconds left, then each payload asked for (nil when absent).",
    complexity: c"O(N*M) where N is the number of sessions of the owner and M the number of payload names",
    args: &[SIGN_KEY, OWNER, Arg::Optional(&Arg::Multiple(&NAME))],
    key_flags: RO,
};
pub const REVOKE: Doc = Doc {
    summary: c"Ends every session of the owner and application, or all but the session of the EXCEPT token, or those of the ids given; returns how many it ended.",
    complexity: c"O(N) where N is the number of sessions of the owner",
    args: &[
        SIGN_KEY,
        OWNER,
        Arg::Optional(&Arg::OneOf(
            c"which",
            &[
                Arg::Keyword(c"EXCEPT", c"token"),
                Arg::Multiple(&Arg::Str(c"id")),
            ],
        )),
    ],
    key_flags: DELETE_KEY,
};

/// Attaches `doc` to the registered command `name`; false where the server lacks the API.
pub fn set(ctx: Ctx, name: &CStr, arity: c_int, doc: &Doc) -> bool {
    // SAFETY: reads function pointers set once at load.
    let (Some(get_command), Some(set_info)) = (unsafe { raw::RedisModule_GetCommand }, unsafe {
        raw::RedisModule_SetCommandInfo
    }) else {
        return false;
    };
    // SAFETY: name is NUL-terminated; the command was registered just before.
    let command = unsafe { get_command(ctx, name.as_ptr()) };
    if command.is_null() {
        return false;
    }
    // Redis copies everything it is given, so these may live on the stack.
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: size_of::<raw::RedisModuleCommandArg>(),
    };
    let mut key_specs = [key_spec(doc.key_flags), zeroed_key_spec()];
    let mut nested = Vec::new();
    let mut args = arg_list(doc.args, &mut nested);
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: doc.summary.as_ptr(),
        complexity: doc.complexity.as_ptr(),
        since: c"1.0.0".as_ptr(),
        history: ptr::null_mut(),
        tips: ptr::null(),
        arity,
        key_specs: if doc.key_flags == 0 {
            ptr::null_mut()
        } else {
            key_specs.as_mut_ptr()
        },
        args: args.as_mut_ptr(),
    };
    // SAFETY: every pointer in info is valid for the call, arrays are zero-terminated.
    unsafe { set_info(command, &info) == crate::rm::OK }
}

pub fn set_acl_categories(ctx: Ctx, name: &CStr, categories: &CStr) {
    // SAFETY: reads function pointers set once at load.
    let (Some(get_command), Some(set_categories)) =
        (unsafe { raw::RedisModule_GetCommand }, unsafe {
            raw::RedisModule_SetCommandACLCategories
        })
    else {
        return;
    };
    // SAFETY: both strings are NUL-terminated; the command was registered just before.
    unsafe {
        let command = get_command(ctx, name.as_ptr());
        if !command.is_null() {
            set_categories(command, categories.as_ptr());
        }
    }
}

fn key_spec(flags: u32) -> raw::RedisModuleCommandKeySpec {
    let mut spec = zeroed_key_spec();
    spec.flags = flags as u64;
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 2;
    spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    spec.fk.range.lastkey = 0;
    spec.fk.range.keystep = 1;
    spec.fk.range.limit = 0;
    spec
}

fn zeroed_key_spec() -> raw::RedisModuleCommandKeySpec {
    // SAFETY: an all-zero key spec is the array terminator the API expects.
    unsafe { std::mem::zeroed() }
}

fn zeroed_arg() -> raw::RedisModuleCommandArg {
    // SAFETY: an all-zero arg is the array terminator the API expects.
    unsafe { std::mem::zeroed() }
}

/// A zero-terminated array of `args`; the arrays of nested arguments go into `nested`, which
/// must outlive every use of the result.
fn arg_list(
    args: &[Arg],
    nested: &mut Vec<Vec<raw::RedisModuleCommandArg>>,
) -> Vec<raw::RedisModuleCommandArg> {
    let mut out: Vec<raw::RedisModuleCommandArg> = args.iter().map(|a| arg(*a, nested)).collect();
    out.push(zeroed_arg());
    out
}

fn arg(a: Arg, nested: &mut Vec<Vec<raw::RedisModuleCommandArg>>) -> raw::RedisModuleCommandArg {
    let mut out = zeroed_arg();
    let (name, kind) = match a {
        Arg::Optional(inner) => {
            let mut out = arg(*inner, nested);
            out.flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL as c_int;
            return out;
        }
        Arg::Multiple(inner) => {
            let mut out = arg(*inner, nested);
            out.flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE as c_int;
            return out;
        }
        Arg::Keyword(keyword, n) => {
            let mut out = arg(Arg::Str(n), nested);
            out.token = keyword.as_ptr();
            return out;
        }
        Arg::OneOf(n, choices) => {
            // The heap buffer of an inner Vec does not move when `nested` grows.
            let mut list = arg_list(choices, nested);
            out.subargs = list.as_mut_ptr();
            nested.push(list);
            (n, raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF)
        }
        Arg::Str(n) => (
            n,
            raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
        ),
        Arg::Int(n) => (
            n,
            raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
        ),
        Arg::Key(n) => (n, raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY),
    };
    out.name = name.as_ptr();
    out.type_ = kind;
    out.key_spec_index = if matches!(a, Arg::Key(_)) { 0 } else { -1 };
    out
}
