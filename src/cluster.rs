//! What a Redis Cluster node needs beyond a standalone server.
//!
//! The module API of Redis 7.0 has no call for "does this node serve slot N", so the node's own
//! slots are learned from `CLUSTER NODES` (its `myself` line also shows the slots being imported
//! and migrated) and kept in a cache:
//!
//! - START draws ids until the token's slot is in the cache's *stable* set (owned, not
//!   migrating away), then lets the server confirm that one slot with a keyed internal call
//!   (`RedisModule_Call` refuses a key the node would redirect: a slot it lost, or a migrating
//!   one). A refusal refreshes the cache at once and drawing goes on, so a stale cache never
//!   creates a session in a slot that is not this node's. The cache is otherwise refreshed when
//!   it is older than [`REFRESH_MS`] (so newly gained slots are used within that time) and
//!   whenever it holds no slot (so a node that just gained its first slots uses them at once).
//! - A miss (no session under the token) is answered `-TRYAGAIN` when the slot is being
//!   imported here (or migrated away), since the session may only be in transit. That costs a
//!   `CLUSTER NODES` call, paid only on a miss in a slot the fresh cache does not already show
//!   as served here.
//! - RENEW declares no key (it writes a key of another slot than its token's, see DESIGN §7), so
//!   Redis does not route it: the module does, as Redis would have. The server confirms the
//!   token's slot with the same internal call as START; when it refuses, the fresh `CLUSTER
//!   NODES` tells a slot in transit (then the session is looked up, `-TRYAGAIN` if missing) from
//!   one served elsewhere (`-MOVED <slot> <ip>:<port>` of its primary, from the other lines).
//! - Valkey 9's atomic slot migration (`CLUSTER MIGRATESLOTS`) marks no slot as importing or
//!   migrating: the target holds a slot's keys before it owns the slot, but the server redirects
//!   the slot's commands until the hand-over and the slot is not in `stable` until then, so
//!   START never draws it and no token command of it reaches the module there (RENEW of it
//!   there answers `MOVED` to the source, which still serves it).
//!
//! Outside cluster mode none of this runs: one flags check per START or miss.

use std::ffi::c_int;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use redis_module::raw;

use crate::errors::Error;
use crate::rm::{self, Ctx};
use crate::slot::SLOTS;

/// The longest time START relies on the cache before reading `CLUSTER NODES` again.
pub const REFRESH_MS: i64 = 1000;

/// How many server refusals of cache-approved slots one START tolerates after refreshing
/// the cache before it gives up (only a cluster that is down refuses that often).
const MAX_REFUSALS: u32 = 8;

const WORDS: usize = SLOTS / 64;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SlotSet([u64; WORDS]);

impl SlotSet {
    pub fn new() -> SlotSet {
        SlotSet([0; WORDS])
    }

    pub fn insert(&mut self, slot: u16) {
        let s = slot as usize;
        if s < SLOTS {
            self.0[s / 64] |= 1 << (s % 64);
        }
    }

    pub fn remove(&mut self, slot: u16) {
        let s = slot as usize;
        if s < SLOTS {
            self.0[s / 64] &= !(1 << (s % 64));
        }
    }

    pub fn contains(&self, slot: u16) -> bool {
        let s = slot as usize;
        s < SLOTS && self.0[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet::new()
    }
}

/// This node's view of the slots, from `CLUSTER NODES`: its own (the `myself` line) and, for
/// redirections, which primary serves each of the others.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct MySlots {
    /// Owned and not migrating away: START may create sessions there.
    pub stable: SlotSet,
    /// Owned and being migrated to another node.
    pub migrating: SlotSet,
    /// Being imported from another node.
    pub importing: SlotSet,
    /// Slot ranges (first, last) served by other primaries, with their client address.
    pub elsewhere: Vec<(u16, u16, SocketAddr)>,
}

impl MySlots {
    /// The address of the other primary serving `slot`, if one does.
    pub fn owner(&self, slot: u16) -> Option<SocketAddr> {
        self.elsewhere
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, addr)| *addr)
    }

    fn in_transit(&self, slot: u16) -> bool {
        self.migrating.contains(slot) || self.importing.contains(slot)
    }
}

/// Parses the text of `CLUSTER NODES`; `None` when no line is flagged `myself`.
///
/// A line is `<id> <addr> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`, where a
/// slot is `N`, `N-M`, `[N->-<id>]` (migrating to) or `[N-<-<id>]` (importing from), and
/// `<addr>` is `<ip>:<port>@<bus port>[,<hostname>]`. Anything malformed is skipped, never
/// trusted.
pub fn parse_nodes(text: &[u8]) -> Option<MySlots> {
    let mut view = MySlots::default();
    let mut found_myself = false;
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line
            .split(|&b| b == b' ')
            .map(|f| f.strip_suffix(b"\r").unwrap_or(f));
        let (Some(_id), Some(addr), Some(flags)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let slots = fields.skip(5);
        if flags.split(|&b| b == b',').any(|f| f == b"myself") {
            found_myself = true;
            parse_my_slots(slots, &mut view);
        } else if let Some(addr) = parse_addr(addr) {
            for field in slots {
                if let Some((a, b)) = parse_range(field) {
                    view.elsewhere.push((a, b, addr));
                }
            }
        }
    }
    found_myself.then_some(view)
}

fn parse_my_slots<'a>(fields: impl Iterator<Item = &'a [u8]>, view: &mut MySlots) {
    let mut owned = SlotSet::new();
    for field in fields {
        if let Some(inner) = field.strip_prefix(b"[").and_then(|f| f.strip_suffix(b"]")) {
            if let Some((slot, _)) = split_once(inner, b"->-") {
                if let Some(s) = parse_slot(slot) {
                    view.migrating.insert(s);
                }
            } else if let Some((slot, _)) = split_once(inner, b"-<-") {
                if let Some(s) = parse_slot(slot) {
                    view.importing.insert(s);
                }
            }
        } else if let Some((a, b)) = parse_range(field) {
            for s in a..=b {
                owned.insert(s);
            }
        }
    }
    for (w, m) in owned.0.iter_mut().zip(view.migrating.0.iter()) {
        *w &= !m;
    }
    view.stable = owned;
}

/// `N` or `N-M` (N ≤ M) as an inclusive range.
fn parse_range(field: &[u8]) -> Option<(u16, u16)> {
    match split_once(field, b"-") {
        Some((a, b)) => {
            let (a, b) = (parse_slot(a)?, parse_slot(b)?);
            (a <= b).then_some((a, b))
        }
        None => parse_slot(field).map(|s| (s, s)),
    }
}

/// The client address of `<ip>:<port>@<bus port>[,<hostname>]`.
fn parse_addr(field: &[u8]) -> Option<SocketAddr> {
    let ip_port = field.split(|&b| b == b'@').next()?;
    let at = ip_port.iter().rposition(|&b| b == b':')?;
    let ip: IpAddr = std::str::from_utf8(&ip_port[..at]).ok()?.parse().ok()?;
    let port: u16 = std::str::from_utf8(&ip_port[at + 1..]).ok()?.parse().ok()?;
    (port != 0).then_some(SocketAddr::new(ip, port))
}

fn split_once<'a>(s: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = s.windows(sep.len()).position(|w| w == sep)?;
    Some((&s[..at], &s[at + sep.len()..]))
}

fn parse_slot(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = s.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    (n < SLOTS as u32).then_some(n as u16)
}

struct Cache {
    slots: MySlots,
    at_ms: i64,
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

fn with_cache<T>(f: impl FnOnce(&mut Option<Cache>) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

fn flags(ctx: Ctx) -> c_int {
    // SAFETY: ctx is the command's context.
    unsafe { raw::RedisModule_GetContextFlags.map_or(0, |f| f(ctx)) }
}

fn in_cluster(ctx: Ctx) -> bool {
    flags(ctx) & raw::REDISMODULE_CTX_FLAGS_CLUSTER as c_int != 0
}

/// The text of `CLUSTER NODES`, read through the server.
fn cluster_nodes(ctx: Ctx) -> Option<Vec<u8>> {
    // SAFETY: a variadic call whose format "c" matches the one C-string argument; the reply
    // is freed once, after its bytes are copied.
    unsafe {
        let call = raw::RedisModule_Call?;
        let reply = call(ctx, c"CLUSTER".as_ptr(), c"c".as_ptr(), c"NODES".as_ptr());
        if reply.is_null() {
            return None;
        }
        let mut len = 0usize;
        let ptr =
            raw::RedisModule_CallReplyStringPtr.map_or(std::ptr::null(), |f| f(reply, &mut len));
        let text =
            (!ptr.is_null()).then(|| std::slice::from_raw_parts(ptr.cast::<u8>(), len).to_vec());
        if let Some(free) = raw::RedisModule_FreeCallReply {
            free(reply);
        }
        text
    }
}

/// Reads the node's slots from the server and stores them in the cache.
fn refresh(ctx: Ctx) -> MySlots {
    let slots = cluster_nodes(ctx)
        .and_then(|t| parse_nodes(&t))
        .unwrap_or_default();
    with_cache(|c| {
        *c = Some(Cache {
            slots: slots.clone(),
            at_ms: rm::milliseconds(),
        })
    });
    slots
}

/// Whether the server would run a command on `key` here (it refuses keys it would redirect).
fn server_accepts_key(ctx: Ctx, key: &[u8]) -> bool {
    // SAFETY: format "b" takes a buffer and its length; the reply is freed at once.
    unsafe {
        let Some(call) = raw::RedisModule_Call else {
            return true;
        };
        let reply = call(
            ctx,
            c"EXISTS".as_ptr(),
            c"b".as_ptr(),
            key.as_ptr(),
            key.len(),
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

/// The slots START may use, for the duration of one START.
pub enum SlotFilter {
    Standalone,
    Cluster {
        stable: Box<SlotSet>,
        refreshed: bool,
        refusals: u32,
    },
}

impl SlotFilter {
    /// Standalone: every slot. Cluster: this node's stable slots, from a cache no older than
    /// [`REFRESH_MS`]; `NoSlots` when it serves none.
    pub fn new(ctx: Ctx) -> Result<SlotFilter, Error> {
        if !in_cluster(ctx) {
            return Ok(SlotFilter::Standalone);
        }
        let now = rm::milliseconds();
        let cached = with_cache(|c| match c {
            Some(c) if now - c.at_ms < REFRESH_MS && !c.slots.stable.is_empty() => {
                Some(c.slots.stable.clone())
            }
            _ => None,
        });
        let (stable, refreshed) = match cached {
            Some(s) => (s, false),
            None => (refresh(ctx).stable, true),
        };
        if stable.is_empty() {
            return Err(Error::NoSlots);
        }
        Ok(SlotFilter::Cluster {
            stable: Box::new(stable),
            refreshed,
            refusals: 0,
        })
    }

    /// Whether START may hand out `token`, whose slot is `slot`, on this node.
    pub fn accepts(&mut self, ctx: Ctx, slot: u16, token: &[u8]) -> Result<bool, Error> {
        let SlotFilter::Cluster {
            stable,
            refreshed,
            refusals,
        } = self
        else {
            return Ok(true);
        };
        if !stable.contains(slot) {
            return Ok(false);
        }
        if server_accepts_key(ctx, token) {
            return Ok(true);
        }
        // The cache said yes and the server said no: the cache is stale (or the cluster down).
        if !*refreshed {
            *refreshed = true;
            **stable = refresh(ctx).stable;
            if stable.is_empty() {
                return Err(Error::NoSlots);
            }
            return Ok(false);
        }
        stable.remove(slot);
        *refusals += 1;
        if *refusals > MAX_REFUSALS || stable.is_empty() {
            return Err(Error::ClusterDown);
        }
        Ok(false)
    }
}

/// The error for a token whose session is not here.
pub fn missing_session(ctx: Ctx, slot: u16) -> Error {
    let f = flags(ctx);
    if f & raw::REDISMODULE_CTX_FLAGS_CLUSTER as c_int == 0
        || f & raw::REDISMODULE_CTX_FLAGS_SLAVE as c_int != 0
    {
        return Error::NoSession;
    }
    // A slot this node serves is not being imported by it: no call needed.
    let now = rm::milliseconds();
    let served = with_cache(|c| {
        c.as_ref()
            .is_some_and(|c| now - c.at_ms < REFRESH_MS && c.slots.stable.contains(slot))
    });
    if served {
        return Error::NoSession;
    }
    if refresh(ctx).in_transit(slot) {
        Error::TryAgain
    } else {
        Error::NoSession
    }
}

/// Whether `slot` is being imported here or migrated away (never on a replica or outside
/// cluster mode): the owner commands' data may then be split between two nodes.
pub fn slot_in_transit(ctx: Ctx, slot: u16) -> bool {
    let f = flags(ctx);
    if f & raw::REDISMODULE_CTX_FLAGS_CLUSTER as c_int == 0
        || f & raw::REDISMODULE_CTX_FLAGS_SLAVE as c_int != 0
    {
        return false;
    }
    let now = rm::milliseconds();
    let stable = with_cache(|c| {
        c.as_ref()
            .is_some_and(|c| now - c.at_ms < REFRESH_MS && c.slots.stable.contains(slot))
    });
    !stable && refresh(ctx).in_transit(slot)
}

/// RENEW's routing of the token's slot, as Redis routes a keyed command: `Ok` when the session
/// is to be looked up here (the slot is served here or in transit), else the redirection.
pub fn route(ctx: Ctx, slot: u16, token: &[u8]) -> Result<(), Error> {
    if !in_cluster(ctx) || server_accepts_key(ctx, token) {
        return Ok(());
    }
    let view = refresh(ctx);
    if view.stable.contains(slot) || view.in_transit(slot) {
        return Ok(());
    }
    match view.owner(slot) {
        Some(node) => Err(Error::Moved { slot, node }),
        None => Err(Error::SlotNotServed),
    }
}

/// START and RENEW write a key outside the slot a cluster transaction runs under, where the
/// server would file it in the wrong slot's table (DESIGN §7): refuse them there.
pub fn refuse_in_multi(ctx: Ctx, refusal: Error) -> Result<(), Error> {
    let f = flags(ctx);
    if f & raw::REDISMODULE_CTX_FLAGS_CLUSTER as c_int != 0
        && f & raw::REDISMODULE_CTX_FLAGS_MULTI as c_int != 0
    {
        return Err(refusal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [93->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [6000-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1] 16000 bogus 9-x 20000 [9000-<-] 
";

    #[test]
    fn parses_the_myself_line() {
        let s = parse_nodes(NODES.as_bytes()).unwrap();
        assert!(s.stable.contains(0) && s.stable.contains(5460) && s.stable.contains(16000));
        assert!(!s.stable.contains(93), "a migrating slot is not stable");
        assert!(!s.stable.contains(5461) && !s.stable.contains(6000));
        assert_eq!(s.stable.len(), 5461 - 1 + 1);
        assert!(s.importing.contains(6000) && s.importing.contains(9000));
        assert_eq!(s.importing.len(), 2);
        assert!(s.migrating.contains(93) && s.migrating.len() == 1);
    }

    #[test]
    fn knows_which_primary_serves_the_other_slots() {
        let s = parse_nodes(NODES.as_bytes()).unwrap();
        let second: SocketAddr = "127.0.0.1:30002".parse().unwrap();
        let third: SocketAddr = "127.0.0.1:30003".parse().unwrap();
        assert_eq!(s.owner(5461), Some(second));
        assert_eq!(s.owner(10922), Some(second));
        assert_eq!(s.owner(10923), Some(third));
        assert_eq!(s.owner(16383), Some(third));
        assert_eq!(s.owner(0), None, "served here");
        let v6 = "a [::1]:1@2 myself,master - 0 0 1 connected 0\n\
                  b ::1:7001@17001,host.example master - 0 0 2 connected 1-100 200\n\
                  c :0@0 master,noaddr - 0 0 3 connected 300\n\
                  d 10.0.0.9:7003@17003 master - 0 0 4 connected 400-399 x-1 [500->-a]\n";
        let s = parse_nodes(v6.as_bytes()).unwrap();
        let b: SocketAddr = "[::1]:7001".parse().unwrap();
        assert_eq!(
            (s.owner(1), s.owner(100), s.owner(200)),
            (Some(b), Some(b), Some(b))
        );
        assert_eq!(s.owner(101), None);
        assert_eq!(
            s.owner(300),
            None,
            "a node without an address redirects nowhere"
        );
        assert_eq!(
            (s.owner(399), s.owner(400), s.owner(500)),
            (None, None, None)
        );
    }

    #[test]
    fn replica_or_missing_myself() {
        let replica = "abc 127.0.0.1:1@2 myself,slave def 0 0 1 connected\n";
        let s = parse_nodes(replica.as_bytes()).unwrap();
        assert!(s.stable.is_empty() && s.importing.is_empty() && s.elsewhere.is_empty());
        assert_eq!(
            parse_nodes(b"abc 127.0.0.1:1@2 master - 0 0 1 connected 0-16383"),
            None
        );
        assert_eq!(parse_nodes(b""), None);
        assert_eq!(parse_nodes(b"\n\n myself"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            &b"a b myself c d e f g 16384 99999999 -1 1-0 [5->-] [->-x] [] [ ] - --"[..],
            b"a b myself,master c d e f g 3-2 [16383-<-x]\r\n",
            b"a b myself c d e f g \xff\x00 0-16383",
        ] {
            let _ = parse_nodes(text);
        }
        let s = parse_nodes(b"a b myself,master c d e f g 3-2 [16383-<-x]\r\n").unwrap();
        assert!(s.stable.is_empty(), "a reversed range owns nothing");
        assert!(s.importing.contains(16383));
        let s = parse_nodes(b"a b myself c d e f g \xff\x00 0-16383").unwrap();
        assert_eq!(s.stable.len(), SLOTS);
    }

    #[test]
    fn slot_set_bounds() {
        let mut s = SlotSet::new();
        s.insert(16383);
        s.insert(16384);
        assert!(s.contains(16383) && !s.contains(16384) && s.len() == 1);
        s.remove(16383);
        assert!(s.is_empty());
    }
}
