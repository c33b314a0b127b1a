//! The launcher's generated configs (`region-launcher`, used by `regiond
//! dev`, the benchmark and the chaos harness) are accepted by regiond's own
//! config parser, with the fields the launcher meant.

use std::path::PathBuf;

use region_launcher::cluster::{ClusterSpec, ClusterTokens, NodeTuning, Ports, allocate_addrs, node_config};
use regions::config::NodeConfig;

fn spec(ports: Ports) -> ClusterSpec {
    ClusterSpec {
        regiond: PathBuf::from("/nonexistent/regiond"),
        dir: PathBuf::from("/tmp/launcher \"quoted\" dir"),
        cluster_id: "launcher-1".into(),
        region: "bench".into(),
        replicas: 3,
        tokens: ClusterTokens::generate(["wh-bench"]).unwrap(),
        tuning: NodeTuning { deadline_ms: Some(7_000), ..NodeTuning::default() },
        ports,
    }
}

#[test]
fn generated_configs_are_accepted_by_regiond() {
    for ports in [Ports::Free, Ports::From(17_000)] {
        let spec = spec(ports);
        let all = allocate_addrs(spec.replicas, spec.ports).unwrap();
        for addrs in &all {
            let text = node_config(&spec, addrs, &all);
            let config: NodeConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            config.validate().unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(config.node_id, addrs.id);
            assert_eq!(config.api_addr, addrs.api);
            assert_eq!(config.metrics_addr, Some(addrs.metrics));
            assert_eq!(config.peers.len(), 3);
            assert_eq!(config.peers[&2].api_addr, all[1].api.to_string());
            assert_eq!(config.deadline_ms, 7_000);
            assert!(!config.fault_injection);
            assert_eq!(config.data_dir, spec.dir.join(format!("node{}", addrs.id)).join("data"));
            assert!(config.tokens().is_ok(), "tokens are long enough");
        }
        let mut listening: Vec<u16> =
            all.iter().flat_map(|a| [a.raft.port(), a.api.port(), a.metrics.port()]).collect();
        listening.sort_unstable();
        listening.dedup();
        assert_eq!(listening.len(), 9, "every listener has its own port");
    }
    let fixed = allocate_addrs(3, Ports::From(17_000)).unwrap();
    assert_eq!((fixed[0].raft.port(), fixed[0].api.port(), fixed[2].metrics.port()), (17_001, 17_101, 17_203));
}
