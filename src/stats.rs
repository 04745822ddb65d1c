//! Counters since load, shown by `INFO sessiongate`.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::errors::Error;

#[derive(Clone, Copy)]
pub enum Counter {
    SessionsStarted,
    SessionsEnded,
    SessionsRenewed,
    ExpiriesSet,
    PayloadSets,
    PayloadGets,
    PayloadDeletes,
    RejectedArguments,
    RejectedFormat,
    RejectedSignature,
    RejectedForeignKey,
    RejectedSessionMissing,
    RejectedTryAgain,
    OwnedSessionsStarted,
    SessionsRevoked,
}

/// INFO field names, in the order of `Counter`; Redis prefixes them with `sessiongate_`.
pub const FIELDS: [&CStr; 15] = [
    c"sessions_started",
    c"sessions_ended",
    c"sessions_renewed",
    c"expiries_set",
    c"payload_sets",
    c"payload_gets",
    c"payload_deletes",
    c"rejected_arguments",
    c"rejected_format",
    c"rejected_signature",
    c"rejected_foreign_key",
    c"rejected_session_missing",
    c"rejected_tryagain",
    c"owned_sessions_started",
    c"sessions_revoked",
];

static COUNTS: [AtomicU64; 15] = [const { AtomicU64::new(0) }; 15];

pub fn bump(c: Counter) {
    add(c, 1);
}

pub fn add(c: Counter, n: u64) {
    COUNTS[c as usize].fetch_add(n, Ordering::Relaxed);
}

pub fn get(i: usize) -> u64 {
    COUNTS[i].load(Ordering::Relaxed)
}

/// The rejection counter of an error reply, if it is one.
pub fn rejection(e: &Error) -> Option<Counter> {
    Some(match e {
        Error::EmptyToken | Error::TokenFormat => Counter::RejectedFormat,
        Error::BadSignature => Counter::RejectedSignature,
        Error::ForeignSession => Counter::RejectedForeignKey,
        Error::NoSession => Counter::RejectedSessionMissing,
        Error::TryAgain | Error::OwnerMoving => Counter::RejectedTryAgain,
        Error::WrongOwner => Counter::RejectedForeignKey,
        Error::EmptySignKey
        | Error::InvalidTtl
        | Error::EmptyNewSignKey
        | Error::InvalidMaxLifetime
        | Error::EmptyPayloadName
        | Error::PayloadNameTooLong { .. }
        | Error::EmptyPayloadData
        | Error::PayloadDataTooLong { .. }
        | Error::EmptyOwner
        | Error::IdFormat
        | Error::RevokeSyntax
        | Error::OwnedNewSignKey => Counter::RejectedArguments,
        Error::NoPayload
        | Error::NoSlots
        | Error::StartInMulti
        | Error::RenewInMulti
        | Error::Moved { .. }
        | Error::Ask { .. }
        | Error::ClusterDownReadOnly
        | Error::SlotNotServed
        | Error::ClusterDown
        | Error::IdSpaceExhausted
        | Error::Internal => return None,
    })
}
