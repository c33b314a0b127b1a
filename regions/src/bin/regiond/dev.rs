//! `regiond dev`: a whole local deployment as real processes, for people
//! trying the system: two regions (`eu-west`, `us-east`) of three replicas
//! each, on 127.0.0.1, with demo warehouses and stock, and the commands to
//! try printed. Data, configs, logs and the generated tokens live under
//! `--dir`; running it again restarts the same deployment. Ctrl-C or
//! SIGTERM stops every process it started (by pid); a launcher killed with
//! SIGKILL leaves them running: `pkill -f 'regiond --config <dir>'`.

#![allow(clippy::print_stdout, reason = "the dev launcher talks to the person who started it")]

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, RegisterWarehouseRequest, Warehouse};
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{AdjustStockRequest, AdjustmentReason, adjust_stock_request};
use region_client::{BearerToken, ClientConfig, ClientError, EndpointAddr, RegionClient};

/// Options of `regiond dev`.
#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// Where data dirs, configs, logs and tokens go.
    #[arg(long, default_value = "target/regiond-dev")]
    dir: PathBuf,
    /// First port; each node takes ports from here on.
    #[arg(long, default_value_t = 7100)]
    base_port: u16,
    /// Set up the deployment and the demo data, print what to try, then
    /// stop everything instead of running until Ctrl-C (for CI).
    #[arg(long)]
    exit_after_setup: bool,
}

/// A demo region: its warehouses and their opening stock.
struct DemoRegion {
    name: &'static str,
    warehouses: &'static [(&'static str, &'static str, u32)],
}

const REGIONS: [DemoRegion; 2] = [
    DemoRegion { name: "eu-west", warehouses: &[("wh-paris", "Paris, FR", 1), ("wh-berlin", "Berlin, DE", 2)] },
    DemoRegion { name: "us-east", warehouses: &[("wh-newark", "Newark, NJ", 1), ("wh-atlanta", "Atlanta, GA", 2)] },
];
const STOCK: [(&str, u64); 3] = [("sku-tshirt-m", 120), ("sku-mug", 40), ("sku-sneaker-42", 1_000)];
const REPLICAS: u16 = 3;

/// One started node.
struct Node {
    name: String,
    child: Child,
}

/// The running deployment; stops every process it started when dropped.
struct Deployment {
    nodes: Vec<Node>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            // SIGTERM first, for a clean shutdown; only our own children, by pid.
            let _ = std::process::Command::new("kill").arg("-TERM").arg(node.child.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for node in &mut self.nodes {
            while Instant::now() < deadline && matches!(node.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(node.child.try_wait(), Ok(None)) {
                eprintln!("{} did not stop in time; killing it", node.name);
                let _ = node.child.kill();
            }
            let _ = node.child.wait();
        }
    }
}

/// Tokens of the deployment, generated on first run and kept in `--dir`.
struct Tokens {
    admin: String,
    service: String,
    warehouses: Vec<(String, String)>,
}

fn random_token() -> String {
    let mut token = String::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        hasher.write_u32(std::process::id());
        let _ = write!(token, "{:016x}", hasher.finish());
    }
    token
}

fn load_or_make_tokens(dir: &Path) -> anyhow::Result<Tokens> {
    let path = dir.join("tokens.toml");
    let table: toml::Table = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?,
        Err(_) => {
            let mut table = toml::Table::new();
            table.insert("admin".into(), random_token().into());
            table.insert("service".into(), random_token().into());
            for region in &REGIONS {
                for (warehouse, _, _) in region.warehouses {
                    table.insert((*warehouse).into(), random_token().into());
                }
            }
            std::fs::write(&path, toml::to_string(&table)?)?;
            table
        }
    };
    let get = |key: &str| -> anyhow::Result<String> {
        Ok(table
            .get(key)
            .and_then(|v| v.as_str())
            .with_context(|| format!("{} has no `{key}`", path.display()))?
            .to_owned())
    };
    let mut warehouses = Vec::new();
    for region in &REGIONS {
        for (warehouse, _, _) in region.warehouses {
            warehouses.push(((*warehouse).to_owned(), get(warehouse)?));
        }
    }
    Ok(Tokens { admin: get("admin")?, service: get("service")?, warehouses })
}

/// Ports of replica `replica` (1-based) of region number `region`.
fn ports(base: u16, region: u16, replica: u16) -> (u16, u16, u16) {
    let slot = base + region * 10 + replica;
    (slot, slot + 100, slot + 200)
}

fn node_config(args: &DevArgs, region_index: u16, region: &DemoRegion, replica: u16, tokens: &Tokens) -> String {
    let (raft, api, metrics) = ports(args.base_port, region_index, replica);
    let data_dir = args.dir.join(region.name).join(format!("node{replica}"));
    let mut text = format!(
        "cluster_id = \"regiond-dev\"\nnode_id = {replica}\nregion = \"{}\"\ndata_dir = \"{}\"\n\
         raft_addr = \"127.0.0.1:{raft}\"\napi_addr = \"127.0.0.1:{api}\"\nmetrics_addr = \"127.0.0.1:{metrics}\"\n",
        region.name,
        data_dir.display()
    );
    for peer in 1..=REPLICAS {
        let (raft, api, _) = ports(args.base_port, region_index, peer);
        let _ = write!(text, "\n[peers.{peer}]\nraft_addr = \"127.0.0.1:{raft}\"\napi_addr = \"127.0.0.1:{api}\"\n");
    }
    let _ = write!(
        text,
        "\n[tokens]\nadmin = \"{}\"\nservice = \"{}\"\n\n[tokens.warehouses]\n",
        tokens.admin, tokens.service
    );
    for (warehouse, _, _) in region.warehouses {
        let token = tokens.warehouses.iter().find(|(w, _)| w == warehouse).map(|(_, t)| t.as_str()).unwrap_or_default();
        let _ = writeln!(text, "{warehouse} = \"{token}\"");
    }
    text
}

fn api_endpoints(args: &DevArgs, region_index: u16) -> Vec<String> {
    (1..=REPLICAS).map(|replica| format!("127.0.0.1:{}", ports(args.base_port, region_index, replica).1)).collect()
}

fn client(endpoints: &[String], token: &str) -> anyhow::Result<RegionClient> {
    let endpoints = endpoints.iter().map(|e| EndpointAddr::parse(e)).collect::<Result<Vec<_>, _>>()?;
    Ok(RegionClient::new(endpoints, BearerToken::parse(token)?, ClientConfig::with_deadline(Duration::from_secs(20)))?)
}

/// Runs the deployment.
pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let tokens = load_or_make_tokens(&args.dir)?;
    let exe = std::env::current_exe().context("cannot find the regiond executable")?;
    let mut deployment = Deployment { nodes: Vec::new() };
    for (index, region) in (0_u16..).zip(&REGIONS) {
        let region_dir = args.dir.join(region.name);
        std::fs::create_dir_all(&region_dir)?;
        for replica in 1..=REPLICAS {
            let config_path = region_dir.join(format!("node{replica}.toml"));
            std::fs::write(&config_path, node_config(&args, index, region, replica, &tokens))?;
            let log = std::fs::File::create(region_dir.join(format!("node{replica}.log")))?;
            let child = std::process::Command::new(&exe)
                .arg("--config")
                .arg(&config_path)
                .arg("--bootstrap")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {}", exe.display()))?;
            deployment.nodes.push(Node { name: format!("{}/node{replica}", region.name), child });
        }
    }
    for (index, region) in (0_u16..).zip(&REGIONS) {
        let endpoints = api_endpoints(&args, index);
        let admin = client(&endpoints, &tokens.admin)?;
        let leader = wait_for_leader(&admin, &mut deployment)
            .await
            .with_context(|| format!("region {} has no leader", region.name))?;
        println!("region {}: leader is node {leader}", region.name);
        load_demo_data(region, &endpoints, &tokens).await.with_context(|| format!("demo data for {}", region.name))?;
    }
    print_guide(&args, &tokens);
    if !args.exit_after_setup {
        crate::shutdown_signal().await?;
        println!("stopping the deployment");
    }
    drop(deployment);
    Ok(())
}

/// Waits until the region reports a leader; fails if a process exits.
async fn wait_for_leader(admin: &RegionClient, deployment: &mut Deployment) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for node in &mut deployment.nodes {
            if let Some(status) = node.child.try_wait()? {
                bail!("{} exited ({status}); see its log", node.name);
            }
        }
        let status = admin
            .call("Admin/ClusterStatus", ClusterStatusRequest::default(), |channel, request| async move {
                AdminClient::new(channel).cluster_status(request).await
            })
            .await;
        if let Ok(status) = status
            && let Some(leader) = status.groups.first().and_then(|g| g.leader_id)
        {
            return Ok(leader);
        }
        if Instant::now() > deadline {
            bail!("no leader within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Registers the region's warehouses and puts the opening stock in, once:
/// fixed command ids and a compare-and-set on an empty level make a rerun
/// change nothing.
async fn load_demo_data(region: &DemoRegion, endpoints: &[String], tokens: &Tokens) -> anyhow::Result<()> {
    let admin = client(endpoints, &tokens.admin)?;
    for (warehouse, location, priority) in region.warehouses {
        let request = RegisterWarehouseRequest {
            command_id: format!("demo-register-{warehouse}"),
            warehouse: Some(Warehouse {
                warehouse_id: (*warehouse).into(),
                region: region.name.into(),
                name: format!("Demo warehouse {location}"),
                location: (*location).into(),
                priority: *priority,
            }),
        };
        let registered = admin
            .call("Admin/RegisterWarehouse", request, |channel, request| async move {
                AdminClient::new(channel).register_warehouse(request).await
            })
            .await;
        match registered {
            Ok(_) => {}
            Err(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::AlreadyExists => {}
            Err(error) => return Err(error.into()),
        }
        let token = tokens.warehouses.iter().find(|(w, _)| w == warehouse).map(|(_, t)| t.clone()).unwrap_or_default();
        let staff = client(endpoints, &token)?;
        for (sku, quantity) in STOCK {
            let request = AdjustStockRequest {
                command_id: format!("demo-receive-{warehouse}-{sku}"),
                warehouse_id: (*warehouse).into(),
                sku: sku.into(),
                reason: AdjustmentReason::Received as i32,
                amount: Some(adjust_stock_request::Amount::Quantity(quantity)),
                to_damaged: false,
                expected_on_hand: Some(0),
                reference: "demo opening stock".into(),
            };
            let received = staff
                .call("WarehouseInventory/AdjustStock", request, |channel, request| async move {
                    WarehouseInventoryClient::new(channel).adjust_stock(request).await
                })
                .await;
            match received {
                Ok(_) => {}
                // Already stocked by an earlier run.
                Err(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::Aborted => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

fn print_guide(args: &DevArgs, tokens: &Tokens) {
    let eu = api_endpoints(args, 0).join(",");
    let us = api_endpoints(args, 1).join(",");
    let paris = tokens.warehouses.iter().find(|(w, _)| w == "wh-paris").map(|(_, t)| t.as_str()).unwrap_or_default();
    let ctl = "cargo run -q -p region-client --bin ledgerctl --";
    println!(
        "\nThe local deployment is up: regions eu-west ({eu}) and us-east ({us}), three regiond replicas each.\n\
         Data, configs and logs: {dir}; tokens: {dir}/tokens.toml. Metrics: http://127.0.0.1:{m}/metrics (eu-west node 1).\n\
         \nTry, from another terminal in the repository:\n\
         \n  export LEDGERCTL_ENDPOINTS={eu}\n\
         \n  # an operator: the group's status\n  LEDGERCTL_TOKEN={admin} {ctl} status\n\
         \n  # warehouse staff in Paris: levels, a receipt, the journal\n\
         \x20 export LEDGERCTL_TOKEN={paris}\n\
         \x20 {ctl} levels --warehouse wh-paris\n\
         \x20 {ctl} receive --warehouse wh-paris --sku sku-mug --quantity 10 --reference PO-1001\n\
         \x20 {ctl} journal --warehouse wh-paris\n\
         \n  # the gateway's view: hold two mugs, then commit the hold into an order\n\
         \x20 export LEDGERCTL_TOKEN={service}\n\
         \x20 {ctl} reserve --hold demo-hold-1 --line sku-mug=2\n\
         \x20 {ctl} commit --hold demo-hold-1 --order demo-order-1\n\
         \x20 {ctl} reserve --hold demo-hold-2 --line sku-mug=100000   # all or nothing: refused, short lines named\n\
         \nKill any one regiond process (see `ps`); the region keeps serving. Ctrl-C here stops everything.",
        dir = args.dir.display(),
        m = ports(args.base_port, 0, 1).2,
        admin = tokens.admin,
        service = tokens.service,
    );
}
