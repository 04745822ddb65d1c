//! SESSIONS: the owner's live sessions of this application, newest first, each
//! `[<id>, <created>, <ttl>, <payload or nil> ...]`. Read-only (it may run on a replica): ids
//! of sessions that are gone are skipped, never taken off the index.

use std::ffi::c_int;

use crate::args;
use crate::cluster;
use crate::config;
use crate::errors::Error;
use crate::keycache;
use crate::owners;
use crate::rm::{self, Ctx};
use crate::store::{self, Access};
use crate::strings::{Args, OwnedStr};

struct Entry {
    id: [u8; 16],
    created_s: i64,
    ttl_s: i64,
    payloads: Vec<Option<OwnedStr>>,
}

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let sign_key = argv.bytes(1);
    args::check_sign_key(sign_key)?;
    let owner = argv.bytes(2);
    owners::check_owner(owner)?;
    let names: Vec<_> = (3..).map_while(|i| argv.get(i)).collect();
    for name in &names {
        args::check_payload_name(name.bytes(), config::max_payload_name())?;
    }
    let slot = owners::slot_of(owner);
    let (digest, fingerprint) =
        keycache::with_sign_key(sign_key, |k| (owners::digest(&k.mac, owner), k.fingerprint));
    let sessions = store::open_owner(ctx, slot, &digest, &fingerprint, Access::Read)?;
    if !sessions.complete() && cluster::slot_in_transit(ctx, slot) {
        return Err(Error::OwnerMoving);
    }
    // Everything is read before the reply starts, so a panic can only happen before it.
    let entries: Vec<Entry> = sessions
        .live
        .iter()
        .map(|s| {
            let ms = s.remaining_ms();
            Entry {
                id: *s.id(),
                created_s: s.owner.map_or(0, |o| o.created_ms.div_euclid(1000)),
                ttl_s: if ms < 0 { -1 } else { (ms + 500) / 1000 },
                payloads: names.iter().map(|n| s.get(*n)).collect(),
            }
        })
        .collect();
    rm::reply_array(ctx, entries.len());
    for e in &entries {
        rm::reply_array(ctx, 3 + e.payloads.len());
        rm::reply_bytes(ctx, &e.id);
        rm::reply_integer(ctx, e.created_s);
        rm::reply_integer(ctx, e.ttl_s);
        for p in &e.payloads {
            match p {
                Some(data) => rm::reply_str(ctx, data.as_str()),
                None => rm::reply_null(ctx),
            };
        }
    }
    Ok(rm::OK)
}
