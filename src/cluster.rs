//! What a Redis Cluster node needs beyond a standalone server.

use crate::errors::Error;
use crate::rm::Ctx;

/// The error for a token whose session is not here.
pub fn missing_session(_ctx: Ctx, _slot: u16) -> Error {
    Error::NoSession
}

/// Whether START may hand out a token of `slot` on this node.
pub fn serves_slot(_ctx: Ctx, _slot: u16) -> Result<bool, Error> {
    Ok(true)
}
