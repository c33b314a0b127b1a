//! A data dir that is missing, locked, damaged, or another node's is refused
//! with an error that says so.

use raft::Storage;
use raft::storage::{IfMissing, OpenError};

use super::support::{self, CLUSTER, NODE, with_raw_db, with_raw_db_families};

const IDENTITY_KEY: &[u8] = b"\x00identity";

fn open_err(config: &raft::storage::StorageConfig) -> OpenError {
    Storage::open(config).expect_err("the data dir must be refused")
}

#[test]
fn another_nodes_or_clusters_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(support::open(dir.path()));

    let mut config = support::config(dir.path());
    config.identity.node_id = 2;
    let error = open_err(&config);
    assert!(matches!(error, OpenError::WrongNode { expected: 2, found: NODE, .. }), "{error:?}");
    assert!(error.to_string().contains("belongs to node 1, not node 2"), "{error}");

    let mut config = support::config(dir.path());
    config.identity.cluster_id = "other-cluster".into();
    let error = open_err(&config);
    assert!(matches!(&error, OpenError::WrongCluster { found, .. } if found == CLUSTER), "{error:?}");

    // The rightful owner still opens it, whether or not creation is allowed.
    let mut config = support::config(dir.path());
    config.if_missing = IfMissing::Refuse;
    Storage::open(&config).expect("the owner opens its data dir");
}

#[test]
fn a_missing_data_dir_is_refused_unless_creation_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(&dir.path().join("node-1"));
    config.if_missing = IfMissing::Refuse;
    let error = open_err(&config);
    assert!(matches!(error, OpenError::Missing { .. }), "{error:?}");
    assert!(!dir.path().join("node-1").exists(), "refusing creates nothing");

    config.if_missing = IfMissing::Create;
    drop(Storage::open(&config).expect("created"));
    config.if_missing = IfMissing::Refuse;
    Storage::open(&config).expect("exists now");
}

#[test]
fn a_damaged_identity_record_is_refused() {
    for (record, expected) in
        [(b"garbage!".as_slice(), "bad magic"), (b"ILID\x04", "cut short"), (b"ILID\x04\x00\x00\x00\xff\xff", "")]
    {
        let dir = tempfile::tempdir().unwrap();
        drop(support::open(dir.path()));
        with_raw_db(dir.path(), |db| db.put_cf(db.cf_handle("meta").unwrap(), IDENTITY_KEY, record).unwrap());
        let error = open_err(&support::config(dir.path()));
        assert!(matches!(&error, OpenError::CorruptIdentity { detail, .. } if detail.contains(expected)), "{error:?}");
        assert!(error.to_string().contains("damaged identity record"), "{error}");
    }
}

#[test]
fn a_record_of_another_format_is_refused() {
    // 9: a later build's; 1: before snapshots carried the group header;
    // 2: snapshots in a column family of their own, which RocksDB must
    // open too before the format can be read; 3: snapshot files holding
    // the ledger's format 1.
    for found in [9_u8, 1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        drop(support::open(dir.path()));
        let record = [b"ILID".as_slice(), &[found, 0, 0, 0]].concat();
        let families: &[&str] = if found == 2 { &["logs", "meta", "snapshots"] } else { &["logs", "meta"] };
        with_raw_db_families(dir.path(), families, |db| {
            db.put_cf(db.cf_handle("meta").unwrap(), IDENTITY_KEY, &record).unwrap()
        });
        let error = open_err(&support::config(dir.path()));
        assert!(matches!(error, OpenError::UnsupportedFormat { found: f, .. } if f == u32::from(found)), "{error:?}");
        assert!(error.to_string().contains("run a matching build"), "{error}");
    }
}

#[test]
fn data_without_an_identity_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_raw_db(dir.path(), |db| db.put_cf(db.cf_handle("logs").unwrap(), b"key", b"value").unwrap());
    let error = open_err(&support::config(dir.path()));
    assert!(matches!(error, OpenError::NoIdentity { .. }), "{error:?}");
}

#[test]
fn damaged_database_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(support::open(dir.path()));
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-999999\n").unwrap();
    let error = open_err(&support::config(dir.path()));
    assert!(matches!(error, OpenError::RocksDb { .. }), "{error:?}");
    assert!(error.to_string().contains("regiond rebuild"), "{error}");
}

#[test]
fn a_data_dir_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _running = support::open(dir.path());
    let error = open_err(&support::config(dir.path()));
    assert!(matches!(error, OpenError::RocksDb { .. }), "{error:?}");
    assert!(error.to_string().contains("another process uses this data dir"), "{error}");
}

#[test]
fn an_empty_cluster_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.identity.cluster_id.clear();
    assert!(matches!(open_err(&config), OpenError::EmptyClusterId));
}
