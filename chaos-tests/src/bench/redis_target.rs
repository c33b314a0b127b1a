//! The `redis` target: the atomic-script approach. `redis-server` on a free
//! 127.0.0.1 port with every write fsynced before it is answered
//! (`--appendonly yes --appendfsync always`, no RDB snapshots), one key per
//! SKU, and per call one `EVALSHA` of [`DECREMENT_SCRIPT`] over multiplexed
//! connections (callers share them round-robin, pipelining their calls).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

use super::report::Measurement;
use super::workload::{Call, CallError, STOCK_UNITS, Workload};
use super::{Error, START_TIMEOUT, Settings, io, measure, measurement, work_dir};
use crate::process::{StopSignal, Supervised, find_executable, free_port};

/// The measured script: takes `ARGV[1]` units of `KEYS[1]` if there are
/// that many; answers the units left, or -1 and changes nothing.
pub const DECREMENT_SCRIPT: &str = "if tonumber(redis.call('GET', KEYS[1])) >= tonumber(ARGV[1]) then \
     return redis.call('DECRBY', KEYS[1], ARGV[1]) else return -1 end";

/// Keys set per pipeline while seeding.
const SEED_BATCH: usize = 1_000;

/// The server's settings: durable (AOF, fsync before every answer), local.
pub fn server_args(dir: &std::path::Path, port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir.display().to_string(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    .iter()
    .map(|&s| s.to_owned())
    .collect()
}

/// The key of a SKU's stock.
fn key(sku: &str) -> String {
    format!("stock:{sku}")
}

/// Runs Redis on every workload of `settings`, appending what it measured
/// to `measured`.
pub async fn run(settings: &Settings, measured: &mut Vec<(Workload, Measurement)>) -> Result<(), Error> {
    let extra = ["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(Into::into);
    let Some(redis_server) = find_executable("redis-server", &extra) else {
        return Err(Error::Unavailable("redis-server not found on PATH (apt-get install -y redis-server)".into()));
    };
    let dir = work_dir(settings, "bench-redis-")?;
    let port = free_port().map_err(io("cannot find a free port"))?;
    let mut command = Command::new(&redis_server);
    command.args(server_args(dir.path(), port)).current_dir(dir.path());
    let log = dir.path().join("redis.log");
    let mut server = Supervised::spawn("redis-server", &mut command, &log, StopSignal::Term)
        .map_err(io(format!("cannot start {}", redis_server.display())))?;

    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .map_err(|source| Error::Redis { what: "client".into(), source })?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(settings.load.call_timeout));
    let mut setup = connect(&client, &config, &mut server).await?;
    let durability = durability(&mut setup).await?;
    for &workload in &settings.workloads {
        for names in workload.skus(settings.spread_skus).names().chunks(SEED_BATCH) {
            let mut pipe = redis::pipe();
            for sku in names {
                pipe.set(key(sku), STOCK_UNITS).ignore();
            }
            pipe.query_async::<()>(&mut setup)
                .await
                .map_err(|source| Error::Redis { what: "seeding stock".into(), source })?;
        }
    }
    let mut connections = Vec::with_capacity(settings.connections);
    for _ in 0..settings.connections {
        connections.push(connect(&client, &config, &mut server).await?);
    }
    let connections: Arc<[MultiplexedConnection]> = connections.into();
    let script = Arc::new(Script::new(DECREMENT_SCRIPT));
    for &workload in &settings.workloads {
        let (shared, script) = (Arc::clone(&connections), Arc::clone(&script));
        let skus = workload.skus(settings.spread_skus);
        let (result, cpu) = measure(&settings.load, &skus, vec![server.pid()], move |call: Call| {
            let mut connection = shared[call.worker % shared.len()].clone();
            let script = Arc::clone(&script);
            async move {
                // EVALSHA, loading the script on the first NOSCRIPT.
                let left: i64 = script
                    .key(key(&call.sku))
                    .arg(1)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|error| CallError::new(redis_kind(&error), &error))?;
                if left < 0 { Err(CallError::new("insufficient stock", "the script answered -1")) } else { Ok(()) }
            }
        })
        .await;
        if let Some(status) = server.exited() {
            return Err(Error::Setup(format!("redis-server exited during the run ({status}): {}", server.log_tail())));
        }
        let notes = vec![format!("{durability}; {} multiplexed connections, EVALSHA per call", connections.len())];
        measured.push((workload, measurement(&result, cpu, notes)));
    }
    drop(connections);
    drop(setup);
    server.stop(crate::process::STOP_GRACE);
    Ok(())
}

/// The report's name for a failed call.
fn redis_kind(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_io_error() || error.is_connection_dropped() {
        "connection error".into()
    } else {
        format!("{:?}", error.kind())
    }
}

/// A connection, retried until the server accepts it (or exits, or
/// [`START_TIMEOUT`] passes).
async fn connect(
    client: &redis::Client,
    config: &AsyncConnectionConfig,
    server: &mut Supervised,
) -> Result<MultiplexedConnection, Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let attempt = async {
            let mut connection = client.get_multiplexed_async_connection_with_config(config).await?;
            redis::cmd("PING").query_async::<()>(&mut connection).await?;
            Ok::<_, redis::RedisError>(connection)
        };
        match attempt.await {
            Ok(connection) => return Ok(connection),
            Err(source) => {
                if let Some(status) = server.exited() {
                    return Err(Error::Setup(format!("redis-server exited ({status}): {}", server.log_tail())));
                }
                if Instant::now() > deadline {
                    return Err(Error::Redis { what: format!("connecting within {START_TIMEOUT:?}"), source });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The server's version and durability settings as it reports them;
/// fails unless every write is appended and fsynced before it is answered.
async fn durability(connection: &mut MultiplexedConnection) -> Result<String, Error> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(connection)
        .await
        .map_err(|source| Error::Redis { what: "INFO server".into(), source })?;
    let version = info.lines().find_map(|line| line.strip_prefix("redis_version:")).unwrap_or("?").trim().to_owned();
    let mut settings = Vec::new();
    for name in ["appendonly", "appendfsync", "save"] {
        let pair: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(connection)
            .await
            .map_err(|source| Error::Redis { what: format!("CONFIG GET {name}"), source })?;
        settings.push((name, pair.get(1).cloned().unwrap_or_default()));
    }
    let value = |name: &str| settings.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v.as_str());
    if value("appendonly") != "yes" || value("appendfsync") != "always" {
        return Err(Error::Setup(format!(
            "redis is not durable: appendonly {}, appendfsync {}",
            value("appendonly"),
            value("appendfsync")
        )));
    }
    let settings: Vec<String> = settings
        .iter()
        .map(|(name, value)| if value.is_empty() { format!("{name}=\"\"") } else { format!("{name}={value}") })
        .collect();
    Ok(format!("Redis {version}, {}", settings.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_fsyncs_every_write() {
        let args = server_args(std::path::Path::new("/tmp/r"), 6400);
        let pairs: Vec<(&str, &str)> = args.chunks(2).map(|p| (p[0].as_str(), p[1].as_str())).collect();
        for expected in [("--appendonly", "yes"), ("--appendfsync", "always"), ("--save", ""), ("--port", "6400")] {
            assert!(pairs.contains(&expected), "{expected:?} in {pairs:?}");
        }
    }

    #[test]
    fn the_script_is_the_issues() {
        assert!(DECREMENT_SCRIPT.contains("redis.call('GET', KEYS[1])"));
        assert!(DECREMENT_SCRIPT.contains("redis.call('DECRBY', KEYS[1], ARGV[1])"));
        assert!(DECREMENT_SCRIPT.ends_with("else return -1 end"));
    }
}
