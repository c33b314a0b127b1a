//! Values on disk: postcard, the workspace's compact serde format.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::group::GroupId;
use crate::storage::error::StoreError;

/// Encodes a value for storage. Every stored type (entries, votes, log ids,
/// snapshot metas) has a known length and no untagged or self-describing
/// parts, so encoding into memory cannot fail; the storage tests cover each.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encodes every stored type into memory")
}

/// Decodes a stored value; a failure means the data dir is damaged.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, group: &GroupId, bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt { what, group: group.clone(), detail: e.to_string() })
}
