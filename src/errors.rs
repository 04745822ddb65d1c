//! Every error reply of the public contract, by kind, with its exact text.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// The largest payload name and payload data the C module accepted.
pub const DEFAULT_MAX_PAYLOAD_NAME: usize = 200;
pub const DEFAULT_MAX_PAYLOAD_DATA: usize = 8_000_000;

/// Whether error replies start with their code word (`error-codes yes`); off, they are the
/// C module's sentences.
static CODES: AtomicBool = AtomicBool::new(false);

pub fn set_codes(on: bool) {
    CODES.store(on, Ordering::Relaxed);
}

pub fn codes() -> bool {
    CODES.load(Ordering::Relaxed)
}

/// Where a redirection sends a client: what Redis names (an ip, a hostname or `?`, as
/// `cluster-preferred-endpoint-type` says) and the port for that client (TLS or plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    /// `None` unless `host` is printable ASCII without spaces (an error reply is one line). It
    /// may be empty: Redis 7.0 names an unknown endpoint so (`MOVED 3296 :7001`), later
    /// servers `?`.
    pub fn new(host: &[u8], port: u16) -> Option<Endpoint> {
        let printable = host.iter().all(|b| b.is_ascii_graphic());
        printable.then(|| Endpoint {
            host: String::from_utf8_lossy(host).into_owned(),
            port,
        })
    }
}

/// As Redis words it: no brackets around an IPv6 address.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    EmptySignKey,
    EmptyToken,
    TokenFormat,
    InvalidTtl,
    BadSignature,
    NoSession,
    ForeignSession,
    EmptyPayloadName,
    PayloadNameTooLong {
        max: usize,
    },
    EmptyPayloadData,
    PayloadDataTooLong {
        max: usize,
    },
    NoPayload,
    EmptyNewSignKey,
    InvalidMaxLifetime,
    /// START inside MULTI/EXEC on a cluster node (the transaction runs under another key's slot).
    StartInMulti,
    RenewInMulti,
    /// RENEW of a token whose hash slot another cluster node serves.
    Moved {
        slot: u16,
        to: Endpoint,
    },
    /// A token of a slot this node is migrating, whose session has left for `to`.
    Ask {
        slot: u16,
        to: Endpoint,
    },
    /// RENEW or START (writes) while the cluster is down and serves reads only.
    ClusterDownReadOnly,
    /// RENEW of a token whose hash slot no cluster node serves.
    SlotNotServed,
    /// The session's slot is being imported and the session has not arrived yet.
    TryAgain,
    /// START on a cluster node that serves no hash slot.
    NoSlots,
    /// START on a cluster node whose server keeps refusing the slots it claims to serve.
    ClusterDown,
    /// No free session id could be found (practically unreachable).
    IdSpaceExhausted,
    /// A panic was caught inside a handler (anything the handler wrote before it stays), or
    /// a write the server refused.
    Internal,
    EmptyOwner,
    /// REVOKE's EXCEPT token names a session of another owner (or no owner).
    WrongOwner,
    /// REVOKE: an argument that is not a session id.
    IdFormat,
    /// REVOKE: EXCEPT without exactly one token, or mixed with ids.
    RevokeSyntax,
    /// The owner's slot is being migrated and this node does not hold all of the owner's data.
    OwnerMoving,
    /// RENEW of an owned session with a new sign key (the owner's index is keyed by the old).
    OwnedNewSignKey,
}

impl Error {
    /// The error reply, without the leading `-` that the server adds.
    pub fn message(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Error::EmptySignKey => "<sign_key> must have at least one character",
            Error::EmptyToken => "<token> must have at least one character",
            Error::TokenFormat => "<token> format is invalid",
            Error::InvalidTtl => "<ttl> must be a valid integer that represents seconds",
            Error::BadSignature => "the signature contained in <token> is invalid",
            Error::NoSession => "the session id contained in <token> does not exist",
            Error::ForeignSession => {
                "the signature contained in <token> seems to be valid, but is different from the stored signature in the session"
            }
            Error::EmptyPayloadName => "<payload_name> must have at least one character",
            Error::PayloadNameTooLong { max } => {
                return Cow::Owned(format!(
                    "<payload_name> length exceeds the maximum value allowed of {max}"
                ))
            }
            Error::EmptyPayloadData => "<payload_data> must have at least one character",
            Error::PayloadDataTooLong { max } => {
                return Cow::Owned(format!(
                    "<payload_data> length exceeds the maximum value allowed of {max}"
                ))
            }
            Error::NoPayload => "the requested <payload_name> does not exist",
            Error::EmptyNewSignKey => "<new_sign_key> must have at least one character",
            Error::InvalidMaxLifetime => {
                "<max_lifetime> must be a positive integer that represents seconds"
            }
            Error::StartInMulti => {
                "ERR SESSIONGATE.START cannot run inside MULTI/EXEC in cluster mode"
            }
            Error::RenewInMulti => {
                "ERR SESSIONGATE.RENEW cannot run inside MULTI/EXEC in cluster mode"
            }
            Error::Moved { slot, to } => return Cow::Owned(format!("MOVED {slot} {to}")),
            Error::Ask { slot, to } => return Cow::Owned(format!("ASK {slot} {to}")),
            Error::ClusterDownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands"
            }
            Error::SlotNotServed => "CLUSTERDOWN Hash slot not served",
            Error::TryAgain => {
                "TRYAGAIN the session's hash slot is being imported and the session has not arrived yet"
            }
            Error::NoSlots => {
                "ERR this cluster node serves no hash slot: send SESSIONGATE.START to a primary that serves slots"
            }
            Error::ClusterDown => "CLUSTERDOWN The cluster is down",
            Error::IdSpaceExhausted => "ERR could not draw an unused session id, try again",
            Error::Internal => {
                "ERR sessiongate internal error (the command may be partly applied)"
            }
            Error::EmptyOwner => "<owner> must have at least one character",
            Error::WrongOwner => "the session id contained in <token> is not owned by <owner>",
            Error::IdFormat => "<id> format is invalid",
            Error::RevokeSyntax => {
                "ERR syntax error: EXCEPT takes exactly one <token> and no <id>"
            }
            Error::OwnerMoving => {
                "TRYAGAIN the owner's hash slot is being migrated and not all of the owner's sessions are on this node"
            }
            Error::OwnedNewSignKey => "<new_sign_key> cannot be given for an owned session",
        })
    }
    /// The error code: the first word of the reply when error codes are on (Redis' `INFO
    /// errorstats` counts by it). No wildcard: a new kind does not compile without its code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoSession => "NOSESSION",
            Error::BadSignature => "BADSIG",
            Error::ForeignSession => "WRONGAPP",
            Error::EmptyToken | Error::TokenFormat => "BADTOKEN",
            Error::NoPayload => "NOPAYLOAD",
            Error::EmptySignKey
            | Error::InvalidTtl
            | Error::EmptyPayloadName
            | Error::PayloadNameTooLong { .. }
            | Error::EmptyPayloadData
            | Error::PayloadDataTooLong { .. }
            | Error::EmptyNewSignKey
            | Error::InvalidMaxLifetime
            | Error::StartInMulti
            | Error::RenewInMulti
            | Error::NoSlots
            | Error::IdSpaceExhausted
            | Error::Internal
            | Error::EmptyOwner
            | Error::IdFormat
            | Error::RevokeSyntax
            | Error::OwnedNewSignKey => "ERR",
            Error::Moved { .. } => "MOVED",
            Error::Ask { .. } => "ASK",
            Error::SlotNotServed | Error::ClusterDown | Error::ClusterDownReadOnly => "CLUSTERDOWN",
            Error::TryAgain | Error::OwnerMoving => "TRYAGAIN",
            Error::WrongOwner => "WRONGOWNER",
        }
    }

    /// The code word to put before `message` (this kind's text) when error codes are `on`:
    /// none for the kinds whose text already starts with it, as Redis' own replies do (MOVED,
    /// TRYAGAIN, CLUSTERDOWN, ERR ...).
    pub fn prefix(&self, message: &str, on: bool) -> Option<&'static str> {
        let code = self.code();
        let has_code = message
            .strip_prefix(code)
            .is_some_and(|rest| rest.starts_with(' '));
        (on && !has_code).then_some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind's exact reply, written out again, and its place in `ALL`. No wildcard arm: a
    /// new kind does not compile until its text is here.
    fn expected(e: Error) -> (usize, String) {
        let (i, text) = match e {
            Error::EmptySignKey => (0, "<sign_key> must have at least one character"),
            Error::EmptyToken => (1, "<token> must have at least one character"),
            Error::TokenFormat => (2, "<token> format is invalid"),
            Error::InvalidTtl => (3, "<ttl> must be a valid integer that represents seconds"),
            Error::BadSignature => (4, "the signature contained in <token> is invalid"),
            Error::NoSession => (5, "the session id contained in <token> does not exist"),
            Error::ForeignSession => (
                6,
                "the signature contained in <token> seems to be valid, but is different from the stored signature in the session",
            ),
            Error::EmptyPayloadName => (7, "<payload_name> must have at least one character"),
            Error::PayloadNameTooLong { max } => {
                return (
                    8,
                    format!("<payload_name> length exceeds the maximum value allowed of {max}"),
                )
            }
            Error::EmptyPayloadData => (9, "<payload_data> must have at least one character"),
            Error::PayloadDataTooLong { max } => {
                return (
                    10,
                    format!("<payload_data> length exceeds the maximum value allowed of {max}"),
                )
            }
            Error::NoPayload => (11, "the requested <payload_name> does not exist"),
            Error::EmptyNewSignKey => (12, "<new_sign_key> must have at least one character"),
            Error::InvalidMaxLifetime => (
                13,
                "<max_lifetime> must be a positive integer that represents seconds",
            ),
            Error::StartInMulti => (
                14,
                "ERR SESSIONGATE.START cannot run inside MULTI/EXEC in cluster mode",
            ),
            Error::RenewInMulti => (
                15,
                "ERR SESSIONGATE.RENEW cannot run inside MULTI/EXEC in cluster mode",
            ),
            Error::Moved { slot, to } => return (16, format!("MOVED {slot} {to}")),
            Error::Ask { slot, to } => return (17, format!("ASK {slot} {to}")),
            Error::ClusterDownReadOnly => (
                18,
                "CLUSTERDOWN The cluster is down and only accepts read commands",
            ),
            Error::SlotNotServed => (19, "CLUSTERDOWN Hash slot not served"),
            Error::TryAgain => (
                20,
                "TRYAGAIN the session's hash slot is being imported and the session has not arrived yet",
            ),
            Error::NoSlots => (
                21,
                "ERR this cluster node serves no hash slot: send SESSIONGATE.START to a primary that serves slots",
            ),
            Error::ClusterDown => (22, "CLUSTERDOWN The cluster is down"),
            Error::IdSpaceExhausted => (23, "ERR could not draw an unused session id, try again"),
            Error::Internal => (
                24,
                "ERR sessiongate internal error (the command may be partly applied)",
            ),
            Error::EmptyOwner => (25, "<owner> must have at least one character"),
            Error::WrongOwner => (
                26,
                "the session id contained in <token> is not owned by <owner>",
            ),
            Error::IdFormat => (27, "<id> format is invalid"),
            Error::RevokeSyntax => (
                28,
                "ERR syntax error: EXCEPT takes exactly one <token> and no <id>",
            ),
            Error::OwnerMoving => (
                29,
                "TRYAGAIN the owner's hash slot is being migrated and not all of the owner's sessions are on this node",
            ),
            Error::OwnedNewSignKey => (30, "<new_sign_key> cannot be given for an owned session"),
        };
        (i, text.to_string())
    }

    /// One value of every kind, in the order of `expected`.
    fn all() -> [Error; 31] {
        [
            Error::EmptySignKey,
            Error::EmptyToken,
            Error::TokenFormat,
            Error::InvalidTtl,
            Error::BadSignature,
            Error::NoSession,
            Error::ForeignSession,
            Error::EmptyPayloadName,
            Error::PayloadNameTooLong { max: 200 },
            Error::EmptyPayloadData,
            Error::PayloadDataTooLong { max: 8_000_000 },
            Error::NoPayload,
            Error::EmptyNewSignKey,
            Error::InvalidMaxLifetime,
            Error::StartInMulti,
            Error::RenewInMulti,
            Error::Moved {
                slot: 3999,
                to: endpoint("127.0.0.1", 6381),
            },
            Error::Ask {
                slot: 3999,
                to: endpoint("127.0.0.1", 6381),
            },
            Error::ClusterDownReadOnly,
            Error::SlotNotServed,
            Error::TryAgain,
            Error::NoSlots,
            Error::ClusterDown,
            Error::IdSpaceExhausted,
            Error::Internal,
            Error::EmptyOwner,
            Error::WrongOwner,
            Error::IdFormat,
            Error::RevokeSyntax,
            Error::OwnerMoving,
            Error::OwnedNewSignKey,
        ]
    }

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint::new(host.as_bytes(), port).unwrap()
    }

    #[test]
    fn every_kind_has_its_exact_text() {
        for (i, e) in all().iter().enumerate() {
            let (place, text) = expected(e.clone());
            assert_eq!(place, i, "all() out of order at {e:?}");
            assert_eq!(e.message(), text, "{e:?}");
        }
        for max in [1, 3, 65_536] {
            for e in [
                Error::PayloadNameTooLong { max },
                Error::PayloadDataTooLong { max },
            ] {
                assert_eq!(e.message(), expected(e.clone()).1);
            }
        }
        // The literal texts of the parametrised kinds, not only the same format! twice.
        assert_eq!(
            Error::PayloadDataTooLong { max: 8_000_000 }.message(),
            "<payload_data> length exceeds the maximum value allowed of 8000000"
        );
        assert_eq!(
            Error::Moved {
                slot: 3999,
                to: endpoint("127.0.0.1", 6381)
            }
            .message(),
            "MOVED 3999 127.0.0.1:6381"
        );
        assert_eq!(
            Error::Ask {
                slot: 0,
                to: endpoint("::1", 7000)
            }
            .message(),
            "ASK 0 ::1:7000"
        );
        assert_eq!(
            Error::Moved {
                slot: 15875,
                to: endpoint("node-b.example", 7411)
            }
            .message(),
            "MOVED 15875 node-b.example:7411"
        );
        assert_eq!(
            Error::Moved {
                slot: 1,
                to: endpoint("?", 7000)
            }
            .message(),
            "MOVED 1 ?:7000"
        );
        assert_eq!(
            Error::Moved {
                slot: 1,
                to: endpoint("", 7000)
            }
            .message(),
            "MOVED 1 :7000"
        );
        for bad in [&b"a b"[..], b"a\r\n", b"\xff", b"a\0"] {
            assert_eq!(Endpoint::new(bad, 1), None, "{bad:?}");
        }
    }

    /// The code of every kind, and the reply with codes on: the code word, a space, the
    /// sentence unchanged; kinds whose text starts with a code already keep it as it is.
    #[test]
    fn every_kind_has_its_code_and_coded_reply() {
        let want = [
            "ERR",
            "BADTOKEN",
            "BADTOKEN",
            "ERR",
            "BADSIG",
            "NOSESSION",
            "WRONGAPP",
            "ERR",
            "ERR",
            "ERR",
            "ERR",
            "NOPAYLOAD",
            "ERR",
            "ERR",
            "ERR",
            "ERR",
            "MOVED",
            "ASK",
            "CLUSTERDOWN",
            "CLUSTERDOWN",
            "TRYAGAIN",
            "ERR",
            "CLUSTERDOWN",
            "ERR",
            "ERR",
            "ERR",
            "WRONGOWNER",
            "ERR",
            "ERR",
            "TRYAGAIN",
            "ERR",
        ];
        assert_eq!(want.len(), all().len());
        for (e, code) in all().iter().zip(want) {
            assert_eq!(e.code(), code, "{e:?}");
            let msg = e.message();
            assert_eq!(e.prefix(&msg, false), None, "{e:?}: codes off");
            let coded = match e.prefix(&msg, true) {
                Some(c) => format!("{c} {msg}"),
                None => msg.to_string(),
            };
            assert!(coded.starts_with(&format!("{code} ")), "{coded}");
            assert!(coded.ends_with(&*msg), "{coded}");
        }
        assert_eq!(
            Error::NoSession.prefix(&Error::NoSession.message(), true),
            Some("NOSESSION")
        );
        for already in [
            Error::StartInMulti,
            Error::SlotNotServed,
            Error::TryAgain,
            Error::Internal,
            Error::RevokeSyntax,
            Error::OwnerMoving,
        ] {
            assert_eq!(
                already.prefix(&already.message(), true),
                None,
                "{already:?}"
            );
        }
        // A sentence that merely begins with the letters of its code still gets the code.
        assert_eq!(Error::InvalidTtl.prefix("ERRANT text", true), Some("ERR"));
    }

    #[test]
    fn texts_are_distinct_single_line_error_replies() {
        let texts: std::collections::HashSet<String> =
            all().iter().map(|e| e.message().into_owned()).collect();
        assert_eq!(texts.len(), all().len(), "two kinds share a text");
        for t in &texts {
            assert!(!t.is_empty() && !t.contains(['\n', '\r', '\0']), "{t:?}");
        }
    }
}
