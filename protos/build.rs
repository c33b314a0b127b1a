//! Compiles `proto/*.proto` into prost messages and tonic clients/servers.
//!
//! protoc comes from `protoc-bin-vendored`, handed to prost-build through
//! `Config::protoc_executable`, so the build needs no system protoc and does
//! not mutate the process environment.

use std::error::Error;

/// Every contract, one file per service plus the shared `common.proto`.
const PROTOS: [&str; 6] = [
    "proto/common.proto",
    "proto/raft.proto",
    "proto/warehouse.proto",
    "proto/reservation.proto",
    "proto/catalog.proto",
    "proto/admin.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `prost::Name` impls give each message a type URL, which the error
    // details need to travel as `google.protobuf.Any`.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure().compile_with_config(config, &PROTOS, &["proto"])?;
    Ok(())
}
