//! `regiond dev`: a whole local deployment as real processes, for people
//! trying the system: two regions (`eu-west`, `us-east`) of three replicas
//! each, on 127.0.0.1, with demo warehouses and stock, and the commands to
//! try printed. Data, configs, logs and the generated tokens live under
//! `--dir`; running it again restarts the same deployment. Ctrl-C or
//! SIGTERM stops every process it started (by pid); a launcher killed with
//! SIGKILL leaves them running: `pkill -f 'regiond --config <dir>'`.

#![allow(clippy::print_stdout, reason = "the dev launcher talks to the person who started it")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use protos::admin::Warehouse;
use region_client::{ClientConfig, ClientError, RegionClient};
use region_launcher::cluster::{Cluster, ClusterSpec, ClusterTokens, NodeTuning, Ports};
use region_launcher::seed;

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
const REPLICAS: u64 = 3;

/// The deployment's tokens: generated on the first run and kept in
/// `<dir>/tokens.toml`, so a restart accepts the same ones.
fn load_or_make_tokens(dir: &Path) -> anyhow::Result<ClusterTokens> {
    let path = dir.join("tokens.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return toml::from_str(&text).with_context(|| format!("{} is not a tokens file; delete it", path.display()));
    }
    let warehouses = REGIONS.iter().flat_map(|region| region.warehouses.iter().map(|(id, _, _)| *id));
    let tokens = ClusterTokens::generate(warehouses)?;
    std::fs::write(&path, toml::to_string(&tokens)?)?;
    Ok(tokens)
}

fn client(cluster: &Cluster, token: &str) -> anyhow::Result<RegionClient> {
    Ok(cluster.client(token, None, ClientConfig::with_deadline(Duration::from_secs(20)))?)
}

/// Runs the deployment.
pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let tokens = load_or_make_tokens(&args.dir)?;
    let regiond = std::env::current_exe().context("cannot find the regiond executable")?;
    let mut clusters = Vec::new();
    for (index, region) in (0_u16..).zip(&REGIONS) {
        let dir = args.dir.join(region.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let spec = ClusterSpec {
            regiond: regiond.clone(),
            dir,
            cluster_id: "regiond-dev".into(),
            region: region.name.into(),
            replicas: REPLICAS,
            tokens: tokens.clone(),
            tuning: NodeTuning::default(),
            ports: Ports::From(args.base_port.saturating_add(index * 10)),
        };
        clusters.push(Cluster::launch(spec)?);
    }
    for (cluster, region) in clusters.iter_mut().zip(&REGIONS) {
        let leader = cluster.wait_for_leader(Duration::from_secs(60)).await?;
        println!("region {}: leader is node {leader}", region.name);
        load_demo_data(region, cluster, &tokens).await.with_context(|| format!("demo data for {}", region.name))?;
    }
    print_guide(&args, &clusters, &tokens);
    if !args.exit_after_setup {
        crate::shutdown_signal().await?;
        println!("stopping the deployment");
    }
    // Dropping a cluster stops every process it started.
    drop(clusters);
    Ok(())
}

/// Registers the region's warehouses and puts the opening stock in, once:
/// fixed command ids and a compare-and-set on an empty level make a rerun
/// change nothing.
async fn load_demo_data(region: &DemoRegion, cluster: &Cluster, tokens: &ClusterTokens) -> anyhow::Result<()> {
    let admin = client(cluster, &tokens.admin)?;
    for (warehouse, location, priority) in region.warehouses {
        let registration = Warehouse {
            warehouse_id: (*warehouse).into(),
            region: region.name.into(),
            name: format!("Demo warehouse {location}"),
            location: (*location).into(),
            priority: *priority,
        };
        seed::register_warehouse(&admin, &format!("demo-register-{warehouse}"), registration).await?;
        let token = tokens.warehouses.get(*warehouse).context("a token for every demo warehouse")?;
        let staff = client(cluster, token)?;
        for (sku, quantity) in STOCK {
            let command_id = format!("demo-receive-{warehouse}-{sku}");
            let mut request = seed::receipt(&command_id, warehouse, sku, quantity, "demo opening stock");
            request.expected_on_hand = Some(0);
            match seed::adjust_stock(&staff, request).await {
                Ok(_) => {}
                // Already stocked by an earlier run.
                Err(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::Aborted => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

fn print_guide(args: &DevArgs, clusters: &[Cluster], tokens: &ClusterTokens) {
    let endpoints =
        |cluster: &Cluster| cluster.api_endpoints(None).iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let (eu, us) = (endpoints(&clusters[0]), endpoints(&clusters[1]));
    let metrics = clusters[0].nodes()[0].addrs.metrics;
    let paris = tokens.warehouses.get("wh-paris").map_or("", String::as_str);
    let ctl = "cargo run -q -p region-client --bin ledgerctl --";
    println!(
        "\nThe local deployment is up: regions eu-west ({eu}) and us-east ({us}), three regiond replicas each.\n\
         Data, configs and logs: {dir}; tokens: {dir}/tokens.toml. Metrics: http://{metrics}/metrics (eu-west node 1).\n\
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
        admin = tokens.admin,
        service = tokens.service,
    );
}
