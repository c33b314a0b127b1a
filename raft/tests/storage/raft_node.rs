//! The stores under a real single-node `openraft::Raft`: client writes are
//! answered per envelope, and a restarted node is exactly where it was as
//! soon as `Raft::new` returns.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ledger::Outcome;
use ledger::rejection::Rejection;
use openraft::errors::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::{AnyError, Config, Raft, ServerState};
use raft::type_config::{Snapshot, Vote};
use raft::{BatchResponse, LedgerBatch, NodeInfo, StateMachineStore, Storage, TypeConfig};

use super::support::{self, NODE};

const GROUP: &str = "region/eu-west";
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

/// A network with no peers: a single-node group never uses it.
struct NoPeers;

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeers;

    async fn new_client(&mut self, _target: u64, _node: &NodeInfo) -> NoPeers {
        NoPeers
    }
}

fn unreachable() -> Unreachable<TypeConfig> {
    Unreachable::new(&AnyError::error("a single-node group has no peers"))
}

impl RaftNetworkV2<TypeConfig> for NoPeers {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(unreachable()))
    }
}

async fn start(storage: &Storage) -> (Raft<TypeConfig, StateMachineStore>, raft::storage::LedgerReader) {
    let (log, state_machine) = support::stores(storage, GROUP);
    let reader = state_machine.reader();
    let config = Config { cluster_name: support::CLUSTER.into(), ..Default::default() };
    let raft = Raft::new(NODE, Arc::new(config.validate().unwrap()), NoPeers, log, state_machine).await.unwrap();
    (raft, reader)
}

async fn write(raft: &Raft<TypeConfig, StateMachineStore>, envelopes: Vec<ledger::Envelope>) -> BatchResponse {
    raft.client_write(LedgerBatch { envelopes: envelopes.into() }).await.expect("committed and applied").data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_group_answers_every_envelope_and_restarts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());

    let (raft, reader) = start(&storage).await;
    raft.initialize(BTreeMap::from([(NODE, NodeInfo { grpc_addr: "127.0.0.1:7001".into(), ..Default::default() })]))
        .await
        .unwrap();
    raft.wait(TIMEOUT).state(ServerState::Leader, "single node elects itself").await.unwrap();

    let stock = write(
        &raft,
        vec![
            support::envelope("c-reg", 1_000, support::register("wh-1")),
            support::envelope("c-recv", 1_000, support::receive("wh-1", "apple", 10)),
        ],
    )
    .await;
    assert_eq!(stock.results.len(), 2);
    assert!(stock.results.iter().all(|r| r.result.is_ok() && !r.replayed), "{stock:?}");

    let holds = write(
        &raft,
        vec![
            support::envelope("c-h1", 2_000, support::reserve("h1", "apple", 4)),
            support::envelope("c-h2", 2_000, support::reserve("h2", "apple", 100)),
            support::envelope("c-h1", 2_500, support::reserve("h1", "apple", 4)),
        ],
    )
    .await;
    assert!(matches!(&holds.results[0].result, Ok(Outcome::Reserved { .. })), "{holds:?}");
    assert!(matches!(&holds.results[1].result, Err(Rejection::InsufficientStock { .. })), "{holds:?}");
    assert_eq!(holds.results[2].result, holds.results[0].result, "a retry gets the first answer");
    assert!(holds.results[2].replayed);

    raft.trigger().snapshot().await.unwrap();
    let applied = reader.last_applied().expect("applied");
    raft.wait(TIMEOUT).snapshot(applied, "snapshot of everything applied").await.unwrap();
    let after_snapshot =
        write(&raft, vec![support::envelope("c-recv-2", 3_000, support::receive("wh-1", "pear", 5))]).await;
    assert!(after_snapshot.results[0].result.is_ok());

    let applied = reader.last_applied();
    let hash = reader.read(|ledger| ledger.state_hash());
    raft.shutdown().await.unwrap();
    drop(raft);

    // Fresh stores on the same data: the snapshot, then the committed log
    // after it, are back in place before `Raft::new` returns.
    let (raft, reader) = start(&storage).await;
    assert_eq!(reader.last_applied(), applied);
    assert_eq!(reader.read(|ledger| ledger.state_hash()), hash);
    raft.wait(TIMEOUT).state(ServerState::Leader, "re-elects itself").await.unwrap();
    let again = write(&raft, vec![support::envelope("c-h1", 4_000, support::reserve("h1", "apple", 4))]).await;
    assert!(again.results[0].replayed, "the idempotency record survived the restart");
    raft.shutdown().await.unwrap();
}
