//! Who is calling: bearer tokens to principals, and what each may touch.
//!
//! Every API call carries `authorization: Bearer <token>`. Tokens come from
//! the node's config (or the environment it names), never from code. Only
//! the tokens' BLAKE3 digests are kept in memory, so lookups compare digests
//! rather than secrets.

use std::collections::HashMap;

use ledger::ids::WarehouseId;
use tonic::Status;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An operator: the admin API, and every warehouse and shopper operation.
    Admin,
    /// A trusted service (the gateway): holds, carts, checkouts, orders and
    /// reads of every warehouse's levels.
    Service,
    /// One warehouse: its own stock only.
    Warehouse(WarehouseId),
}

impl Principal {
    /// The actor recorded in the journal and timelines for this caller.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin => "admin".into(),
            Principal::Service => "service".into(),
            Principal::Warehouse(id) => format!("warehouse:{id}"),
        }
    }

    /// Allows operators, or the warehouse `warehouse` itself.
    pub fn may_change_warehouse(&self, warehouse: &str) -> Result<(), Status> {
        match self {
            Principal::Admin => Ok(()),
            Principal::Warehouse(own) if own.as_str() == warehouse => Ok(()),
            Principal::Warehouse(own) => Err(Status::permission_denied(format!(
                "the token of warehouse `{own}` may not touch warehouse `{warehouse}`"
            ))),
            Principal::Service => Err(Status::permission_denied("a service token may not change warehouse stock")),
        }
    }

    /// Allows operators and services, or the warehouse `warehouse` itself; an
    /// empty `warehouse` (every warehouse) only for operators and services.
    pub fn may_read_warehouse(&self, warehouse: &str) -> Result<(), Status> {
        match self {
            Principal::Admin | Principal::Service => Ok(()),
            Principal::Warehouse(own) if own.as_str() == warehouse => Ok(()),
            Principal::Warehouse(own) => Err(Status::permission_denied(format!(
                "the token of warehouse `{own}` may only read warehouse `{own}`; name it in `warehouse_id`"
            ))),
        }
    }

    /// Allows operators and services (the shopper-facing operations).
    pub fn require_service(&self) -> Result<(), Status> {
        match self {
            Principal::Admin | Principal::Service => Ok(()),
            Principal::Warehouse(_) => Err(Status::permission_denied("a warehouse token may not call this API")),
        }
    }

    /// Allows operators only.
    pub fn require_admin(&self) -> Result<(), Status> {
        match self {
            Principal::Admin => Ok(()),
            _ => Err(Status::permission_denied("this call needs the admin token")),
        }
    }
}

/// The tokens a node accepts.
#[derive(Clone, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Principal>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("count", &self.by_digest.len()).finish_non_exhaustive()
    }
}

/// A token that cannot be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Too short to resist guessing.
    #[error("the token for {0} is shorter than 16 characters")]
    TooShort(String),
    /// The same token for two principals would make them indistinguishable.
    #[error("the token for {0} is also used by another principal")]
    Reused(String),
}

impl Tokens {
    /// Accepts `token` as `principal`.
    pub fn insert(&mut self, token: &str, principal: Principal) -> Result<(), TokenError> {
        let who = principal.actor();
        if token.chars().count() < 16 {
            return Err(TokenError::TooShort(who));
        }
        if self.by_digest.insert(digest(token), principal).is_some() {
            return Err(TokenError::Reused(who));
        }
        Ok(())
    }

    /// The caller of `request`, from its bearer token.
    pub fn authenticate<T>(&self, request: &tonic::Request<T>) -> Result<Principal, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing `authorization: Bearer <token>` metadata"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("the `authorization` metadata must be `Bearer <token>`"))?;
        self.by_digest.get(&digest(token.trim())).cloned().ok_or_else(|| Status::unauthenticated("unknown token"))
    }
}

fn digest(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: Option<&str>) -> tonic::Request<()> {
        let mut request = tonic::Request::new(());
        if let Some(token) = token {
            request.metadata_mut().insert("authorization", token.parse().unwrap());
        }
        request
    }

    #[test]
    fn tokens_map_to_their_principals_and_nothing_else() {
        let mut tokens = Tokens::default();
        tokens.insert("admin-token-0123456789", Principal::Admin).unwrap();
        tokens.insert("wh-1-token-0123456789", Principal::Warehouse("wh-1".into())).unwrap();
        assert_eq!(tokens.authenticate(&request(Some("Bearer admin-token-0123456789"))).unwrap(), Principal::Admin);
        let warehouse = tokens.authenticate(&request(Some("Bearer wh-1-token-0123456789"))).unwrap();
        assert_eq!(warehouse, Principal::Warehouse("wh-1".into()));
        assert!(warehouse.may_change_warehouse("wh-1").is_ok());
        assert_eq!(warehouse.may_change_warehouse("wh-2").unwrap_err().code(), tonic::Code::PermissionDenied);
        assert_eq!(warehouse.may_read_warehouse("").unwrap_err().code(), tonic::Code::PermissionDenied);
        assert_eq!(warehouse.require_admin().unwrap_err().code(), tonic::Code::PermissionDenied);
        for bad in [None, Some("admin-token-0123456789"), Some("Bearer wrong-token-0123456789"), Some("Basic x")] {
            assert_eq!(tokens.authenticate(&request(bad)).unwrap_err().code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn weak_or_shared_tokens_are_refused() {
        let mut tokens = Tokens::default();
        assert_eq!(tokens.insert("short", Principal::Admin), Err(TokenError::TooShort("admin".into())));
        tokens.insert("shared-token-0123456789", Principal::Admin).unwrap();
        assert_eq!(
            tokens.insert("shared-token-0123456789", Principal::Service),
            Err(TokenError::Reused("service".into()))
        );
    }
}
