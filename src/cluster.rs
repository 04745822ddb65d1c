//! What a Redis Cluster node needs beyond a standalone server: the node's view of the slots
//! (topology.rs), kept in a cache, and the server's own answer for one slot (the probe).
//!
//! - The probe: `SETRANGE sessiongate:{<tag>} 0 ""` through `RedisModule_Call`, `<tag>` the
//!   slot's tag. The server checks a called command's key as it checks a client's (and copies
//!   the client's ASKING), so the call is refused for a slot it would redirect, and fails with
//!   ENETDOWN or EROFS when the cluster is down. The name carries no secret (never a token),
//!   is never a session, and the command never changes anything: a write on a missing key
//!   (and SETRANGE of nothing changes no key that exists) fires no keyspace event, counts no
//!   keyspace miss and enters no client-tracking table (only read commands do), and is not
//!   propagated. It shows in MONITOR, SLOWLOG and `INFO commandstats` as what it is.
//! - The cache is trusted while it is younger than `cluster-cache-ms` (1 s by default),
//!   importing and migrating slots included, and read again (`CLUSTER NODES`, and `CLUSTER
//!   SHARDS` for the endpoints) when it is older, or when the server contradicts it: a probe
//!   refused for a slot it lists as stable, or a command that ran here for a slot it says this
//!   node has nothing to do with. Those re-reads come from a small budget (`BURST` at once, then
//!   one per `MIN_GAP_MS`); when it is spent, a contradiction is answered `-TRYAGAIN`, which
//!   cluster clients retry.
//! - A session missing in a slot the cache says is being imported is answered `-TRYAGAIN` only
//!   once a second probe (`stable_here`, two names of the slot) confirms the import goes on:
//!   right after it ends, the cache is up to `cluster-cache-ms` old, and "does not exist" is
//!   the answer.
//! - START draws ids until the token's slot is in the cache's stable set and the probe passes;
//!   a refused slot leaves the cache at once.
//! - RENEW declares no key (it writes a key of another slot than its token's, see DESIGN §7), so
//!   Redis does not route it: the module does, as Redis routes a command whose key is the token
//!   (`View::route`), and answers a missing session as Redis would (`View::missing`): ASK from a
//!   migrating source, TRYAGAIN on the importing node, MOVED to the owner.
//! - Valkey 9's atomic slot migration (`CLUSTER MIGRATESLOTS`) marks no slot as importing or
//!   migrating: the target holds a slot's keys before it owns the slot, but the server redirects
//!   the slot's commands until the hand-over and the slot is not in `stable` until then, so
//!   START never draws it and no token command of it reaches the module there (RENEW of it
//!   there answers `MOVED` to the source, which still serves it).
//!
//! Outside cluster mode none of this runs (cluster mode is read once, at load): one flags check
//! per miss.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use redis_module::raw;

use crate::config;
use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::slot;
use crate::topology::{self, Decision, Probe, Reply, View};

/// Reads of the topology that the server's contradictions may ask for (the cache's age asks for
/// one every `cluster-cache-ms`): `BURST` at once (topology changes come in bursts: a slot's
/// migration ends and the next one begins), then one per `MIN_GAP_MS`.
const MIN_GAP_MS: i64 = 100;
const BURST: i64 = 4;

/// How many server refusals of cache-approved slots one START tolerates before it gives up
/// (only a cluster in a state its own `CLUSTER NODES` does not show refuses that often).
const MAX_REFUSALS: u32 = 8;

/// How deep a `CLUSTER SHARDS` reply is read (shards, shard, nodes, node, value).
const MAX_REPLY_DEPTH: usize = 6;

struct Cache {
    view: View,
    at_ms: i64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// Runs `f` on the cached view (an empty one if none was read yet). Never calls Redis while
/// the lock is held.
fn with_view<T>(f: impl FnOnce(&mut View) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = guard.get_or_insert_with(|| Cache {
        view: View::default(),
        at_ms: i64::MIN,
    });
    f(&mut cache.view)
}

/// Milliseconds since the topology was read.
fn cache_age_ms(now: i64) -> i64 {
    let guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    guard
        .as_ref()
        .map_or(i64::MAX, |c| now.saturating_sub(c.at_ms))
}

/// Empties the cache (the module is being unloaded).
pub fn clear() {
    let taken = CACHE.lock().unwrap_or_else(PoisonError::into_inner).take();
    drop(taken);
}

/// What is left of the contradictions' reads (see `BURST`).
struct Budget {
    reads: i64,
    at_ms: i64,
}

static BUDGET: Mutex<Budget> = Mutex::new(Budget {
    reads: BURST,
    at_ms: i64::MIN,
});

/// Takes one read from the budget, if one is left.
fn take_read(now: i64) -> bool {
    let mut b = BUDGET.lock().unwrap_or_else(PoisonError::into_inner);
    let earned = now.saturating_sub(b.at_ms) / MIN_GAP_MS;
    if earned >= BURST {
        b.reads = BURST;
        b.at_ms = now;
    } else if earned > 0 {
        b.reads = (b.reads + earned).min(BURST);
        b.at_ms += earned * MIN_GAP_MS;
    }
    if b.reads == 0 {
        return false;
    }
    b.reads -= 1;
    true
}

fn flags(ctx: Ctx) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_GetContextFlags.map_or(0, |f| f(ctx)) }
}

/// Whether the server runs in cluster mode: `cluster-enabled` cannot change while it runs, so
/// it is read once at load and START and RENEW pay no flags call for it on a standalone server.
static CLUSTER_MODE: AtomicBool = AtomicBool::new(false);

/// Called at load, with the load context.
pub fn init(ctx: Ctx) {
    let on = flags(ctx) & raw::REDISMODULE_CTX_FLAGS_CLUSTER as c_int != 0;
    CLUSTER_MODE.store(on, Ordering::Relaxed);
}

fn in_cluster(_ctx: Ctx) -> bool {
    CLUSTER_MODE.load(Ordering::Relaxed)
}

/// A primary in cluster mode (a replica serves reads of its primary's slots and shows none of
/// its own).
fn cluster_primary(ctx: Ctx) -> bool {
    in_cluster(ctx) && flags(ctx) & raw::REDISMODULE_CTX_FLAGS_SLAVE as c_int == 0
}

/// Whether the calling client is connected over TLS (redirections name the TLS port then).
/// A script's or the replication link's client has no connection of its own (and Valkey 9.1
/// crashes when asked about a script's): false.
fn client_tls(ctx: Ctx) -> bool {
    let fake = raw::REDISMODULE_CTX_FLAGS_LUA | raw::REDISMODULE_CTX_FLAGS_REPLICATED;
    if flags(ctx) & fake as c_int != 0 {
        return false;
    }
    // SAFETY: reads function pointers set once at load; the info struct is ours, its version
    // set as the API asks.
    unsafe {
        let (Some(id_of), Some(info_of)) = (
            raw::RedisModule_GetClientId,
            raw::RedisModule_GetClientInfoById,
        ) else {
            return false;
        };
        let id = id_of(ctx);
        if id == 0 {
            return false;
        }
        let mut info: raw::RedisModuleClientInfo = std::mem::zeroed();
        info.version = raw::REDISMODULE_CLIENTINFO_VERSION as u64;
        info_of(
            &mut info as *mut raw::RedisModuleClientInfo as *mut c_void,
            id,
        ) == rm::OK
            && info.flags & raw::REDISMODULE_CLIENTINFO_FLAG_SSL as u64 != 0
    }
}

/// Runs a command without arguments but its subcommand, returning its reply converted.
fn call_cluster(ctx: Ctx, subcommand: &std::ffi::CStr) -> Option<Reply> {
    // SAFETY: a variadic call whose format "c" matches the one C-string argument; the reply is
    // read, then freed once.
    unsafe {
        let call = raw::RedisModule_Call?;
        let reply = call(ctx, c"CLUSTER".as_ptr(), c"c".as_ptr(), subcommand.as_ptr());
        if reply.is_null() {
            return None;
        }
        let converted = convert(reply, 0);
        if let Some(free) = raw::RedisModule_FreeCallReply {
            free(reply);
        }
        Some(converted)
    }
}

/// The reply as the view's parsers take it.
///
/// # Safety
///
/// `reply` must be a live call reply (or one of its elements).
unsafe fn convert(reply: *mut raw::RedisModuleCallReply, depth: usize) -> Reply {
    // SAFETY: the caller's promise; elements live as long as the reply they belong to.
    unsafe {
        let (Some(kind), Some(len), Some(element), Some(string), Some(integer)) = (
            raw::RedisModule_CallReplyType,
            raw::RedisModule_CallReplyLength,
            raw::RedisModule_CallReplyArrayElement,
            raw::RedisModule_CallReplyStringPtr,
            raw::RedisModule_CallReplyInteger,
        ) else {
            return Reply::Other;
        };
        match kind(reply) as isize {
            raw::REDISMODULE_REPLY_STRING => {
                let mut n = 0usize;
                let p = string(reply, &mut n);
                if p.is_null() {
                    return Reply::Bulk(vec![]);
                }
                Reply::Bulk(std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec())
            }
            raw::REDISMODULE_REPLY_INTEGER => Reply::Int(integer(reply)),
            raw::REDISMODULE_REPLY_ARRAY if depth < MAX_REPLY_DEPTH => Reply::Array(
                (0..len(reply))
                    .map(|i| convert(element(reply, i), depth + 1))
                    .collect(),
            ),
            _ => Reply::Other,
        }
    }
}

/// Reads the topology from the server and caches it.
fn refresh(ctx: Ctx) {
    let mut view = match call_cluster(ctx, c"NODES") {
        Some(Reply::Bulk(text)) => topology::parse_nodes(&text).unwrap_or_default(),
        _ => View::default(),
    };
    if let Some(shards) = call_cluster(ctx, c"SHARDS") {
        view.apply_shards(&topology::parse_shards(&shards));
    }
    let mut guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    *guard = Some(Cache {
        view,
        at_ms: rm::milliseconds(),
    });
}

/// Reads the topology again if the cache is older than `cluster-cache-ms`.
fn refresh_if_old(ctx: Ctx) {
    if cache_age_ms(rm::milliseconds()) >= config::cluster_cache_ms() as i64 {
        refresh(ctx);
    }
}

/// Reads the topology again because the server contradicted the cache, if the contradictions'
/// budget allows; whether it did.
fn refresh_on_contradiction(ctx: Ctx) -> bool {
    if !take_read(rm::milliseconds()) {
        return false;
    }
    refresh(ctx);
    true
}

/// What the server answers for a write on the slot's probe name (see the module docs).
fn probe(ctx: Ctx, slot: u16) -> Probe {
    let mut key = [0u8; slot::MAX_PROBE_KEY_LEN];
    let len = slot::probe_key(slot, &mut key);
    // SAFETY: format "bcc": a buffer and its length, then two C strings; the reply is freed
    // once. errno is read right after the call, before anything else can change it.
    unsafe {
        let Some(call) = raw::RedisModule_Call else {
            return Probe::Served;
        };
        let reply = call(
            ctx,
            c"SETRANGE".as_ptr(),
            c"bcc".as_ptr(),
            key.as_ptr(),
            len,
            c"0".as_ptr(),
            c"".as_ptr(),
        );
        if reply.is_null() {
            return match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ENETDOWN) => Probe::Down,
                Some(libc::EROFS) => Probe::DownReadOnly,
                _ => Probe::Refused,
            };
        }
        if let Some(free) = raw::RedisModule_FreeCallReply {
            free(reply);
        }
        Probe::Served
    }
}

/// Whether the slot is served here and stable, as the server says now: a write on the slot's two
/// reserved names (`SMOVE sessiongate:{<tag>} sessiongate:{<tag>}: ""`, which moves nothing:
/// neither name ever exists) runs only there. The server refuses it for a slot being imported
/// even after the client's ASKING (two missing keys: TRYAGAIN), where the one-name probe passes.
/// Asked when the cache says a slot is being imported and a session is missing: the import may
/// have ended since the cache was read.
fn stable_here(ctx: Ctx, slot: u16) -> bool {
    let mut first = [0u8; slot::MAX_PROBE_KEY_LEN];
    let len = slot::probe_key(slot, &mut first);
    let mut second = [0u8; slot::MAX_PROBE_KEY_LEN + 1];
    second[..len].copy_from_slice(&first[..len]);
    second[len] = b':';
    // SAFETY: format "bbc": two buffers with their lengths, then a C string; the reply is freed
    // once.
    unsafe {
        let Some(call) = raw::RedisModule_Call else {
            return false;
        };
        let reply = call(
            ctx,
            c"SMOVE".as_ptr(),
            c"bbc".as_ptr(),
            first.as_ptr(),
            len,
            second.as_ptr(),
            len + 1,
            c"".as_ptr(),
        );
        if reply.is_null() {
            return false;
        }
        if let Some(free) = raw::RedisModule_FreeCallReply {
            free(reply);
        }
        true
    }
}

/// When the cache says `slot` is being imported: whether the import has in fact ended (then the
/// cache is read again, as for any contradiction).
fn import_ended(ctx: Ctx, slot: u16) -> bool {
    if !with_view(|v| v.importing.contains(slot)) || !stable_here(ctx, slot) {
        return false;
    }
    refresh_on_contradiction(ctx);
    true
}

/// The slots START may use, for the duration of one START.
pub enum SlotFilter {
    Standalone,
    Cluster { refusals: u32 },
}

impl SlotFilter {
    /// Standalone: every slot. Cluster: this node's stable slots; `NoSlots` when it serves none.
    pub fn new(ctx: Ctx) -> Result<SlotFilter, Error> {
        if !in_cluster(ctx) {
            return Ok(SlotFilter::Standalone);
        }
        refresh_if_old(ctx);
        // A node that serves no slot may just have gained its first: read again (within the
        // contradictions' budget).
        if with_view(|v| v.stable.is_empty())
            && (!refresh_on_contradiction(ctx) || with_view(|v| v.stable.is_empty()))
        {
            return Err(Error::NoSlots);
        }
        Ok(SlotFilter::Cluster { refusals: 0 })
    }

    /// Whether START may hand out a token of `slot` on this node.
    pub fn accepts(&mut self, ctx: Ctx, slot: u16) -> Result<bool, Error> {
        let SlotFilter::Cluster { refusals } = self else {
            return Ok(true);
        };
        if !with_view(|v| v.stable.contains(slot)) {
            return Ok(false);
        }
        match probe(ctx, slot) {
            Probe::Served => Ok(true),
            Probe::Down => Err(Error::ClusterDown),
            Probe::DownReadOnly => Err(Error::ClusterDownReadOnly),
            Probe::Refused => {
                // The cache is wrong about this slot: it leaves the cache at once (no call),
                // and the topology is read again when allowed.
                with_view(|v| v.stable.remove(slot));
                refresh_on_contradiction(ctx);
                *refusals += 1;
                if *refusals > MAX_REFUSALS {
                    return Err(Error::ClusterDown);
                }
                if with_view(|v| v.stable.is_empty()) {
                    return Err(Error::NoSlots);
                }
                Ok(false)
            }
        }
    }
}

/// A decision on the cache (read again first when old), made once more on a fresh read when
/// the server contradicts the cache.
enum Outcome {
    Decided(Decision),
    /// A fresh read still contradicts the server.
    StillStale,
    /// The server contradicts the cache, and the contradictions' budget is spent.
    NotReread,
}

fn decide(ctx: Ctx, f: impl Fn(&View) -> Decision) -> Outcome {
    refresh_if_old(ctx);
    match with_view(|v| f(v)) {
        Decision::Stale if refresh_on_contradiction(ctx) => match with_view(|v| f(v)) {
            Decision::Stale => Outcome::StillStale,
            d => Outcome::Decided(d),
        },
        Decision::Stale => Outcome::NotReread,
        d => Outcome::Decided(d),
    }
}

/// The error for a token of `slot` whose session is not here: "does not exist", or what Redis
/// would answer for the slot (TRYAGAIN while it is imported, ASK while it migrates away).
pub fn missing_session(ctx: Ctx, slot: u16) -> Error {
    if !cluster_primary(ctx) {
        return Error::NoSession;
    }
    let tls = || client_tls(ctx);
    match decide(ctx, |v| v.missing(slot, &tls)) {
        Outcome::Decided(Decision::Answer(Error::TryAgain)) if import_ended(ctx, slot) => {
            Error::NoSession
        }
        Outcome::Decided(Decision::Answer(e)) => e,
        Outcome::NotReread => Error::TryAgain,
        // The server ran the command here and a fresh view knows nothing of the slot: the
        // server is right, the slot is served here.
        Outcome::Decided(_) | Outcome::StillStale => Error::NoSession,
    }
}

/// Whether this node is importing or migrating `slot` (from the cache, read again under the
/// same rules as above; unsure, it says yes): the owner commands' data may then be split
/// between two nodes. A replica answers false: it serves its primary's slots and shows no slot
/// state of its own.
pub fn slot_in_transit(ctx: Ctx, slot: u16) -> bool {
    if !cluster_primary(ctx) {
        return false;
    }
    let known = |v: &View| match v.in_transit(slot) {
        Some(true) => Decision::Here,
        Some(false) => Decision::Answer(Error::NoSession),
        None => Decision::Stale,
    };
    match decide(ctx, known) {
        Outcome::Decided(Decision::Here) => !import_ended(ctx, slot),
        Outcome::NotReread => true,
        Outcome::Decided(_) | Outcome::StillStale => false,
    }
}

/// RENEW's routing of the token's slot, as Redis routes a keyed command: `Ok` when the session
/// is to be looked up here (a miss is then answered by `missing_session`), else the answer.
pub fn route(ctx: Ctx, slot: u16) -> Result<(), Error> {
    if !in_cluster(ctx) {
        return Ok(());
    }
    let probe = probe(ctx, slot);
    let tls = || client_tls(ctx);
    match decide(ctx, |v| v.route(slot, probe, &tls)) {
        Outcome::Decided(Decision::Answer(e)) => Err(e),
        Outcome::Decided(_) => Ok(()),
        // A fresh view cannot explain the server's answer: where it accepts the slot it is
        // right; where it refuses a slot the view says is stable, the client retries.
        Outcome::StillStale if probe == Probe::Served => Ok(()),
        Outcome::StillStale | Outcome::NotReread => Err(Error::TryAgain),
    }
}

/// START and RENEW write a key outside the slot a cluster transaction runs under, where the
/// server would file it in the wrong slot's table (DESIGN §7): refuse them there.
pub fn refuse_in_multi(ctx: Ctx, refusal: Error) -> Result<(), Error> {
    if in_cluster(ctx) && flags(ctx) & raw::REDISMODULE_CTX_FLAGS_MULTI as c_int != 0 {
        return Err(refusal);
    }
    Ok(())
}
