//! The `WarehouseInventory`, `Reservations` and `Admin` services (and the
//! metrics page) of a real
//! single-node region (RocksDB in a temp dir, gRPC on loopback), called
//! through the generated tonic clients with bearer tokens, one module per
//! area under `services/`.

mod services {
    mod admin;
    mod auth;
    mod bad_input;
    mod carts_checkouts;
    mod idempotency;
    mod metrics;
    mod reservations;
    mod reserve_many;
    mod stock;
    mod support;
    mod transfers;
    mod watch;
}
