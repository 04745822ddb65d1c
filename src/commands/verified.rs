//! The steps every token command shares: the shape of sign_key and token, then the signature,
//! then the session.

use std::sync::Arc;

use crate::args;
use crate::errors::Error;
use crate::keycache::{self, SignKey, FINGERPRINT_LEN};
use crate::rm::Ctx;
use crate::slot;
use crate::store::{self, Session};
use crate::strings::{Args, OwnedStr, Str};
use crate::token::{self, Parsed};

pub struct TokenArgs<'a> {
    sign_key: &'a [u8],
    parsed: Parsed,
    slot: u16,
}

/// Checks argv[1] (sign_key) and argv[2] (token) for shape only.
pub fn parse(argv: Args<'_>) -> Result<TokenArgs<'_>, Error> {
    let sign_key = argv.bytes(1);
    args::check_sign_key(sign_key)?;
    parse_token(sign_key, argv.bytes(2))
}

/// Checks a token argument for shape only (v1 or v2), to be verified with `sign_key`.
pub fn parse_token<'a>(sign_key: &'a [u8], raw_token: &[u8]) -> Result<TokenArgs<'a>, Error> {
    let parsed = token::parse(raw_token)?;
    Ok(TokenArgs {
        sign_key,
        parsed,
        slot: slot::of_parsed(raw_token, &parsed)?,
    })
}

impl TokenArgs<'_> {
    /// Verifies the signature, then opens the session, reading `field` in the same lookup.
    pub fn open(
        &self,
        ctx: Ctx,
        write: bool,
        field: Option<Str<'_>>,
    ) -> Result<(Session, Option<OwnedStr>), Error> {
        let fingerprint = self.verify()?;
        self.open_verified(ctx, &fingerprint, write, field)
    }

    /// Checks the signature; the sign key's fingerprint.
    pub fn verify(&self) -> Result<[u8; FINGERPRINT_LEN], Error> {
        keycache::with_sign_key(self.sign_key, |k| {
            token::verify(&k.mac, &self.parsed).map(|()| k.fingerprint)
        })
    }

    /// Checks the signature; the sign key's cache entry, for signing with it again without a
    /// second cache lookup (and without a copy of its schedule).
    pub fn verify_signer(&self) -> Result<Arc<SignKey>, Error> {
        let k = keycache::sign_key(self.sign_key);
        token::verify(&k.mac, &self.parsed)?;
        Ok(k)
    }

    /// Opens the session of a token whose signature `verify` accepted.
    pub fn open_verified(
        &self,
        ctx: Ctx,
        fingerprint: &[u8; FINGERPRINT_LEN],
        write: bool,
        field: Option<Str<'_>>,
    ) -> Result<(Session, Option<OwnedStr>), Error> {
        let owned = self.parsed.tag.is_some();
        store::open_session(
            ctx,
            self.slot,
            &self.parsed.id,
            fingerprint,
            owned,
            write,
            field,
        )
    }

    pub fn slot(&self) -> u16 {
        self.slot
    }

    /// Whether the token is an owned session's (v2).
    pub fn owned(&self) -> bool {
        self.parsed.tag.is_some()
    }
}
