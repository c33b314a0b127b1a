//! The payloads inside the protobuf envelopes: openraft's own messages and
//! results, encoded with postcard.
//!
//! `raft.proto` carries consensus payloads as opaque bytes, so openraft's
//! types (votes, log ids, entries, membership, errors) cross the wire as
//! they are, with no second schema to keep in step with the alpha. postcard
//! is the workspace's compact serde format, the one the log store already
//! writes entries in. It is not self-describing: both ends must run the same
//! build of this crate's types.
//!
//! A reply payload is a `Result`, so the remote's typed Raft errors survive
//! the hop; gRPC statuses are kept for transport-level failures.

use openraft::errors::{Fatal, RaftError};
use openraft::raft::{
    AppendEntriesResponse, SnapshotResponse, StreamAppendResult, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::type_config::TypeConfig;

/// What an AppendEntries call answers (unary `AppendEntries`).
pub(crate) type AppendReply = Result<AppendEntriesResponse<TypeConfig>, RaftError<TypeConfig>>;
/// What one request on a `StreamAppend` stream answers.
pub(crate) type StreamReply = StreamAppendResult<TypeConfig>;
/// What a vote or pre-vote answers.
pub(crate) type VoteReply = Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>>;
/// What a complete snapshot transfer answers.
pub(crate) type SnapshotReply = Result<SnapshotResponse<TypeConfig>, RaftError<TypeConfig>>;
/// What a leadership hand-over answers.
pub(crate) type TransferReply = Result<TransferLeaderResponse<TypeConfig>, RaftError<TypeConfig>>;

/// Which election a `Vote` RPC belongs to. `raft.proto` has one `Vote` RPC
/// for both, so the payload says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Ballot {
    /// A real vote: the receiver may persist it.
    Vote,
    /// A pre-vote: would the receiver vote? Nothing is persisted.
    PreVote,
}

/// The payload of a `Vote` RPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VotePayload {
    pub(crate) ballot: Ballot,
    pub(crate) request: VoteRequest<TypeConfig>,
}

/// A payload that is not what it claims to be: a peer on another build, or
/// damage in transit.
#[derive(Debug, thiserror::Error)]
#[error("undecodable {what}: {source}")]
pub(crate) struct DecodeError {
    what: &'static str,
    source: postcard::Error,
}

/// Encodes a payload. Every payload type is plain derived serde data with
/// known lengths (no untagged or self-describing parts), so encoding into
/// memory cannot fail; the tests below cover each type.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("postcard encodes every Raft payload type into memory")
}

/// Decodes a payload received from a peer; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    postcard::from_bytes(bytes).map_err(|source| DecodeError { what, source })
}

/// The fatal error inside a reply's `RaftError`: the only kind these RPCs
/// have (their API error type is uninhabited).
pub(crate) fn fatal_of(error: RaftError<TypeConfig>) -> Fatal<TypeConfig> {
    match error {
        RaftError::Fatal(fatal) => fatal,
        RaftError::APIError(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Debug;

    use openraft::entry::RaftEntry;
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::raft::{AppendEntriesRequest, StreamAppendError, TransferLeaderRequest};
    use openraft::{Membership, StoredMembership};

    use super::*;
    use crate::type_config::{Entry, LedgerBatch, LogId, NodeInfo, SnapshotMeta, Vote};

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
        let bytes = encode(&value);
        assert_eq!(decode::<T>("test value", &bytes).unwrap(), value);
        if !bytes.is_empty() {
            assert!(decode::<T>("test value", &bytes[..bytes.len() - 1]).is_err(), "a truncated payload is refused");
        }
    }

    /// For types without `PartialEq`: decoding and re-encoding gives the same bytes.
    fn round_trip_bytes<T: Serialize + DeserializeOwned>(value: T) {
        let bytes = encode(&value);
        assert_eq!(encode(&decode::<T>("test value", &bytes).unwrap()), bytes);
        assert!(decode::<T>("test value", &bytes[..bytes.len() - 1]).is_err(), "a truncated payload is refused");
    }

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(LeaderId { term, node_id: 1 }, index)
    }

    fn membership() -> Membership<u64, NodeInfo> {
        let nodes = (1..=3).map(|id| {
            (id, NodeInfo { grpc_addr: format!("127.0.0.1:70{id:02}"), api_addr: format!("127.0.0.1:71{id:02}") })
        });
        Membership::new(vec![BTreeSet::from([1, 2, 3])], BTreeMap::from_iter(nodes)).unwrap()
    }

    #[test]
    fn every_payload_type_round_trips() {
        let vote = Vote::new_committed(3, 1);
        let envelope = ledger::Envelope {
            id: "c-1".into(),
            now_ms: 1_000,
            actor: "test".into(),
            command: ledger::Command::Expire,
        };
        round_trip_bytes(AppendEntriesRequest::<TypeConfig> {
            vote,
            prev_log_id: Some(log_id(3, 4)),
            entries: vec![
                Entry::new_blank(log_id(3, 5)),
                Entry::new_membership(log_id(3, 6), membership()),
                Entry::new_normal(log_id(3, 7), LedgerBatch { envelopes: vec![envelope].into() }),
            ],
            leader_commit: Some(log_id(3, 4)),
        });
        round_trip::<AppendReply>(Ok(AppendEntriesResponse::Success));
        round_trip::<AppendReply>(Ok(AppendEntriesResponse::HigherVote(vote)));
        round_trip::<AppendReply>(Err(RaftError::Fatal(Fatal::Stopped)));
        round_trip::<StreamReply>(Ok(Some(log_id(3, 7))));
        round_trip::<StreamReply>(Err(StreamAppendError::Conflict(log_id(2, 4))));
        round_trip(VotePayload {
            ballot: Ballot::PreVote,
            request: VoteRequest::new(Vote::new(4, 2), Some(log_id(3, 7))),
        });
        round_trip::<VoteReply>(Ok(VoteResponse::new(vote, Some(log_id(3, 7)), false)));
        round_trip(SnapshotMeta {
            last_log_id: Some(log_id(3, 7)),
            last_membership: StoredMembership::new(Some(log_id(3, 6)), membership()),
        });
        round_trip::<SnapshotReply>(Ok(SnapshotResponse::new(vote)));
        round_trip(TransferLeaderRequest::<TypeConfig>::new(vote, 2, Some(log_id(3, 7))));
        round_trip::<TransferReply>(Ok(Ok(())));
        round_trip::<TransferReply>(Err(RaftError::Fatal(Fatal::Panicked)));
    }
}
