//! Network faults through the nodes' own fault hooks (`Admin.SetFaults`
//! link rules, enabled by `fault_injection` in their configs): the rule
//! set of each [`Shape`], pure and unit-tested, and applying or clearing
//! it on every node.
//!
//! A rule lives on one node and names a peer and a direction seen from
//! that node: `OUTBOUND` disturbs the requests it sends to the peer (their
//! replies with them), `INBOUND` the requests the peer sends to it. So a
//! request from `a` to `b` passes unless `a` drops it outbound or `b`
//! inbound ([`delivers`]); a rule on one side only is a one-way fault.

use std::collections::{BTreeMap, BTreeSet};

use protos::admin::{FaultConfig, LinkDirection, LinkRule};

use super::Stage;

/// `drop_ppm` that drops every message: a cut link.
pub const DROP_ALL_PPM: u32 = 1_000_000;

/// A network fault over a region's members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `side` cut off from every other member, both ways (a minority
    /// partition when `side` is a minority).
    Split {
        /// One side of the cut.
        side: BTreeSet<u64>,
    },
    /// Members in `order` around a ring, each connected only to the members
    /// near it, so that each hears a majority but a different one:
    /// overlapping majorities. With three members the ring is the line
    /// `order[0]`-`order[1]`-`order[2]` (the ends cannot hear each other).
    Ring {
        /// The members in ring order.
        order: Vec<u64>,
    },
    /// `node` drops every request in `direction` with every peer, on its
    /// side only.
    OneWay {
        /// The node.
        node: u64,
        /// `Inbound`: it hears no peer; `Outbound`: no peer hears it.
        direction: LinkDirection,
    },
    /// Every request between members waits `delay_ms` (once: on its
    /// sender).
    Slow {
        /// The added delay.
        delay_ms: u64,
    },
    /// Every request between members is lost with probability
    /// `drop_ppm` per million (on its sender).
    Lossy {
        /// Loss, in parts per million.
        drop_ppm: u32,
    },
}

/// Each member's link rules for `shape` over `members` (every member has an
/// entry, possibly empty).
pub fn rules(shape: &Shape, members: &[u64]) -> BTreeMap<u64, Vec<LinkRule>> {
    let rule = |peer: u64, direction: LinkDirection, drop_ppm: u32, delay_ms: u64| LinkRule {
        peer_node_id: peer,
        direction: direction.into(),
        drop_ppm,
        delay_ms,
    };
    let cut_both = |peer: u64| rule(peer, LinkDirection::Both, DROP_ALL_PPM, 0);
    let peers = |node: u64| members.iter().copied().filter(move |&peer| peer != node);
    members
        .iter()
        .map(|&node| {
            let links: Vec<LinkRule> = match shape {
                Shape::Split { side } => {
                    peers(node).filter(|peer| side.contains(peer) != side.contains(&node)).map(cut_both).collect()
                }
                Shape::Ring { order } => {
                    peers(node).filter(|&peer| !ring_linked(order, node, peer)).map(cut_both).collect()
                }
                Shape::OneWay { node: target, direction } if *target == node => {
                    peers(node).map(|peer| rule(peer, *direction, DROP_ALL_PPM, 0)).collect()
                }
                Shape::OneWay { .. } => Vec::new(),
                Shape::Slow { delay_ms } => {
                    peers(node).map(|peer| rule(peer, LinkDirection::Outbound, 0, *delay_ms)).collect()
                }
                Shape::Lossy { drop_ppm } => {
                    peers(node).map(|peer| rule(peer, LinkDirection::Outbound, *drop_ppm, 0)).collect()
                }
            };
            (node, links)
        })
        .collect()
}

/// Whether members `a` and `b` stay linked on the ring `order`: within
/// ring distance `reach` of each other, where `reach` is the least that
/// lets each member hear a majority (itself included); with three members
/// (where any reach links everyone) the ends of the line are cut instead.
fn ring_linked(order: &[u64], a: u64, b: u64) -> bool {
    let (Some(i), Some(j)) = (order.iter().position(|&n| n == a), order.iter().position(|&n| n == b)) else {
        return true;
    };
    let n = order.len();
    let apart = i.abs_diff(j);
    if n <= 3 {
        return apart <= 1;
    }
    let majority = n / 2 + 1;
    let reach = majority / 2; // 2 * reach + 1 >= majority
    apart.min(n - apart) <= reach
}

/// Whether a request from `from` to `to` can pass under `rules` (not every
/// one is dropped): `from`'s outbound rule for `to` and `to`'s inbound rule
/// for `from` both let some through.
pub fn delivers(rules: &BTreeMap<u64, Vec<LinkRule>>, from: u64, to: u64) -> bool {
    let drops_all = |node: u64, peer: u64, flow: LinkDirection| {
        rules.get(&node).into_iter().flatten().any(|rule| {
            rule.peer_node_id == peer
                && rule.drop_ppm >= DROP_ALL_PPM
                && (rule.direction == i32::from(LinkDirection::Both) || rule.direction == i32::from(flow))
        })
    };
    !drops_all(from, to, LinkDirection::Outbound) && !drops_all(to, from, LinkDirection::Inbound)
}

/// Applies `rules` (one [`rules`] result) on every node it names, with
/// `seed` for each node's drop decisions.
pub(super) async fn apply(stage: &Stage<'_>, rules: BTreeMap<u64, Vec<LinkRule>>, seed: u64) -> anyhow::Result<()> {
    for (node, links) in rules {
        let config = FaultConfig { links, seed: seed ^ node, ..FaultConfig::default() };
        stage.set_faults(node, config).await?;
    }
    Ok(())
}

/// Clears every member's fault configuration.
pub(super) async fn heal(stage: &Stage<'_>) -> anyhow::Result<()> {
    for node in stage.members() {
        stage.set_faults(node, FaultConfig::default()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The members `node` can exchange requests with both ways, itself
    /// included.
    fn hears(rules: &BTreeMap<u64, Vec<LinkRule>>, members: &[u64], node: u64) -> BTreeSet<u64> {
        members
            .iter()
            .copied()
            .filter(|&peer| peer == node || (delivers(rules, node, peer) && delivers(rules, peer, node)))
            .collect()
    }

    #[test]
    fn a_ring_gives_each_node_a_different_majority() {
        for n in 3..=7u64 {
            let members: Vec<u64> = (1..=n).collect();
            let order: Vec<u64> = members.iter().rev().copied().collect();
            let rules = rules(&Shape::Ring { order }, &members);
            let heard: Vec<BTreeSet<u64>> = members.iter().map(|&m| hears(&rules, &members, m)).collect();
            for (node, set) in members.iter().zip(&heard) {
                assert!(set.len() as u64 > n / 2, "n {n}: node {node} hears only {set:?}");
            }
            let distinct: BTreeSet<&BTreeSet<u64>> = heard.iter().collect();
            assert_eq!(distinct.len(), heard.len(), "n {n}: every node hears a different majority: {heard:?}");
            assert!(heard.iter().any(|set| set.len() as u64 != n), "n {n}: something is cut");
        }
        // Three nodes: A-B and B-C linked, A-C cut.
        let rules = rules(&Shape::Ring { order: vec![1, 2, 3] }, &[1, 2, 3]);
        assert!(delivers(&rules, 1, 2) && delivers(&rules, 2, 3) && delivers(&rules, 3, 2));
        assert!(!delivers(&rules, 1, 3) && !delivers(&rules, 3, 1));
    }

    #[test]
    fn a_split_cuts_only_across_the_sides() {
        let members = [1, 2, 3, 4, 5];
        let rules = rules(&Shape::Split { side: BTreeSet::from([2, 4]) }, &members);
        assert_eq!(hears(&rules, &members, 2), BTreeSet::from([2, 4]));
        assert_eq!(hears(&rules, &members, 1), BTreeSet::from([1, 3, 5]));
        assert_eq!(rules[&1].len(), 2, "each side cuts the other side's members, both ways");
    }

    #[test]
    fn one_way_rules_are_one_directional() {
        let members = [1, 2, 3];
        let deaf = rules(&Shape::OneWay { node: 2, direction: LinkDirection::Inbound }, &members);
        let mute = rules(&Shape::OneWay { node: 2, direction: LinkDirection::Outbound }, &members);
        for peer in [1, 3] {
            assert!(!delivers(&deaf, peer, 2) && delivers(&deaf, 2, peer), "2 does not hear {peer}, is heard");
            assert!(delivers(&mute, peer, 2) && !delivers(&mute, 2, peer), "2 hears {peer}, is not heard");
            assert!(delivers(&deaf, 1, 3) && delivers(&mute, 3, 1), "the others are untouched");
        }
        assert!(deaf[&1].is_empty() && deaf[&3].is_empty(), "rules on the node itself only");
    }

    #[test]
    fn slow_and_lossy_links_disturb_each_request_once_and_cut_nothing() {
        let members = [1, 2, 3];
        for shape in [Shape::Slow { delay_ms: 100 }, Shape::Lossy { drop_ppm: 100_000 }] {
            let rules = rules(&shape, &members);
            for &a in &members {
                assert_eq!(rules[&a].len(), 2, "{shape:?}");
                for &b in members.iter().filter(|&&b| b != a) {
                    assert!(delivers(&rules, a, b), "{shape:?}: nothing is cut");
                }
            }
            assert!(rules.values().flatten().all(|r| r.direction == i32::from(LinkDirection::Outbound)));
        }
    }
}
