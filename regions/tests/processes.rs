//! Three real `regiond` processes form a region as the README shows; the
//! leader is killed with SIGKILL, writes go on at the new leader, and the
//! killed process restarts from its data dir and converges: nothing
//! acknowledged is lost.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protos::admin::ClusterStatusRequest;
use protos::admin::Warehouse;
use protos::admin::admin_client::AdminClient;
use protos::warehouse::GetLevelsRequest;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
use region_launcher::seed;

const ADMIN: &str = "process-admin-token-0123456789";
const WAREHOUSE: &str = "process-wh-1-token-0123456789";
const TIMEOUT: Duration = Duration::from_secs(30);

/// A `regiond` child process, killed (SIGKILL) if still running when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Deployment {
    dir: tempfile::TempDir,
    raft_ports: Vec<u16>,
    api_ports: Vec<u16>,
    processes: Vec<Option<Process>>,
}

impl Deployment {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let raft_ports = (0..3).map(|_| free_port()).collect::<Vec<_>>();
        let api_ports = (0..3).map(|_| free_port()).collect::<Vec<_>>();
        let deployment = Deployment { dir, raft_ports, api_ports, processes: Vec::new() };
        for id in 1..=3 {
            std::fs::write(deployment.config_path(id), deployment.config(id)).unwrap();
        }
        deployment
    }

    fn config_path(&self, id: u64) -> std::path::PathBuf {
        self.dir.path().join(format!("node{id}.toml"))
    }

    fn config(&self, id: u64) -> String {
        let index = usize::try_from(id - 1).unwrap();
        let mut text = format!(
            "cluster_id = \"processes\"\nnode_id = {id}\nregion = \"eu-west\"\ndata_dir = \"{}\"\n\
             raft_addr = \"127.0.0.1:{}\"\napi_addr = \"127.0.0.1:{}\"\n",
            self.dir.path().join(format!("data{id}")).display(),
            self.raft_ports[index],
            self.api_ports[index],
        );
        for peer in 0..3 {
            text += &format!(
                "[peers.{}]\nraft_addr = \"127.0.0.1:{}\"\napi_addr = \"127.0.0.1:{}\"\n",
                peer + 1,
                self.raft_ports[peer],
                self.api_ports[peer]
            );
        }
        text + &format!("[tokens]\nadmin = \"{ADMIN}\"\n[tokens.warehouses]\nwh-1 = \"{WAREHOUSE}\"\n")
    }

    fn start(&mut self, id: u64, bootstrap: bool) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_regiond"));
        command.arg("--config").arg(self.config_path(id)).stdin(Stdio::null()).stdout(Stdio::null());
        if bootstrap {
            command.arg("--bootstrap");
        }
        let log = std::fs::File::create(self.dir.path().join(format!("node{id}.log"))).unwrap();
        let child = command.stderr(log).spawn().expect("regiond starts");
        let index = usize::try_from(id - 1).unwrap();
        if self.processes.len() <= index {
            self.processes.resize_with(index + 1, || None);
        }
        self.processes[index] = Some(Process(child));
    }

    /// SIGKILL, no shutdown.
    fn kill(&mut self, id: u64) {
        let index = usize::try_from(id - 1).unwrap();
        drop(self.processes[index].take());
    }

    fn client(&self, token: &str) -> RegionClient {
        let endpoints = self.api_ports.iter().map(|p| EndpointAddr::parse(&format!("127.0.0.1:{p}")).unwrap());
        RegionClient::new(endpoints, BearerToken::parse(token).unwrap(), ClientConfig::with_deadline(TIMEOUT)).unwrap()
    }

    /// Each replica's own view: (leader, applied index, state digest), or
    /// `None` for a replica that does not answer.
    async fn views(&self) -> Vec<Option<(Option<u64>, u64, Vec<u8>)>> {
        let admin = self.client(ADMIN);
        let mut views = Vec::new();
        for port in &self.api_ports {
            let endpoint = EndpointAddr::parse(&format!("127.0.0.1:{port}")).unwrap();
            let status = admin
                .call_endpoint(&endpoint, "Admin/ClusterStatus", ClusterStatusRequest::default(), |c, r| async move {
                    AdminClient::new(c).cluster_status(r).await
                })
                .await;
            views.push(
                status
                    .ok()
                    .and_then(|s| s.groups.into_iter().next())
                    .map(|g| (g.leader_id, g.applied_index, g.state_digest)),
            );
        }
        views
    }

    /// Waits until every running replica follows one leader, which is running; returns it.
    async fn leader(&self) -> u64 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let views = self.views().await;
            let running: Vec<_> =
                views.iter().enumerate().filter(|(i, _)| self.processes.get(*i).is_some_and(Option::is_some)).collect();
            let leaders: Vec<Option<u64>> = running.iter().map(|(_, v)| v.as_ref().and_then(|v| v.0)).collect();
            if let Some(Some(leader)) = leaders.first().copied()
                && leaders.iter().all(|l| *l == Some(leader))
                && self.processes.get(usize::try_from(leader - 1).unwrap()).is_some_and(Option::is_some)
            {
                return leader;
            }
            assert!(Instant::now() < deadline, "no agreed leader: {views:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until all three replicas stand at one applied index with one digest.
    async fn converged(&self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let views = self.views().await;
            if let Some(Some((_, index, digest))) = views.first()
                && views.iter().all(|v| v.as_ref().is_some_and(|(_, i, d)| i == index && d == digest))
            {
                return;
            }
            assert!(Instant::now() < deadline, "replicas did not converge: {views:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(client: &RegionClient, command_id: String, quantity: u64) -> Result<(), region_client::ClientError> {
    seed::adjust_stock(client, seed::receipt(&command_id, "wh-1", "apple", quantity, "")).await.map(drop)
}

async fn on_hand(client: &RegionClient) -> u64 {
    let request =
        GetLevelsRequest { warehouse_id: "wh-1".into(), skus: vec!["apple".into()], page: None, stale: false };
    let levels = client
        .call("WarehouseInventory/GetLevels", request, |c, r| async move {
            WarehouseInventoryClient::new(c).get_levels(r).await
        })
        .await
        .expect("levels");
    levels.levels.first().map_or(0, |l| l.on_hand)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_process_loses_nothing_acknowledged() {
    let mut deployment = Deployment::new();
    for id in 1..=3 {
        deployment.start(id, true);
    }
    let leader = deployment.leader().await;
    let admin = deployment.client(ADMIN);
    let warehouse = Warehouse {
        warehouse_id: "wh-1".into(),
        region: "eu-west".into(),
        name: "One".into(),
        location: String::new(),
        priority: 1,
    };
    seed::register_warehouse(&admin, "c-register", warehouse).await.expect("registered");
    let staff = deployment.client(WAREHOUSE);
    let mut acknowledged = 0;
    for i in 0..20 {
        receive(&staff, format!("c-before-{i}"), 1).await.expect("received");
        acknowledged += 1;
    }

    deployment.kill(leader);
    for i in 0..20 {
        receive(&staff, format!("c-after-{i}"), 1).await.expect("received by the new leader");
        acknowledged += 1;
    }
    let new = deployment.leader().await;
    assert_ne!(new, leader);
    assert_eq!(on_hand(&staff).await, acknowledged, "every acknowledged receipt, once");

    // Restarted from its data dir (no --bootstrap), the killed node catches up.
    deployment.start(leader, false);
    deployment.converged().await;
    assert_eq!(on_hand(&staff).await, acknowledged);
}
