//! Every error reply of the public contract, by kind, with its exact text.

use std::borrow::Cow;
use std::net::SocketAddr;

/// The largest payload name and payload data the C module accepted.
pub const DEFAULT_MAX_PAYLOAD_NAME: usize = 200;
pub const DEFAULT_MAX_PAYLOAD_DATA: usize = 8_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        node: SocketAddr,
    },
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
            // As Redis words it: no brackets around an IPv6 address.
            Error::Moved { slot, node } => {
                return Cow::Owned(format!("MOVED {slot} {}:{}", node.ip(), node.port()))
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_texts_are_exact() {
        assert_eq!(
            Error::PayloadNameTooLong { max: 200 }.message(),
            "<payload_name> length exceeds the maximum value allowed of 200"
        );
        assert_eq!(
            Error::PayloadDataTooLong { max: 8_000_000 }.message(),
            "<payload_data> length exceeds the maximum value allowed of 8000000"
        );
        assert_eq!(
            Error::ForeignSession.message(),
            "the signature contained in <token> seems to be valid, but is different from the stored signature in the session"
        );
        assert!(Error::TryAgain.message().starts_with("TRYAGAIN "));
        assert_eq!(
            Error::Moved {
                slot: 3999,
                node: "127.0.0.1:6381".parse().unwrap()
            }
            .message(),
            "MOVED 3999 127.0.0.1:6381"
        );
        assert_eq!(
            Error::Moved {
                slot: 0,
                node: "[::1]:7000".parse().unwrap()
            }
            .message(),
            "MOVED 0 ::1:7000"
        );
    }

    #[test]
    fn no_message_holds_a_newline_or_nul() {
        let all = [
            Error::EmptySignKey,
            Error::EmptyToken,
            Error::TokenFormat,
            Error::InvalidTtl,
            Error::BadSignature,
            Error::NoSession,
            Error::ForeignSession,
            Error::EmptyPayloadName,
            Error::PayloadNameTooLong { max: 1 },
            Error::EmptyPayloadData,
            Error::PayloadDataTooLong { max: 1 },
            Error::NoPayload,
            Error::EmptyNewSignKey,
            Error::InvalidMaxLifetime,
            Error::StartInMulti,
            Error::RenewInMulti,
            Error::Moved {
                slot: 16383,
                node: "[fe80::1]:65535".parse().unwrap(),
            },
            Error::SlotNotServed,
            Error::TryAgain,
            Error::NoSlots,
            Error::ClusterDown,
            Error::IdSpaceExhausted,
            Error::Internal,
        ];
        for e in all {
            let m = e.message();
            assert!(!m.contains(['\n', '\r', '\0']), "{m}");
        }
    }
}
