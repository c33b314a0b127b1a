//! [`ReserveBatcher`]: the reservations of many concurrent callers sent as
//! `Reservations.ReserveMany` calls, so that a busy client (the gateway
//! during a flash sale) pays one RPC per batch instead of one per hold, on
//! its side and on the leader's.
//!
//! Batches form the way the region's proposer forms Raft entries: a call
//! goes out at once when a slot is free, and while every slot is busy new
//! reservations queue up and leave together in the next call. No timer
//! holds anything back, so an idle client adds no latency.

use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::reserve_result::Outcome;
use protos::reservation::{RESERVE_MANY_MAX, ReserveManyRequest, ReserveRequest, ReserveResponse, ReserveResult};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tonic::Status;

use crate::client::{RegionClient, error_of};
use crate::error::{ClientError, ConfigError};

/// How a [`ReserveBatcher`] batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Most reservations in one call, 1 to [`RESERVE_MANY_MAX`].
    pub max_batch: usize,
    /// Most calls in flight at once, at least 1. Fewer make larger batches.
    pub max_in_flight: usize,
    /// Most reservations waiting for a call; callers beyond it wait for
    /// room (back-pressure), at least 1.
    pub queue_depth: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self { max_batch: 256, max_in_flight: 4, queue_depth: 4_096 }
    }
}

impl BatcherConfig {
    /// Checks every bound, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let setting = |field, reason: String| Err(ConfigError::Setting { field, reason });
        if !(1..=RESERVE_MANY_MAX).contains(&self.max_batch) {
            return setting("max_batch", format!("must be between 1 and {RESERVE_MANY_MAX}, got {}", self.max_batch));
        }
        if self.max_in_flight == 0 {
            return setting("max_in_flight", "must be at least 1".into());
        }
        if self.queue_depth == 0 {
            return setting("queue_depth", "must be at least 1".into());
        }
        Ok(())
    }
}

/// One caller's reservation, waiting for a call.
struct Pending {
    request: ReserveRequest,
    reply: oneshot::Sender<Result<ReserveResponse, ClientError>>,
}

/// Sends reservations through a [`RegionClient`] in `ReserveMany` batches.
///
/// Each reservation is answered exactly as [`RegionClient::call`] would
/// answer a `Reserve` of it: its hold, or its own rejection (bad input,
/// short of stock), or, when the whole call failed, that call's error. A
/// batch is retried whole under the same command ids, so every reservation
/// still applies at most once.
///
/// Cheap to clone; the batching task ends when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct ReserveBatcher {
    queue: mpsc::Sender<Pending>,
}

impl ReserveBatcher {
    /// Starts batching over `client`. Must be called within a Tokio runtime
    /// (the batching task is spawned on it).
    pub fn new(client: RegionClient, config: BatcherConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let (queue, pending) = mpsc::channel(config.queue_depth);
        tokio::spawn(run(client, pending, config));
        Ok(Self { queue })
    }

    /// Reserves as `Reservations.Reserve` would, sharing a call with
    /// whatever other reservations are waiting.
    pub async fn reserve(&self, request: ReserveRequest) -> Result<ReserveResponse, ClientError> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Pending { request, reply }).await.is_err() {
            // Never sent: nothing can have applied.
            let last_status = Status::cancelled("the reservation batcher has stopped");
            return Err(ClientError::Unreachable { attempts: 0, last_status });
        }
        answer.await.unwrap_or_else(|_| {
            // The task went away with the call in flight (its runtime shut
            // down): the reservation may have applied.
            let last_status = Status::cancelled("the reservation batcher stopped during the call");
            Err(ClientError::Indeterminate { attempts: 1, last_status })
        })
    }
}

/// Takes a call slot, then everything queued, and sends it; until every
/// [`ReserveBatcher`] is dropped.
async fn run(client: RegionClient, mut pending: mpsc::Receiver<Pending>, config: BatcherConfig) {
    let slots = std::sync::Arc::new(Semaphore::new(config.max_in_flight));
    loop {
        let Ok(slot) = std::sync::Arc::clone(&slots).acquire_owned().await else { return };
        let Some(first) = pending.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < config.max_batch {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let client = client.clone();
        tokio::spawn(async move {
            send(&client, batch).await;
            drop(slot);
        });
    }
}

/// One `ReserveMany` call (with the client's retries) for `batch`, each
/// caller answered with its own item's outcome.
async fn send(client: &RegionClient, batch: Vec<Pending>) {
    let (reservations, replies): (Vec<ReserveRequest>, Vec<_>) =
        batch.into_iter().map(|pending| (pending.request, pending.reply)).unzip();
    let count = reservations.len();
    let answer = client
        .call("Reservations/ReserveMany", ReserveManyRequest { reservations }, |channel, request| async move {
            ReservationsClient::new(channel).reserve_many(request).await
        })
        .await;
    match answer {
        Ok(response) if response.results.len() == count => {
            for (reply, result) in replies.into_iter().zip(response.results) {
                // A caller that gave up is not waiting any more.
                let _ = reply.send(outcome(result));
            }
        }
        Ok(response) => {
            // Cannot happen with a conforming region; the items may have applied.
            let last_status = Status::internal(format!(
                "the region answered {} results for {count} reservations",
                response.results.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(ClientError::Indeterminate { attempts: 1, last_status: last_status.clone() }));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// One item's answer, read as a single `Reserve` call's would be.
fn outcome(result: ReserveResult) -> Result<ReserveResponse, ClientError> {
    match result.outcome {
        Some(Outcome::Reserved(reserved)) => Ok(reserved),
        Some(Outcome::Error(error)) => Err(error_of(Status::from(error))),
        None => Err(ClientError::Indeterminate {
            attempts: 1,
            last_status: Status::internal("the region answered a reservation with no outcome"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use protos::common::{InsufficientStock, ItemError};
    use protos::status::ErrorDetail;
    use tonic::Code;

    use super::*;

    #[test]
    fn every_bound_is_checked_by_name() {
        assert_eq!(BatcherConfig::default().validate(), Ok(()));
        let named = |config: BatcherConfig| match config.validate() {
            Err(ConfigError::Setting { field, .. }) => field,
            other => panic!("{config:?} gave {other:?}"),
        };
        let default = BatcherConfig::default();
        assert_eq!(named(BatcherConfig { max_batch: 0, ..default }), "max_batch");
        assert_eq!(named(BatcherConfig { max_batch: RESERVE_MANY_MAX + 1, ..default }), "max_batch");
        assert_eq!(named(BatcherConfig { max_in_flight: 0, ..default }), "max_in_flight");
        assert_eq!(named(BatcherConfig { queue_depth: 0, ..default }), "queue_depth");
    }

    #[test]
    fn an_items_rejection_reads_as_a_single_calls() {
        let detail = ErrorDetail::from(InsufficientStock { lines: Vec::new() });
        let status = detail.clone().into_status("short");
        let result = ReserveResult { outcome: Some(Outcome::Error(ItemError::from(&status))) };
        match outcome(result) {
            Err(ClientError::Rejected { status, detail: Some(read) }) => {
                assert_eq!((status.code(), read), (Code::FailedPrecondition, detail));
            }
            other => panic!("{other:?}"),
        }
        let reserved = ReserveResponse { hold: None, applied_index: 7 };
        let result = ReserveResult { outcome: Some(Outcome::Reserved(reserved.clone())) };
        assert_eq!(outcome(result).unwrap(), reserved);
        assert!(matches!(outcome(ReserveResult { outcome: None }), Err(ClientError::Indeterminate { .. })));
    }
}
