//! The `postgres` target: the row-lock approach. A throwaway PostgreSQL
//! cluster (`initdb` into a temporary directory, the server on a free
//! 127.0.0.1 port, `fsync=on`, `synchronous_commit=on`), a table
//! `stock(sku text primary key, qty bigint)`, and per call one autocommit
//!
//! ```sql
//! UPDATE stock SET qty = qty - 1 WHERE sku = $1 AND qty >= 1
//! ```
//!
//! over a pool of connections (callers share them round-robin; each runs
//! one statement at a time, so the pool size bounds the statements in
//! flight). PostgreSQL refuses to run as root: when this program is root,
//! `initdb` and the server run as the `postgres` user.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, Statement};

use super::report::Measurement;
use super::workload::{Call, CallError, STOCK_UNITS, Workload};
use super::{Error, START_TIMEOUT, Settings, io, measure, measurement, work_dir};
use crate::process::{StopSignal, Supervised, find_executable, free_port};

/// The role the benchmark connects as (created by `initdb -U`).
const ROLE: &str = "bench";

/// The measured statement.
pub const DECREMENT: &str = "UPDATE stock SET qty = qty - 1 WHERE sku = $1 AND qty >= 1";

/// Where Debian and others install the server binaries, newest first.
fn server_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .collect();
    // Version directories: "15" sorts after "9.6" numerically, not textually.
    dirs.sort_by_key(|dir| {
        let version = dir.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or("");
        std::cmp::Reverse(version.split('.').map(|part| part.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>())
    });
    dirs
}

/// The uid and gid to run the server as: `None` to run as this process's
/// own user; the `postgres` user's when this process is root.
fn server_user() -> Result<Option<(u32, u32)>, Error> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if euid(&status) != Some(0) {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd_ids(&passwd, "postgres").map(Some).ok_or_else(|| {
        Error::Unavailable(
            "PostgreSQL cannot run as root and there is no `postgres` user to run it as \
             (apt-get install -y postgresql creates one)"
                .into(),
        )
    })
}

/// The effective uid in a `/proc/self/status` text.
fn euid(status: &str) -> Option<u32> {
    status.lines().find_map(|line| line.strip_prefix("Uid:")?.split_whitespace().nth(1)?.parse().ok())
}

/// The uid and gid of `user` in an `/etc/passwd` text.
fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let _password = fields.next()?;
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}

/// The server's settings: durable, local, enough connections.
pub fn server_args(data: &Path, port: u16, connections: usize) -> Vec<String> {
    let mut args = vec!["-D".to_owned(), data.display().to_string(), "-p".to_owned(), port.to_string()];
    for setting in [
        "listen_addresses=127.0.0.1".to_owned(),
        "unix_socket_directories=".to_owned(),
        "fsync=on".to_owned(),
        "synchronous_commit=on".to_owned(),
        "full_page_writes=on".to_owned(),
        format!("max_connections={}", connections + 10),
    ] {
        args.push("-c".to_owned());
        args.push(setting);
    }
    args
}

/// Runs PostgreSQL on every workload of `settings`, appending what it
/// measured to `measured`.
pub async fn run(settings: &Settings, measured: &mut Vec<(Workload, Measurement)>) -> Result<(), Error> {
    let extra = server_dirs();
    let (Some(initdb), Some(postgres)) = (find_executable("initdb", &extra), find_executable("postgres", &extra))
    else {
        return Err(Error::Unavailable(
            "PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin \
             (apt-get install -y postgresql)"
                .into(),
        ));
    };
    let user = server_user()?;
    let dir = work_dir(settings, "bench-postgres-")?;
    let data = dir.path().join("pgdata");
    std::fs::create_dir(&data).map_err(io(format!("cannot create {}", data.display())))?;
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&data, Some(uid), Some(gid))
            .map_err(io(format!("cannot give {} to the postgres user", data.display())))?;
    }
    let as_server_user = |command: &mut Command| {
        command.current_dir(dir.path());
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
    };

    let mut init = Command::new(&initdb);
    init.arg("-D").arg(&data).args(["-U", ROLE, "--auth=trust", "-E", "UTF8", "--locale=C"]);
    as_server_user(&mut init);
    let output = init.output().map_err(io(format!("cannot run {}", initdb.display())))?;
    if !output.status.success() {
        return Err(Error::Setup(format!(
            "initdb failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }

    let pool_size = settings.pg_connections;
    let port = free_port().map_err(io("cannot find a free port"))?;
    let mut command = Command::new(&postgres);
    command.args(server_args(&data, port, pool_size));
    as_server_user(&mut command);
    let log = dir.path().join("postgres.log");
    let mut server = Supervised::spawn("postgres", &mut command, &log, StopSignal::Int)
        .map_err(io(format!("cannot start {}", postgres.display())))?;
    let config = format!("host=127.0.0.1 port={port} user={ROLE} dbname=postgres connect_timeout=5");

    let setup = connect(&config, &mut server).await?;
    seed(&setup, settings).await?;
    let mut pool = Vec::with_capacity(pool_size);
    for _ in 0..pool_size {
        let client = connect(&config, &mut server).await?;
        let statement = client.prepare(DECREMENT).await.map_err(pg("preparing the decrement"))?;
        pool.push(Arc::new((client, statement)));
    }
    let durability = durability(&setup).await?;
    let pool: Arc<[Arc<(Client, Statement)>]> = pool.into();
    for &workload in &settings.workloads {
        let pool = Arc::clone(&pool);
        let skus = workload.skus(settings.spread_skus);
        let (result, cpu) = measure(&settings.load, &skus, vec![server.pid()], move |call: Call| {
            let connection = Arc::clone(&pool[call.worker % pool.len()]);
            async move {
                let (client, statement) = &*connection;
                match client.execute(statement, &[&&*call.sku]).await {
                    Ok(1) => Ok(()),
                    Ok(rows) => Err(CallError::new("insufficient stock", format!("{rows} rows updated"))),
                    Err(error) => Err(CallError::new(pg_kind(&error), error)),
                }
            }
        })
        .await;
        if let Some(status) = server.exited() {
            return Err(Error::Setup(format!("postgres exited during the run ({status}): {}", server.log_tail())));
        }
        let notes = vec![format!("{durability}; {pool_size} connections, one autocommit UPDATE per call")];
        measured.push((workload, measurement(&result, cpu, notes)));
    }
    drop(pool);
    drop(setup);
    server.stop(crate::process::STOP_GRACE);
    Ok(())
}

fn pg(what: &str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let what = what.to_owned();
    move |source| Error::Postgres { what, source }
}

/// The report's name for a failed statement: its SQLSTATE, if any.
fn pg_kind(error: &tokio_postgres::Error) -> String {
    match error.code() {
        Some(code) => format!("sqlstate {}", code.code()),
        None if error.is_closed() => "connection closed".into(),
        None => "client error".into(),
    }
}

/// The server's version and durability settings as it reports them;
/// fails unless every commit is flushed to disk before it is answered.
async fn durability(client: &Client) -> Result<String, Error> {
    let mut values = Vec::new();
    for setting in ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes"] {
        let row = client.query_one(&format!("SHOW {setting}"), &[]).await.map_err(pg("reading the settings"))?;
        values.push((setting, row.get::<_, String>(0)));
    }
    let value = |name: &str| values.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v.as_str());
    if value("fsync") != "on" || value("synchronous_commit") != "on" {
        return Err(Error::Setup(format!(
            "postgres is not durable: fsync={}, synchronous_commit={}",
            value("fsync"),
            value("synchronous_commit")
        )));
    }
    let (_, version) = &values[0];
    let settings: Vec<String> = values[1..].iter().map(|(name, value)| format!("{name}={value}")).collect();
    Ok(format!("PostgreSQL {version}, {}", settings.join(", ")))
}

/// A connection, retried until the server accepts it (or exits, or
/// [`START_TIMEOUT`] passes). Its driver runs on its own task.
async fn connect(config: &str, server: &mut Supervised) -> Result<Client, Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match tokio_postgres::connect(config, NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "postgres connection ended");
                    }
                });
                return Ok(client);
            }
            Err(error) => {
                if let Some(status) = server.exited() {
                    return Err(Error::Setup(format!("postgres exited ({status}): {}", server.log_tail())));
                }
                if Instant::now() > deadline {
                    return Err(Error::Postgres {
                        what: format!("connecting within {START_TIMEOUT:?}"),
                        source: error,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Creates the table with [`STOCK_UNITS`] of every SKU of every workload.
async fn seed(client: &Client, settings: &Settings) -> Result<(), Error> {
    client
        .batch_execute("CREATE TABLE stock (sku text PRIMARY KEY, qty bigint NOT NULL)")
        .await
        .map_err(pg("creating the table"))?;
    let units = i64::try_from(STOCK_UNITS).expect("10^11 fits an i64");
    for &workload in &settings.workloads {
        let skus = workload.skus(settings.spread_skus).names().to_vec();
        client
            .execute("INSERT INTO stock (sku, qty) SELECT unnest($1::text[]), $2", &[&skus, &units])
            .await
            .map_err(pg("inserting the stock"))?;
    }
    client.batch_execute("VACUUM ANALYZE stock").await.map_err(pg("vacuuming"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_ids_are_read() {
        let status = "Name:\tbench\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(euid(status), Some(0), "the effective uid is the second");
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(passwd_ids(passwd, "postgres"), Some((101, 104)));
        assert_eq!(passwd_ids(passwd, "post"), None);
    }

    #[test]
    fn the_server_is_durable_and_local() {
        let args = server_args(Path::new("/tmp/pg"), 5999, 64).join(" ");
        for setting in ["fsync=on", "synchronous_commit=on", "listen_addresses=127.0.0.1", "max_connections=74"] {
            assert!(args.contains(setting), "{args}");
        }
        assert!(args.starts_with("-D /tmp/pg -p 5999"), "{args}");
    }
}
