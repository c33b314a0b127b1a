//! The bearer token every call carries.

use std::fmt;
use std::str::FromStr;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};

use crate::error::ParseError;

/// Longest token accepted, in bytes: far above any real credential, low
/// enough that a pasted file is refused.
const TOKEN_LEN_MAX: usize = 4096;

/// A credential sent as `authorization: Bearer <token>` metadata.
///
/// Its `Debug` never shows the secret and it has no `Display`, so logging a
/// config or an error cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken {
    /// The ready-made `Bearer <token>` header value: built once, cloned per
    /// call.
    header: AsciiMetadataValue,
}

impl BearerToken {
    /// Checks a token: non-empty, at most 4096 bytes of visible ASCII (no
    /// spaces or control characters, which a header could not carry).
    pub fn parse(token: &str) -> Result<Self, ParseError> {
        let invalid = |reason: &str| ParseError::Token { reason: reason.to_owned() };
        if token.is_empty() {
            return Err(invalid("is empty"));
        }
        if token.len() > TOKEN_LEN_MAX {
            return Err(invalid("is longer than 4096 bytes"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("must be visible ASCII without spaces"));
        }
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| invalid("cannot be sent as a header value"))?;
        Ok(Self { header })
    }

    /// The `authorization` metadata value, `Bearer <token>`.
    pub(crate) fn header(&self) -> AsciiMetadataValue {
        self.header.clone()
    }
}

impl FromStr for BearerToken {
    type Err = ParseError;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        Self::parse(token)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let token = BearerToken::parse("s3cret-token").expect("valid");
        assert_eq!(token.header().to_str().expect("ascii"), "Bearer s3cret-token");
        assert!(!format!("{token:?}").contains("s3cret"));
        for bad in ["", "two words", "tab\there", "naïve"] {
            assert!(BearerToken::parse(bad).is_err(), "{bad:?}");
        }
        assert!(BearerToken::parse(&"x".repeat(TOKEN_LEN_MAX + 1)).is_err());
    }
}
