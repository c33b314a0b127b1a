//! The write path: many concurrent commands share one Raft entry.
//!
//! Every API call that changes state becomes a `Proposal` on one queue.
//! A single task takes whatever is queued (up to
//! [`ProposerConfig::max_batch`]), stamps the batch with leader time, and
//! proposes it as one [`LedgerBatch`] entry: one append, one replication
//! round trip and one fsync for the whole batch. Up to
//! [`ProposerConfig::max_in_flight`] batches are in Raft at once; while they
//! are, new proposals queue up and form the next batch, so batches grow with
//! load and latency stays one round trip when idle.

use std::sync::Arc;

use ledger::ids::{Actor, CommandId};
use ledger::{Command, Envelope, Ledger};
use openraft::errors::{ClientWriteError, ForwardReason, ForwardToLeader, RaftError};
use raft::storage::LedgerReader;
use raft::transport::LedgerRaft;
use raft::{EnvelopeResult, LedgerBatch, TypeConfig};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use crate::clock::LeaderClock;
use crate::metrics::Metrics;

/// How the proposer batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposerConfig {
    /// Most commands in one entry.
    pub max_batch: usize,
    /// Most entries proposed and not yet applied at once.
    pub max_in_flight: usize,
    /// Most proposals waiting for a batch; beyond it callers are told the
    /// node is overloaded.
    pub queue_depth: usize,
}

impl Default for ProposerConfig {
    fn default() -> Self {
        // Two entries in flight: one is being replicated while the next
        // forms. More do not raise throughput (the per-entry work competes
        // for the same cores) but make smaller entries and more work per
        // command: at 15,000 hot-SKU reservations/s open loop on two cores,
        // p99 was 18-20 ms with 2 against 40-90 ms with 3 or 8 (README).
        Self { max_batch: 1_024, max_in_flight: 2, queue_depth: 65_536 }
    }
}

/// When a caller is told its command applied.
#[derive(Debug)]
pub enum AckPolicy {
    /// Once its entry is committed and applied: the only policy of every
    /// build but this crate's tests.
    AfterCommit,
    /// Test builds only, deliberately unsafe: the leader answers from its
    /// own speculative ledger before replicating (see [`crate::unsafe_ack`]).
    #[cfg(feature = "unsafe-test-modes")]
    BeforeCommit(Box<crate::unsafe_ack::SpeculativeLedger>),
}

/// A command applied by the group: its result and the entry's log index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// What the ledger answered (possibly replayed from the idempotency record).
    pub result: EnvelopeResult,
    /// Log index of the entry that carried the command.
    pub index: u64,
}

/// Why a command was not applied, or may not have been.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This replica does not lead the group (or its lease lapsed): nothing
    /// was proposed. Retry at the leader with the same command id.
    #[error("this replica is not the group's leader")]
    NotLeader(LeaderHint),
    /// The entry was proposed but the leader changed before it committed
    /// here: it may or may not apply. Retry with the same command id.
    #[error("leadership changed while the command was in flight; it may or may not have applied")]
    Indeterminate(LeaderHint),
    /// No answer within the write deadline: the group may have no quorum.
    /// The command may still apply; retry with the same command id.
    #[error("no commit within {0:?}: the group may have lost its quorum; the command may still apply")]
    TimedOut(std::time::Duration),
    /// Too many proposals are waiting; retry later.
    #[error("the node has too many proposals waiting")]
    Overloaded,
    /// The group's Raft stopped on this node.
    #[error("the replica has stopped: {0}")]
    Stopped(String),
}

/// Who leads the group, as far as this replica knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderHint {
    /// The leader's node id.
    pub node_id: Option<u64>,
    /// The leader's client-facing address.
    pub api_addr: Option<String>,
}

impl From<&ForwardToLeader<TypeConfig>> for LeaderHint {
    fn from(forward: &ForwardToLeader<TypeConfig>) -> Self {
        // A leader whose lease lapsed names nobody: the caller waits for an election.
        let known = forward.reason != ForwardReason::LeaseExpired;
        Self {
            node_id: forward.leader_id.filter(|_| known),
            api_addr: forward
                .leader_node
                .as_ref()
                .filter(|_| known)
                .map(|n| n.api_addr.clone())
                .filter(|a| !a.is_empty()),
        }
    }
}

/// One command waiting to be proposed.
#[derive(Debug)]
struct Proposal {
    id: CommandId,
    actor: Actor,
    command: Command,
    reply: oneshot::Sender<Result<Committed, ProposeError>>,
}

/// The handle API calls propose through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Proposer {
    queue: mpsc::Sender<Proposal>,
}

impl Proposer {
    /// Starts the batching task for `raft`, acknowledging by `ack`. It ends
    /// when every handle is dropped.
    pub fn start(
        raft: LedgerRaft,
        ledger: LedgerReader,
        clock: Arc<LeaderClock>,
        config: ProposerConfig,
        ack: AckPolicy,
        metrics: Metrics,
    ) -> Self {
        let (queue, proposals) = mpsc::channel(config.queue_depth.max(1));
        let batching = run(raft, proposals, LeaderTime { clock, ledger }, config, ack, metrics);
        tokio::spawn(batching.instrument(tracing::info_span!("proposer")));
        Self { queue }
    }

    /// Proposes `command` under idempotency id `id` and waits until it is
    /// applied (or cannot be). The caller bounds the wait.
    pub async fn propose(&self, id: CommandId, actor: Actor, command: Command) -> Result<Committed, ProposeError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Proposal { id, actor, command, reply }).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => ProposeError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => ProposeError::Stopped("the proposer has stopped".into()),
        })?;
        answer.await.map_err(|_| ProposeError::Stopped("the proposer dropped the command".into()))?
    }
}

async fn run(
    raft: LedgerRaft,
    mut proposals: mpsc::Receiver<Proposal>,
    time: LeaderTime,
    config: ProposerConfig,
    mut ack: AckPolicy,
    metrics: Metrics,
) {
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    loop {
        // Take a slot first, then everything that queued meanwhile: under
        // load, proposals pile up while slots are busy and form big batches.
        let Ok(slot) = Arc::clone(&in_flight).acquire_owned().await else { return };
        let Some(first) = proposals.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < config.max_batch {
            match proposals.try_recv() {
                Ok(proposal) => batch.push(proposal),
                Err(_) => break,
            }
        }
        let now_ms = time.now_ms();
        let mut replies = Vec::with_capacity(batch.len());
        let envelopes = batch
            .into_iter()
            .map(|p| {
                replies.push(Some(p.reply));
                Envelope { id: p.id, now_ms, actor: p.actor, command: p.command }
            })
            .collect::<Vec<_>>();
        metrics.batch_size.observe(envelopes.len() as f64);
        match &mut ack {
            AckPolicy::AfterCommit => {}
            #[cfg(feature = "unsafe-test-modes")]
            AckPolicy::BeforeCommit(speculative) => {
                for (reply, early) in replies.iter_mut().zip(speculative.answer(&raft, &envelopes).unwrap_or_default())
                {
                    if let Some(result) = early
                        && let Some(waiting) = reply.take()
                    {
                        let _ = waiting.send(Ok(Committed { result, index: 0 }));
                    }
                }
            }
        }
        let raft = raft.clone();
        let apply_latency = metrics.apply_latency.clone();
        tokio::spawn(
            async move {
                let timer = apply_latency.start_timer();
                let written = raft.client_write(LedgerBatch { envelopes: envelopes.into() }).await;
                timer.observe_duration();
                drop(slot);
                answer(written, replies);
            }
            .instrument(tracing::debug_span!("propose_batch")),
        );
    }
}

/// What stamps a batch: the leader clock, kept at or after the ledger's.
struct LeaderTime {
    clock: Arc<LeaderClock>,
    ledger: LedgerReader,
}

impl LeaderTime {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms(self.ledger.read(Ledger::clock_ms))
    }
}

/// Hands each waiting caller its command's result, or the batch's error.
fn answer(
    written: Result<
        openraft::raft::ClientWriteResponse<TypeConfig>,
        RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
    >,
    replies: Vec<Option<oneshot::Sender<Result<Committed, ProposeError>>>>,
) {
    match written {
        Ok(response) => {
            let index = response.log_id.index;
            let results = response.data.results;
            if results.len() != replies.len() {
                // Cannot happen: the state machine answers every envelope.
                tracing::error!(
                    results = results.len(),
                    commands = replies.len(),
                    "an entry's results do not match its commands"
                );
            }
            // `None`: answered before the commit (the unsafe test-only policy).
            for (reply, result) in replies.into_iter().zip(results) {
                if let Some(reply) = reply {
                    // A caller that gave up is not waiting any more.
                    let _ = reply.send(Ok(Committed { result, index }));
                }
            }
        }
        Err(error) => {
            let error = match &error {
                RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                    ProposeError::NotLeader(forward.into())
                }
                RaftError::APIError(ClientWriteError::LogEntryDiscarded(forward)) => {
                    ProposeError::Indeterminate(forward.into())
                }
                other => ProposeError::Stopped(other.to_string()),
            };
            for reply in replies.into_iter().flatten() {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
