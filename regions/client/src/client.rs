//! [`RegionClient`]: one retry engine that every RPC to a region goes
//! through.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;

use crate::config::ClientConfig;
use crate::endpoint::EndpointAddr;
use crate::error::{ClientError, ConfigError};
use crate::retry::{Backoff, Failure, classify, is_local_timeout};
use crate::token::BearerToken;
use crate::trace::{TRACEPARENT, TraceContext};

/// Most endpoints a client keeps: the ones it was given plus leaders it
/// learned from `NotLeader` hints. A region has 3 or 5 replicas; the bound
/// keeps a misbehaving replica from growing the list without end. A hint
/// that does not fit is treated as no hint.
pub const ENDPOINTS_MAX: usize = 16;

/// Least time left before the deadline for which a retry is started; with
/// less, the operation ends with the failure it has.
const ATTEMPT_TIME_MIN: Duration = Duration::from_millis(10);

/// A leader-aware client of one region's Raft group.
///
/// Built from the API addresses of the group's replicas. Every call goes
/// through one retry engine ([`RegionClient::call`]): it starts at the
/// replica that last answered, follows `NotLeader` hints at once, rotates
/// over the replicas on connection failures, backs off between rounds,
/// honours `NoQuorum.retry_after_ms`, and resends the *same* request (so the
/// same `command_id`, which the state machine deduplicates) until the
/// configured deadline. It never hangs: each attempt and the whole operation
/// are bounded.
///
/// Cheap to clone: clones share the channels and the leader they learned.
#[derive(Clone)]
pub struct RegionClient {
    /// State shared by clones.
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RegionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionClient")
            .field("endpoints", &self.endpoints())
            .field("leader", &self.leader())
            .field("config", &self.shared.config)
            .field("token", &self.shared.token)
            .finish()
    }
}

/// What clones of a client share.
struct Shared {
    /// Sent with every call.
    token: BearerToken,
    /// Time bounds, validated.
    config: ClientConfig,
    /// The replicas and the leader, behind a lock held only for lookups,
    /// never across an await.
    replicas: Mutex<Replicas>,
}

/// The known replicas of the group.
struct Replicas {
    /// Given endpoints first, then learned ones; only ever appended to, so an
    /// index stays valid while a call holds it.
    slots: Vec<Slot>,
    /// Index into `slots` of the replica that last answered a call, where
    /// the next call starts.
    leader: usize,
}

/// One replica: its address and, once used, its channel.
struct Slot {
    /// Its client-facing API address.
    address: EndpointAddr,
    /// Created on first use (tonic's lazy channels need a runtime) and kept:
    /// the channel reconnects by itself after a failure.
    channel: Option<Channel>,
}

/// Whether the engine sends a gRPC deadline with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A unary call: the attempt timeout is sent as `grpc-timeout`, so the
    /// server can give up when the client does.
    Unary,
    /// A server stream: the attempt timeout bounds only its opening, since a
    /// stream is meant to outlive it.
    Stream,
}

/// Where the engine sends attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Start at the last known leader, follow hints, rotate, retry.
    Leader,
    /// One attempt at this replica (an index into `slots`), no retry.
    Pinned(usize),
}

impl RegionClient {
    /// A client of the replicas at `endpoints` (duplicates dropped, order
    /// kept: the first is asked first). Connects nothing yet; each replica's
    /// channel is made on first use.
    pub fn new(
        endpoints: impl IntoIterator<Item = EndpointAddr>,
        token: BearerToken,
        config: ClientConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut slots: Vec<Slot> = Vec::new();
        for address in endpoints {
            if !slots.iter().any(|slot| slot.address == address) {
                slots.push(Slot { address, channel: None });
            }
        }
        if slots.is_empty() {
            return Err(ConfigError::NoEndpoints);
        }
        if slots.len() > ENDPOINTS_MAX {
            return Err(ConfigError::TooManyEndpoints { count: slots.len(), max: ENDPOINTS_MAX });
        }
        let replicas = Mutex::new(Replicas { slots, leader: 0 });
        Ok(Self { shared: Arc::new(Shared { token, config, replicas }) })
    }

    /// The client's time bounds.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    /// Every endpoint the client knows, given ones first, then learned ones.
    pub fn endpoints(&self) -> Vec<EndpointAddr> {
        self.replicas().slots.iter().map(|slot| slot.address.clone()).collect()
    }

    /// Where the next call starts: the replica that last answered a call,
    /// else the first endpoint given.
    pub fn leader(&self) -> EndpointAddr {
        let replicas = self.replicas();
        replicas.slots[replicas.leader].address.clone()
    }

    /// Runs a unary RPC through the retry engine and returns its response.
    ///
    /// `method` names the RPC in traces (e.g. `"Admin/ClusterStatus"`). `op`
    /// makes one attempt: it gets a replica's channel and the request with
    /// the token and deadline attached, and calls the generated client, e.g.
    ///
    /// ```no_run
    /// # async fn example(client: region_client::RegionClient) -> Result<(), region_client::ClientError> {
    /// use protos::admin::ClusterStatusRequest;
    /// use protos::admin::admin_client::AdminClient;
    ///
    /// let status = client
    ///     .call("Admin/ClusterStatus", ClusterStatusRequest::default(), |channel, request| async move {
    ///         AdminClient::new(channel).cluster_status(request).await
    ///     })
    ///     .await?;
    /// # let _ = status;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Each retry sends a clone of the same `request`, so a write keeps its
    /// `command_id` and the region applies it at most once.
    pub async fn call<Req, Resp, F, Fut>(&self, method: &'static str, request: Req, op: F) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.execute(method, request, Mode::Unary, Route::Leader, op).await
    }

    /// Opens a server stream through the retry engine (leader search and
    /// retries as for [`RegionClient::call`], up to the moment the stream is
    /// open) and returns it. Messages are then read from the stream as they
    /// come, without a deadline; a stream that fails later is not reopened.
    pub async fn open_stream<Req, Item, F, Fut>(
        &self,
        method: &'static str,
        request: Req,
        op: F,
    ) -> Result<Streaming<Item>, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Streaming<Item>>, Status>>,
    {
        self.execute(method, request, Mode::Stream, Route::Leader, op).await
    }

    /// Makes exactly one attempt at `endpoint`, with the token and the
    /// attempt timeout, following no hint: for per-replica reads such as
    /// `ClusterStatus`, where the answer of that replica is the point. The
    /// endpoint is added to the known ones if there is room. Does not change
    /// which replica is taken as the leader.
    pub async fn call_endpoint<Req, Resp, F, Fut>(
        &self,
        endpoint: &EndpointAddr,
        method: &'static str,
        request: Req,
        op: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        match self.find_or_add(endpoint) {
            Some(index) => self.execute(method, request, Mode::Unary, Route::Pinned(index), op).await,
            None => Err(ClientError::Unreachable {
                attempts: 0,
                last_status: Status::resource_exhausted(format!(
                    "the client already knows {ENDPOINTS_MAX} endpoints, {endpoint} does not fit"
                )),
            }),
        }
    }

    /// The retry engine.
    async fn execute<Req, Resp, F, Fut>(
        &self,
        method: &'static str,
        request: Req,
        mode: Mode,
        route: Route,
        mut op: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let config = &self.shared.config;
        let deadline = Instant::now() + config.deadline;
        let mut backoff = Backoff::new(config);
        let mut target = match route {
            Route::Leader => self.replicas().leader,
            Route::Pinned(index) => index,
        };
        let mut attempts: u32 = 0;
        // Attempts since the last wait: after one round over every replica
        // the engine backs off.
        let mut round: usize = 0;
        let mut redirects_in_a_row: u32 = 0;
        // The last failure that leaves a write's outcome open (NoQuorum or
        // Transient); `None` while every attempt provably applied nothing.
        let mut open: Option<Failure> = None;
        let attempt_floor = ATTEMPT_TIME_MIN.min(config.attempt_timeout);
        // One trace for the whole call, retries included.
        let trace = TraceContext::new();
        loop {
            attempts += 1;
            let (address, channel) = self.channel(target);
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt_timeout = config.attempt_timeout.min(remaining);
            let mut attempt_request = Request::new(request.clone());
            attempt_request.metadata_mut().insert("authorization", self.shared.token.header());
            let attempt_trace = trace.child();
            if let Ok(value) = attempt_trace.header().parse() {
                attempt_request.metadata_mut().insert(TRACEPARENT, value);
            }
            if mode == Mode::Unary {
                attempt_request.set_timeout(attempt_timeout);
            }
            let span = tracing::debug_span!(
                "region_rpc",
                method,
                attempt = attempts,
                endpoint = %address,
                trace_id = %attempt_trace.trace_id_hex(),
            );
            let answer = tokio::time::timeout(attempt_timeout, op(channel, attempt_request)).instrument(span).await;
            let failure = match answer {
                Ok(Ok(response)) => {
                    if route == Route::Leader {
                        self.replicas().leader = target;
                    }
                    return Ok(response.into_inner());
                }
                // tonic enforces the gRPC deadline on this side too; its
                // "Timeout expired" is the same event as our own timer's.
                Ok(Err(status)) if !is_local_timeout(&status) => classify(status),
                Ok(Err(_)) | Err(_) => Failure::Transient {
                    status: Status::deadline_exceeded(format!("no answer from {address} within {attempt_timeout:?}")),
                },
            };
            tracing::debug!(
                method,
                attempt = attempts,
                endpoint = %address,
                failure = failure.kind(),
                code = ?failure.status().code(),
                message = failure.status().message(),
                "attempt failed"
            );

            if matches!(failure, Failure::NoQuorum { .. } | Failure::Transient { .. }) {
                open = Some(failure.clone());
            }
            if matches!(failure, Failure::Rejected { .. }) || matches!(route, Route::Pinned(_)) {
                return Err(give_up(failure, open, attempts));
            }

            let (next, wait) = match &failure {
                // A write whose leader moved is open, but the new leader
                // can answer it at once: it is followed like a redirect.
                Failure::NotLeader { hint: Some(hint), .. } | Failure::NoQuorum { hint: Some(hint), .. }
                    if hint != address.as_str() =>
                {
                    match EndpointAddr::parse(hint).ok().and_then(|hinted| self.find_or_add(&hinted)) {
                        Some(leader) if redirects_in_a_row < config.redirects_in_a_row_max => {
                            redirects_in_a_row += 1;
                            (leader, Duration::ZERO)
                        }
                        Some(leader) => {
                            redirects_in_a_row = 0;
                            round = 0;
                            (leader, backoff.next_wait())
                        }
                        None => self.rotate(target, &mut round, &mut backoff),
                    }
                }
                Failure::NoQuorum { retry_after, .. } => {
                    // Another replica may know a newer leader on the
                    // majority side; a follower redirects back otherwise.
                    round = 0;
                    let wait = if retry_after.is_zero() { backoff.next_wait() } else { *retry_after };
                    (self.next_index(target), wait)
                }
                Failure::Rejected { .. }
                | Failure::NotLeader { .. }
                | Failure::Unreachable { .. }
                | Failure::Transient { .. } => self.rotate(target, &mut round, &mut backoff),
            };
            // Waiting past the deadline would only delay the same answer,
            // and an attempt with almost no time left could not get one (its
            // timeout would only make a write's outcome look open).
            if wait + attempt_floor > deadline.saturating_duration_since(Instant::now()) {
                return Err(give_up(failure, open, attempts));
            }
            if !wait.is_zero() {
                tracing::debug!(method, wait_ms = wait.as_millis(), "backing off");
                tokio::time::sleep(wait).await;
                // A sleep can overrun on a loaded machine: look again.
                if deadline.saturating_duration_since(Instant::now()) < attempt_floor {
                    return Err(give_up(failure, open, attempts));
                }
            }
            target = next;
        }
    }

    /// The next replica after `target`, and the wait before trying it: none
    /// within a round, a backoff step once every replica was tried.
    fn rotate(&self, target: usize, round: &mut usize, backoff: &mut Backoff) -> (usize, Duration) {
        *round += 1;
        let count = self.replicas().slots.len();
        let wait = if *round >= count {
            *round = 0;
            backoff.next_wait()
        } else {
            Duration::ZERO
        };
        (self.next_index(target), wait)
    }

    /// The index after `target`, wrapping.
    fn next_index(&self, target: usize) -> usize {
        (target + 1) % self.replicas().slots.len()
    }

    /// The address and channel of replica `index`, making the channel on
    /// first use.
    fn channel(&self, index: usize) -> (EndpointAddr, Channel) {
        let config = &self.shared.config;
        let mut replicas = self.replicas();
        let slot = &mut replicas.slots[index];
        let channel = slot.channel.get_or_insert_with(|| {
            Endpoint::from_shared(slot.address.uri())
                .expect("EndpointAddr::parse checked that tonic accepts the URI")
                .connect_timeout(config.connect_timeout)
                .tcp_nodelay(true)
                .connect_lazy()
        });
        (slot.address.clone(), channel.clone())
    }

    /// The index of `address`, appended if new and there is room.
    fn find_or_add(&self, address: &EndpointAddr) -> Option<usize> {
        let mut replicas = self.replicas();
        if let Some(index) = replicas.slots.iter().position(|slot| &slot.address == address) {
            return Some(index);
        }
        if replicas.slots.len() >= ENDPOINTS_MAX {
            tracing::warn!(endpoint = %address, "endpoint list full, ignoring a learned leader address");
            return None;
        }
        tracing::debug!(endpoint = %address, "learned a new endpoint from a NotLeader hint");
        replicas.slots.push(Slot { address: address.clone(), channel: None });
        Some(replicas.slots.len() - 1)
    }

    /// The replicas, locked. The lock only guards lookups, so a poisoned
    /// lock (a panic elsewhere mid-lookup) still holds consistent data.
    fn replicas(&self) -> MutexGuard<'_, Replicas> {
        self.shared.replicas.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The error an operation ends with: a rejection as is; otherwise by the
/// last failure that left a write's outcome open, if any; otherwise (every
/// attempt refused or redirected) the client reached no leader.
fn give_up(last: Failure, open: Option<Failure>, attempts: u32) -> ClientError {
    match (last, open) {
        (Failure::Rejected { status, detail }, _) => ClientError::Rejected { status, detail },
        (_, Some(Failure::NoQuorum { group_id, status, .. })) => {
            ClientError::NoQuorum { group_id, attempts, last_status: status }
        }
        (_, Some(open)) => ClientError::Indeterminate { attempts, last_status: open.status().clone() },
        (last, None) => {
            debug_assert!(matches!(last, Failure::NotLeader { .. } | Failure::Unreachable { .. }));
            ClientError::Unreachable { attempts, last_status: last.status().clone() }
        }
    }
}

/// What a status that comes as a final answer ends with, read as one
/// failed attempt that is not retried: a server stream that failed after it
/// opened (a stream is not reopened), or one item of a batch call.
pub(crate) fn error_of(status: Status) -> ClientError {
    let failure = classify(status);
    let open = matches!(failure, Failure::NoQuorum { .. } | Failure::Transient { .. }).then(|| failure.clone());
    give_up(failure, open, 1)
}
