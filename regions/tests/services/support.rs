//! One real node of region `eu-west` with two warehouses, clients with
//! each principal's token, request builders and status readers.

use std::collections::BTreeMap;
use std::time::Duration;

use protos::admin::admin_client::AdminClient;
use protos::admin::{RegisterWarehouseRequest, Warehouse};
use protos::reservation::reservations_client::ReservationsClient;
use protos::status::ErrorDetail;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{AdjustStockRequest, AdjustmentReason, GetLevelsRequest, StockLevel, adjust_stock_request};
use regions::config::{NodeConfig, RaftTimings, TokensConfig};
use regions::node::{RegionNode, StartMode};
use regions::region::Consistency;
use tempfile::TempDir;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

pub(crate) const REGION: &str = "eu-west";
pub(crate) const PARIS: &str = "wh-paris";
pub(crate) const LYON: &str = "wh-lyon";
pub(crate) const ADMIN_TOKEN: &str = "services-admin-token-0123456789";
pub(crate) const SERVICE_TOKEN: &str = "services-gateway-token-0123456789";
pub(crate) const PARIS_TOKEN: &str = "services-paris-token-0123456789";
pub(crate) const LYON_TOKEN: &str = "services-lyon-token-0123456789";
/// How long any awaited condition may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub(crate) struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(crate) type Warehouses = WarehouseInventoryClient<InterceptedService<Channel, Bearer>>;
pub(crate) type Admin = AdminClient<InterceptedService<Channel, Bearer>>;
pub(crate) type Reservations = ReservationsClient<InterceptedService<Channel, Bearer>>;

/// A running single-node region with `wh-paris` (priority 1) and `wh-lyon`
/// (priority 2) registered.
pub(crate) struct Node {
    node: RegionNode,
    channel: Channel,
    _dir: TempDir,
}

impl Node {
    pub(crate) async fn start() -> Node {
        Self::start_with(false).await
    }

    /// A node whose admin API takes fault injection when `fault_injection`.
    pub(crate) async fn start_with(fault_injection: bool) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = NodeConfig {
            cluster_id: "services-test".into(),
            node_id: 1,
            region: REGION.into(),
            data_dir: dir.path().join("node1"),
            raft_addr: "127.0.0.1:0".parse().unwrap(),
            // Another loopback address: the config refuses equal addresses.
            api_addr: "127.0.0.2:0".parse().unwrap(),
            // A third loopback address, for the metrics page.
            metrics_addr: Some("127.0.0.3:0".parse().unwrap()),
            peers: BTreeMap::new(),
            tokens: TokensConfig {
                admin: ADMIN_TOKEN.into(),
                service: Some(SERVICE_TOKEN.into()),
                warehouses: BTreeMap::from([(PARIS.into(), PARIS_TOKEN.into()), (LYON.into(), LYON_TOKEN.into())]),
            },
            raft: RaftTimings::default(),
            deadline_ms: 5_000,
            expire_interval_ms: 200,
            max_batch: 1_024,
            max_in_flight: 8,
            fault_injection,
            unsafe_test_mode: None,
        };
        let node = RegionNode::start(config, StartMode::Bootstrap).await.expect("the node starts");
        node.region()
            .raft()
            .wait(Some(TIMEOUT))
            .current_leader(1, "the node leads its own group")
            .await
            .expect("a single node elects itself");
        let channel = Endpoint::from_shared(format!("http://{}", node.api_addr())).unwrap().connect_lazy();
        let node = Node { node, channel, _dir: dir };
        for (n, (warehouse, priority)) in [(PARIS, 1), (LYON, 2)].into_iter().enumerate() {
            node.register(&format!("register-{n}"), warehouse, priority).await;
        }
        node
    }

    async fn register(&self, command_id: &str, warehouse: &str, priority: u32) {
        let request = RegisterWarehouseRequest {
            command_id: command_id.into(),
            warehouse: Some(Warehouse {
                warehouse_id: warehouse.into(),
                region: REGION.into(),
                name: warehouse.into(),
                location: String::new(),
                priority,
            }),
        };
        self.admin(ADMIN_TOKEN).register_warehouse(request).await.expect("warehouse registered");
    }

    /// The client-facing address.
    pub(crate) fn api_addr(&self) -> std::net::SocketAddr {
        self.node.api_addr()
    }

    /// A warehouse API client sending `token`.
    pub(crate) fn warehouses(&self, token: &str) -> Warehouses {
        WarehouseInventoryClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    /// An admin API client sending `token`.
    pub(crate) fn admin(&self, token: &str) -> Admin {
        AdminClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    /// The node itself.
    pub(crate) fn node(&self) -> &RegionNode {
        &self.node
    }

    /// A reservation API client sending `token`.
    pub(crate) fn reservations(&self, token: &str) -> Reservations {
        ReservationsClient::with_interceptor(self.channel.clone(), bearer(token))
    }

    /// Everything a request could change but time: levels, journal, holds,
    /// orders, carts, checkouts (as text, to compare before and after).
    pub(crate) async fn observe(&self) -> String {
        let read = self.node.region().read(Consistency::Stale, |ledger| {
            format!(
                "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
                ledger.levels(),
                ledger.journal(),
                ledger.holds(),
                ledger.orders(),
                ledger.carts(),
                ledger.checkouts()
            )
        });
        read.await.expect("a local read").value
    }

    pub(crate) async fn shutdown(self) {
        self.node.shutdown().await;
    }
}

pub(crate) fn bearer(token: &str) -> Bearer {
    Bearer(format!("Bearer {token}").parse().expect("ASCII token"))
}

/// An AdjustStock request receiving `quantity` of `sku` at `warehouse`.
pub(crate) fn receive(command_id: &str, warehouse: &str, sku: &str, quantity: u64) -> AdjustStockRequest {
    adjust(command_id, warehouse, sku, AdjustmentReason::Received, adjust_stock_request::Amount::Quantity(quantity))
}

/// An AdjustStock request.
pub(crate) fn adjust(
    command_id: &str,
    warehouse: &str,
    sku: &str,
    reason: AdjustmentReason,
    amount: adjust_stock_request::Amount,
) -> AdjustStockRequest {
    AdjustStockRequest {
        command_id: command_id.into(),
        warehouse_id: warehouse.into(),
        sku: sku.into(),
        reason: reason.into(),
        amount: Some(amount),
        ..AdjustStockRequest::default()
    }
}

/// The levels of `skus` at `warehouse`, read by the warehouse itself.
pub(crate) async fn levels(client: &mut Warehouses, warehouse: &str, skus: &[&str]) -> Vec<StockLevel> {
    let request = GetLevelsRequest {
        warehouse_id: warehouse.into(),
        skus: skus.iter().map(|s| (*s).to_owned()).collect(),
        page: None,
        stale: false,
    };
    client.get_levels(request).await.expect("levels").into_inner().levels
}

/// The level of `sku` at `warehouse`.
pub(crate) async fn level(client: &mut Warehouses, warehouse: &str, sku: &str) -> StockLevel {
    levels(client, warehouse, &[sku]).await.remove(0)
}

/// A level with these buckets (available derived).
pub(crate) fn stock(warehouse: &str, sku: &str, on_hand: u64, held: u64, allocated: u64) -> StockLevel {
    StockLevel {
        warehouse_id: warehouse.into(),
        sku: sku.into(),
        on_hand,
        damaged: 0,
        safety_stock: 0,
        held,
        allocated,
        available: on_hand - held - allocated,
    }
}

/// The error of a call that must fail.
pub(crate) fn failed<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>) -> Status {
    result.expect_err("the call must fail")
}

/// The typed detail of `status`, checked to go with its code.
pub(crate) fn detail(status: &Status) -> ErrorDetail {
    ErrorDetail::from_status(status).expect("well-formed details").expect("a typed detail")
}

/// The field a `BadRequest` detail names.
pub(crate) fn bad_field(status: &Status) -> String {
    match detail(status) {
        ErrorDetail::BadRequest(bad) => bad.field_violations[0].field.clone(),
        other => panic!("expected a BadRequest, got {other:?} ({status:?})"),
    }
}

/// Asserts `status` has `code` and, for `INVALID_ARGUMENT`, names `field`
/// (in the detail) or, for other codes, mentions it in the message.
pub(crate) fn assert_refused(status: &Status, code: Code, field: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    if code == Code::InvalidArgument {
        assert_eq!(bad_field(status), field, "{status:?}");
    } else {
        assert!(status.message().contains(field), "{status:?} should mention {field}");
    }
}
