//! An owner's index: the sorted set `sessiongate:{<tag>}:owner:<digest>` in the owner's slot,
//! one member per session id, scored by its creation time (Unix ms), so the newest comes last.
//!
//! It lasts at least as long as the latest of its sessions: every write that gives a session a
//! later end raises the index's (never lowers it), and REVOKE, which looks at every session,
//! sets it to exactly the latest of those left. Removing the last id deletes it
//! (Redis deletes an empty sorted set). Written as ZADD, ZREM, PEXPIREAT, PERSIST and UNLINK.

use std::ffi::{c_int, c_longlong};
use std::ptr;

use redis_module::raw;
use subtle::ConstantTimeEq;

use super::{expire, expires_at_ms, key_type, open, plan_expiry, unlink, Session};
use crate::errors::Error;
use crate::expiry::Expiry;
use crate::keycache::FINGERPRINT_LEN;
use crate::owners::{self, Digest};
use crate::rm::{self, replicate, Ctx};
use crate::strings::{OwnedStr, Str};
use crate::token::{self, Id};

pub struct Index {
    ctx: Ctx,
    key: *mut raw::RedisModuleKey,
    name: OwnedStr,
}

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: the key was opened by us and is closed once.
        unsafe { raw::RedisModule_CloseKey.unwrap()(self.key) }
    }
}

impl Index {
    /// Opens the index of the owner `digest` in `slot`; `Internal` when that key holds
    /// something else than a sorted set (nothing this module wrote).
    pub fn open(ctx: Ctx, slot: u16, digest: &Digest, write: bool) -> Result<Index, Error> {
        let mut buf = [0u8; owners::MAX_INDEX_KEY_LEN];
        let n = owners::index_key(slot, digest, &mut buf);
        let name = OwnedStr::new(ctx, &buf[..n]);
        let mode = if write {
            raw::REDISMODULE_READ | raw::REDISMODULE_WRITE
        } else {
            raw::REDISMODULE_READ
        };
        // SAFETY: name is a live module string.
        let key =
            unsafe { raw::RedisModule_OpenKey.unwrap()(ctx, name.as_str().ptr(), mode as c_int) };
        let index = Index { ctx, key, name };
        match key_type(key) as isize {
            raw::REDISMODULE_KEYTYPE_EMPTY | raw::REDISMODULE_KEYTYPE_ZSET => Ok(index),
            _ => Err(Error::Internal),
        }
    }

    fn name(&self) -> Str<'_> {
        self.name.as_str()
    }

    pub fn exists(&self) -> bool {
        key_type(self.key) == raw::REDISMODULE_KEYTYPE_ZSET as c_int
    }

    /// Every member, newest first (highest score first; ties: the greater member first).
    fn members(&self) -> Vec<OwnedStr> {
        let mut out = Vec::new();
        if !self.exists() {
            return out;
        }
        // SAFETY: self.key is an open sorted set; each element returned is ours to free, and
        // the range is stopped before the key is used otherwise.
        unsafe {
            if raw::RedisModule_ZsetLastInScoreRange.unwrap()(
                self.key,
                f64::NEG_INFINITY,
                f64::INFINITY,
                0,
                0,
            ) != rm::OK
            {
                return out;
            }
            while raw::RedisModule_ZsetRangeEndReached.unwrap()(self.key) == 0 {
                let mut score = 0f64;
                let ele = raw::RedisModule_ZsetRangeCurrentElement.unwrap()(self.key, &mut score);
                if let Some(ele) = OwnedStr::adopt(self.ctx, ele) {
                    out.push(ele);
                }
                if raw::RedisModule_ZsetRangePrev.unwrap()(self.key) == 0 {
                    break;
                }
            }
            raw::RedisModule_ZsetRangeStop.unwrap()(self.key);
        }
        out
    }

    /// The `n` oldest members (lowest score first), where the ids of expired sessions gather.
    fn oldest(&self, n: usize) -> Vec<OwnedStr> {
        let mut out = Vec::new();
        if !self.exists() || n == 0 {
            return out;
        }
        // SAFETY: as in `members`, walking from the lowest score up.
        unsafe {
            if raw::RedisModule_ZsetFirstInScoreRange.unwrap()(
                self.key,
                f64::NEG_INFINITY,
                f64::INFINITY,
                0,
                0,
            ) != rm::OK
            {
                return out;
            }
            while out.len() < n && raw::RedisModule_ZsetRangeEndReached.unwrap()(self.key) == 0 {
                let mut score = 0f64;
                let ele = raw::RedisModule_ZsetRangeCurrentElement.unwrap()(self.key, &mut score);
                if let Some(ele) = OwnedStr::adopt(self.ctx, ele) {
                    out.push(ele);
                }
                if raw::RedisModule_ZsetRangeNext.unwrap()(self.key) == 0 {
                    break;
                }
            }
            raw::RedisModule_ZsetRangeStop.unwrap()(self.key);
        }
        out
    }

    fn contains(&self, member: Str<'_>) -> bool {
        let mut score = 0f64;
        // SAFETY: self.key is open; member is live.
        self.exists()
            && unsafe {
                raw::RedisModule_ZsetScore.unwrap()(self.key, member.ptr(), &mut score) == rm::OK
            }
    }

    /// Lists `id` (created at `created_ms`) unless it is listed already.
    fn add(&self, id: &Id, created_ms: i64) -> Result<(), Error> {
        let member = OwnedStr::new(self.ctx, id);
        if self.contains(member.as_str()) {
            return Ok(());
        }
        // SAFETY: self.key is open for writing; member is live.
        let added = unsafe {
            raw::RedisModule_ZsetAdd.unwrap()(
                self.key,
                created_ms as f64,
                member.as_str().ptr(),
                ptr::null_mut(),
            )
        };
        if added != rm::OK {
            return Err(Error::Internal);
        }
        replicate!(
            self.ctx,
            c"ZADD",
            c"slb",
            self.name().ptr(),
            created_ms as c_longlong,
            id.as_ptr(),
            id.len()
        );
        rm::notify(self.ctx, raw::REDISMODULE_NOTIFY_ZSET, c"zadd", self.name());
        Ok(())
    }

    /// Takes `id` off the index (which Redis deletes with its last member).
    pub fn remove(&self, id: &Id) {
        let member = OwnedStr::new(self.ctx, id);
        self.remove_member(member.as_str());
    }

    fn remove_member(&self, member: Str<'_>) {
        if !self.exists() {
            return;
        }
        let mut deleted: c_int = 0;
        // SAFETY: self.key is open for writing; member is live.
        unsafe { raw::RedisModule_ZsetRem.unwrap()(self.key, member.ptr(), &mut deleted) };
        if deleted == 0 {
            return;
        }
        replicate!(self.ctx, c"ZREM", c"ss", self.name().ptr(), member.ptr());
        rm::notify(self.ctx, raw::REDISMODULE_NOTIFY_ZSET, c"zrem", self.name());
    }

    /// Keeps the owned session `id` listed and the index lasting at least until
    /// `expires_at_ms` (`None`: a session without an end, so the index gets none either).
    pub fn keep(&self, id: &Id, created_ms: i64, expires_at_ms: Option<i64>) -> Result<(), Error> {
        let had_end = self.exists().then(|| self.expires_at_ms());
        self.add(id, created_ms)?;
        let later = match (had_end, expires_at_ms) {
            (Some(None), _) => return Ok(()),
            (Some(Some(current)), Some(at)) if current >= at => return Ok(()),
            (_, at) => at,
        };
        self.set_end(later)
    }

    fn expires_at_ms(&self) -> Option<i64> {
        expires_at_ms(self.key)
    }

    /// Makes the index end at `at_ms`, or never (`None`), as a session of it does.
    fn set_end(&self, at_ms: Option<i64>) -> Result<(), Error> {
        match at_ms {
            Some(at) => match plan_expiry(at) {
                // Its latest session ends now: so does the index.
                Expiry::Now => self.delete(),
                expiry => expire(self.ctx, self.key, self.name(), at, expiry)?,
            },
            None => {
                if self.expires_at_ms().is_none() {
                    return Ok(());
                }
                // SAFETY: self.key is open for writing.
                let status = unsafe {
                    raw::RedisModule_SetExpire.unwrap()(
                        self.key,
                        raw::REDISMODULE_NO_EXPIRE as c_longlong,
                    )
                };
                if status != rm::OK {
                    return Err(Error::Internal);
                }
                replicate!(self.ctx, c"PERSIST", c"s", self.name().ptr());
                rm::notify(
                    self.ctx,
                    raw::REDISMODULE_NOTIFY_GENERIC,
                    c"persist",
                    self.name(),
                );
            }
        }
        Ok(())
    }

    pub fn delete(&self) {
        if !self.exists() {
            return;
        }
        unlink(self.ctx, self.key, self.name());
    }
}

/// An owner's index and the sessions it lists, opened for one owner command.
pub struct OwnerSessions {
    pub index: Index,
    /// The live sessions of this owner and application, newest first.
    pub live: Vec<Session>,
    /// Members naming no live session of this owner here: expired or ended sessions (or, while
    /// the slot moves, sessions on the other node).
    dead: Vec<OwnedStr>,
}

/// How an owner command opens the owner's data: what it may write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing (SESSIONS).
    Read,
    /// The index and the sessions (REVOKE).
    All,
}

/// Opens the owner's index in `slot` and every session it lists that is a live session of this
/// owner (`digest`) and application (`fingerprint`). O(the owner's sessions). (A key opened
/// for writing counts as modified for WATCH, so sessions are opened so only to be ended.)
pub fn open_owner(
    ctx: Ctx,
    slot: u16,
    digest: &Digest,
    fingerprint: &[u8; FINGERPRINT_LEN],
    access: Access,
) -> Result<OwnerSessions, Error> {
    let index = Index::open(ctx, slot, digest, access != Access::Read)?;
    let write = access == Access::All;
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for member in index.members() {
        match token::parse_id(member.bytes())
            .and_then(|id| owned_session(ctx, slot, &id, digest, fingerprint, write))
        {
            Some(s) => live.push(s),
            None => dead.push(member),
        }
    }
    Ok(OwnerSessions { index, live, dead })
}

/// How many of an index's oldest ids STARTFOR looks at: more than it adds (one), so the ids of
/// sessions gone cannot pile up behind a login, yet a login costs O(log n), not O(n), for an
/// owner with n sessions (anyone who can log in as one user could otherwise make every login
/// of that user, and the server with it, slower and slower).
pub const PRUNED_AT_START: usize = 4;

/// STARTFOR's look at an owner's data: the index opened for writing, with the ids of sessions
/// gone among its [`PRUNED_AT_START`] oldest taken off. REVOKE prunes the whole index.
pub fn open_for_start(
    ctx: Ctx,
    slot: u16,
    digest: &Digest,
    fingerprint: &[u8; FINGERPRINT_LEN],
) -> Result<Index, Error> {
    let index = Index::open(ctx, slot, digest, true)?;
    for member in index.oldest(PRUNED_AT_START) {
        let live = token::parse_id(member.bytes())
            .and_then(|id| owned_session(ctx, slot, &id, digest, fingerprint, false))
            .is_some();
        if !live {
            index.remove_member(member.as_str());
        }
    }
    Ok(index)
}

/// The session `id` in `slot`, if it is a live session of this owner and application.
fn owned_session(
    ctx: Ctx,
    slot: u16,
    id: &Id,
    digest: &Digest,
    fingerprint: &[u8; FINGERPRINT_LEN],
    write: bool,
) -> Option<Session> {
    let mut s = open(ctx, slot, id, write);
    if !s.is_hash() {
        return None;
    }
    let meta = s.get(super::meta_field())?;
    let m = owners::decode(meta.bytes())?;
    let owner = m.owner?;
    let ours = m.fingerprint.ct_eq(fingerprint) & owner.digest.ct_eq(digest);
    if !bool::from(ours) {
        return None;
    }
    s.deadline = m.deadline;
    s.owner = Some(owner);
    Some(s)
}

impl OwnerSessions {
    /// Whether this node holds all of the owner's data: the index, and every session it lists.
    pub fn complete(&self) -> bool {
        self.index.exists() && self.dead.is_empty()
    }

    /// Takes the ids of sessions that are gone off the index.
    pub fn prune(&mut self) {
        for member in self.dead.drain(..) {
            self.index.remove_member(member.as_str());
        }
    }

    /// Ends every live session for which `end` says so (off the index too), and returns how
    /// many (opened with `Access::All`). The index then lasts exactly as long as the latest
    /// session left, or is deleted.
    pub fn end_where(&mut self, mut end: impl FnMut(&Session) -> bool) -> Result<usize, Error> {
        let before = self.live.len();
        let (ended, kept): (Vec<Session>, Vec<Session>) = self.live.drain(..).partition(&mut end);
        self.live = kept;
        if self.live.is_empty() {
            for s in &ended {
                s.unlink();
            }
            self.dead.clear();
            self.index.delete();
            return Ok(before);
        }
        for s in &ended {
            s.unlink();
            self.index.remove(s.id());
        }
        self.prune();
        self.settle()?;
        Ok(before - self.live.len())
    }

    /// The index ends when its latest session does (never, if one never ends).
    fn settle(&self) -> Result<(), Error> {
        let mut latest = Some(i64::MIN);
        for end in self.live.iter().map(Session::expires_at_ms) {
            latest = match (latest, end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        if latest == Some(i64::MIN) {
            self.index.delete();
            return Ok(());
        }
        if latest.is_some() && self.index.expires_at_ms() == latest {
            return Ok(());
        }
        self.index.set_end(latest)
    }
}
