//! The regional HTTP gateway (not built yet).
//!
//! It will serve shoppers (catalog, search, cart, checkout saga, orders)
//! over `/api/v1`, routing each reservation to the region that owns the
//! stock. See DESIGN.md §5–§6.
#![deny(missing_docs)]
