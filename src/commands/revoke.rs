//! REVOKE: ends every session of the owner and application (no option), all but the session of
//! the `EXCEPT <token>`, or those of the `<id>`s given that are the owner's; answers how many
//! it ended. The index is then pruned and ends with its latest session, or is deleted.

use std::ffi::c_int;

use subtle::ConstantTimeEq;

use super::verified::{self, TokenArgs};
use crate::args;
use crate::cluster;
use crate::errors::Error;
use crate::keycache;
use crate::owners::{self, Owner};
use crate::rm::{self, Ctx};
use crate::stats::{self, Counter};
use crate::store::{self, Access};
use crate::strings::{Args, Str};
use crate::token::{self, Id};

enum Which<'a> {
    All,
    Except(TokenArgs<'a>),
    Ids(Vec<Id>),
}

fn is_except(arg: &Str<'_>) -> bool {
    arg.bytes().eq_ignore_ascii_case(b"EXCEPT")
}

/// The arguments after `<owner>`, each checked for its shape.
fn which<'a>(sign_key: &'a [u8], rest: &[Str<'_>]) -> Result<Which<'a>, Error> {
    match rest {
        [] => Ok(Which::All),
        [except, tok] if is_except(except) => {
            verified::parse_token(sign_key, tok.bytes()).map(Which::Except)
        }
        _ if rest.iter().any(is_except) => Err(Error::RevokeSyntax),
        ids => ids
            .iter()
            .map(|a| token::parse_id(a.bytes()).ok_or(Error::IdFormat))
            .collect::<Result<_, _>>()
            .map(Which::Ids),
    }
}

pub fn run(ctx: Ctx, argv: Args<'_>) -> Result<c_int, Error> {
    let sign_key = argv.bytes(1);
    args::check_sign_key(sign_key)?;
    let owner = argv.bytes(2);
    owners::check_owner(owner)?;
    let rest: Vec<Str<'_>> = (3..).map_while(|i| argv.get(i)).collect();
    let which = which(sign_key, &rest)?;
    let slot = owners::slot_of(owner);
    let (digest, fingerprint) =
        keycache::with_sign_key(sign_key, |k| (owners::digest(&k.mac, owner), k.fingerprint));
    // The session EXCEPT keeps: its id, creation time and end.
    let kept = match &which {
        Which::Except(t) => {
            let fingerprint = t.verify()?;
            // A v1 token's session has no owner; a v2 token of another slot is another owner's.
            if !t.owned() || t.slot() != slot {
                return Err(Error::WrongOwner);
            }
            let (s, _) = t.open_verified(ctx, &fingerprint, false, None)?;
            match s.owner {
                Some(Owner {
                    digest: d,
                    created_ms,
                }) if bool::from(d.ct_eq(&digest)) => {
                    Some((*s.id(), created_ms, s.expires_at_ms()))
                }
                _ => return Err(Error::WrongOwner),
            }
        }
        _ => None,
    };
    let mut sessions = store::open_owner(ctx, slot, &digest, &fingerprint, Access::All)?;
    if !sessions.complete() && cluster::slot_in_transit(ctx, slot) {
        return Err(Error::OwnerMoving);
    }
    let ended = match (&which, kept) {
        (Which::Except(_), Some((id, created_ms, ends))) => {
            let listed = sessions.live.iter().any(|s| s.id() == &id);
            let n = sessions.end_where(|s| s.id() != &id)?;
            if !listed {
                sessions.index.keep(&id, created_ms, ends)?;
            }
            n
        }
        (Which::Ids(ids), _) => sessions.end_where(|s| ids.contains(s.id()))?,
        _ => sessions.end_where(|_| true)?,
    };
    stats::add(Counter::SessionsRevoked, ended as u64);
    Ok(rm::reply_integer(ctx, ended as i64))
}
