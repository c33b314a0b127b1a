//! Fault injection on Raft links: drop or delay this node's traffic with
//! chosen peers.
//!
//! The chaos harness and the tests need partitions (isolate a leader, split
//! a majority, one-way links) and slow links between real processes over
//! real gRPC, without touching the machine's firewall. So the transport
//! asks [`Faults`] about every message: the client before each request it
//! sends (outbound rules), the server before each request it handles
//! (inbound rules).
//!
//! Off by default, and off for good unless asked for: a node holds an
//! enabled handle only when its config explicitly enables fault injection
//! ([`Faults::enabled`]). Every other node holds [`Faults::disabled`], which
//! refuses rule changes with [`FaultsError::Disabled`] rather than ignoring
//! them silently, so a mistaken admin call cannot partition a production
//! node, and says why.
//!
//! # What a rule does
//! Rules are per peer and per [`Direction`], seen from this node: rules are
//! per sender → target, so a rule on one side only makes a one-way
//! partition.
//! - **Drop** (`drop_ppm` in parts per million): the message is lost. A
//!   request fails as if the peer were unreachable, so openraft backs off
//!   and retries. On a replication stream a lost message breaks the stream,
//!   as it would break a real connection; openraft opens a new one.
//! - **Delay** (`delay_ms`): a message that is not dropped waits before it
//!   is sent (outbound) or handled (inbound). The wait counts against the
//!   RPC's deadline, like latency on the wire.
//!
//! Drop decisions for `0 < drop_ppm < 1_000_000` come from a seeded
//! generator, so a run is reproducible given the same order of messages.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// `drop_ppm` that drops every message: a cut link.
pub const DROP_ALL_PPM: u32 = 1_000_000;
/// Longest delay a rule may add, in milliseconds: a minute is a long
/// partition already; anything longer is more likely a typo.
pub const MAX_DELAY_MS: u64 = 60_000;
/// Most rules at once: a few per peer, and clusters are small.
pub const MAX_LINK_RULES: usize = 1_024;

/// Which of this node's traffic with a peer a rule disturbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Requests this node sends to the peer (their replies with them: a lost
    /// request is never answered).
    Outbound,
    /// Requests the peer sends to this node: refused before any group sees them.
    Inbound,
    /// Both ways.
    Both,
}

impl Direction {
    fn covers(self, flow: Flow) -> bool {
        matches!(
            (self, flow),
            (Direction::Both, _) | (Direction::Outbound, Flow::Outbound) | (Direction::Inbound, Flow::Inbound)
        )
    }
}

/// Which way a message goes, seen from this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// A request this node sends.
    Outbound,
    /// A request this node receives.
    Inbound,
}

/// One link disturbance: this node's traffic with `peer` in `direction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRule {
    /// The peer's node id.
    pub peer: u64,
    /// Which traffic is disturbed.
    pub direction: Direction,
    /// Messages dropped, in parts per million: 0 drops none,
    /// [`DROP_ALL_PPM`] drops all.
    pub drop_ppm: u32,
    /// Delay added to every message that is not dropped, in milliseconds.
    pub delay_ms: u64,
}

impl LinkRule {
    /// Drops every message to and/or from `peer`: a cut link.
    pub fn cut(peer: u64, direction: Direction) -> Self {
        Self { peer, direction, drop_ppm: DROP_ALL_PPM, delay_ms: 0 }
    }

    /// Delays every message to and/or from `peer` by `delay_ms`.
    pub fn delay(peer: u64, direction: Direction, delay_ms: u64) -> Self {
        Self { peer, direction, drop_ppm: 0, delay_ms }
    }
}

/// The complete link fault configuration of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFaults {
    /// The rules; at most one covers each (peer, direction).
    pub links: Vec<LinkRule>,
    /// Seed of the drop decisions, so a run can be reproduced.
    pub seed: u64,
}

/// Why a fault configuration was refused. Nothing changes when one is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultsError {
    /// This node was started without fault injection.
    #[error("fault injection is disabled on this node; it can only be enabled in the node's config at start-up")]
    Disabled,
    /// More rules than [`MAX_LINK_RULES`].
    #[error("{count} link rules given; at most {MAX_LINK_RULES} are allowed")]
    TooManyRules {
        /// How many were given.
        count: usize,
    },
    /// A `drop_ppm` above [`DROP_ALL_PPM`].
    #[error("links[{index}].drop_ppm is {drop_ppm}; it must be at most {DROP_ALL_PPM} (drop everything)")]
    DropOutOfRange {
        /// Position of the rule.
        index: usize,
        /// The value given.
        drop_ppm: u32,
    },
    /// A `delay_ms` above [`MAX_DELAY_MS`].
    #[error("links[{index}].delay_ms is {delay_ms}; it must be at most {MAX_DELAY_MS}")]
    DelayOutOfRange {
        /// Position of the rule.
        index: usize,
        /// The value given.
        delay_ms: u64,
    },
    /// Two rules cover the same traffic, so which applies would be ambiguous.
    #[error(
        "links[{first}] and links[{second}] both cover traffic with node {peer}; give at most one rule per peer and direction"
    )]
    Overlap {
        /// Position of the first rule.
        first: usize,
        /// Position of the second rule.
        second: usize,
        /// The peer both name.
        peer: u64,
    },
}

/// A message that a rule dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the link with node {peer} is cut by fault injection ({flow:?})")]
pub(crate) struct LinkCut {
    /// The peer on the other end.
    pub(crate) peer: u64,
    /// Which way the message was going.
    pub(crate) flow: Flow,
}

/// The fault injection switch of one node, consulted by its transport on
/// every message. Cheap to clone; clones share the rules.
///
/// [`Default`] is [`Faults::disabled`].
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// `None` when disabled: there is then no state to change at all.
    enabled: Option<Arc<Mutex<State>>>,
}

#[derive(Debug)]
struct State {
    config: LinkFaults,
    /// SplitMix64 state for drop decisions, reset from the seed with every
    /// new configuration.
    rng: u64,
}

impl Faults {
    /// A handle that never disturbs anything and refuses every rule change.
    /// What every node holds unless its config enables fault injection.
    pub fn disabled() -> Self {
        Self { enabled: None }
    }

    /// A handle that accepts rules, starting with none. Only for nodes whose
    /// config explicitly enables fault injection (tests, the chaos harness).
    pub fn enabled(seed: u64) -> Self {
        let state = State { config: LinkFaults { links: Vec::new(), seed }, rng: seed };
        Self { enabled: Some(Arc::new(Mutex::new(state))) }
    }

    /// Whether this node accepts fault rules.
    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    /// Replaces the whole configuration; an empty rule list heals everything.
    /// Takes effect for the next message on every link, including open
    /// replication streams.
    pub fn set(&self, config: LinkFaults) -> Result<(), FaultsError> {
        let state = self.enabled.as_ref().ok_or(FaultsError::Disabled)?;
        validate(&config.links)?;
        tracing::info!(links = ?config.links, seed = config.seed, "link fault rules replaced");
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        state.rng = config.seed;
        state.config = config;
        Ok(())
    }

    /// Cuts every link with `peers`, both ways, replacing all other rules.
    pub fn isolate(&self, peers: impl IntoIterator<Item = u64>) -> Result<(), FaultsError> {
        let seed = self.current()?.seed;
        let links = peers.into_iter().map(|peer| LinkRule::cut(peer, Direction::Both)).collect();
        self.set(LinkFaults { links, seed })
    }

    /// Removes every rule.
    pub fn heal(&self) -> Result<(), FaultsError> {
        let seed = self.current()?.seed;
        self.set(LinkFaults { links: Vec::new(), seed })
    }

    /// The configuration in force.
    pub fn current(&self) -> Result<LinkFaults, FaultsError> {
        let state = self.enabled.as_ref().ok_or(FaultsError::Disabled)?;
        Ok(state.lock().unwrap_or_else(PoisonError::into_inner).config.clone())
    }

    /// Applies the rules to one message to or from `peer`: waits out a
    /// delay, or fails if the message is dropped.
    pub(crate) async fn pass(&self, peer: u64, flow: Flow) -> Result<(), LinkCut> {
        match self.verdict(peer, flow) {
            Verdict::Drop => Err(LinkCut { peer, flow }),
            Verdict::Deliver { delay: None } => Ok(()),
            Verdict::Deliver { delay: Some(delay) } => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }

    fn verdict(&self, peer: u64, flow: Flow) -> Verdict {
        let Some(state) = &self.enabled else {
            return Verdict::Deliver { delay: None };
        };
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(rule) =
            state.config.links.iter().find(|rule| rule.peer == peer && rule.direction.covers(flow)).copied()
        else {
            return Verdict::Deliver { delay: None };
        };
        let dropped = match rule.drop_ppm {
            0 => false,
            DROP_ALL_PPM.. => true,
            ppm => split_mix64(&mut state.rng) % u64::from(DROP_ALL_PPM) < u64::from(ppm),
        };
        if dropped {
            return Verdict::Drop;
        }
        Verdict::Deliver { delay: (rule.delay_ms > 0).then(|| Duration::from_millis(rule.delay_ms)) }
    }
}

/// What happens to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Drop,
    Deliver { delay: Option<Duration> },
}

fn validate(links: &[LinkRule]) -> Result<(), FaultsError> {
    if links.len() > MAX_LINK_RULES {
        return Err(FaultsError::TooManyRules { count: links.len() });
    }
    for (index, rule) in links.iter().enumerate() {
        if rule.drop_ppm > DROP_ALL_PPM {
            return Err(FaultsError::DropOutOfRange { index, drop_ppm: rule.drop_ppm });
        }
        if rule.delay_ms > MAX_DELAY_MS {
            return Err(FaultsError::DelayOutOfRange { index, delay_ms: rule.delay_ms });
        }
        let overlapping = links[..index].iter().position(|earlier| {
            earlier.peer == rule.peer
                && [Flow::Outbound, Flow::Inbound]
                    .iter()
                    .any(|&f| earlier.direction.covers(f) && rule.direction.covers(f))
        });
        if let Some(first) = overlapping {
            return Err(FaultsError::Overlap { first, second: index, peer: rule.peer });
        }
    }
    Ok(())
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator; its
/// quality is ample for drop decisions and it needs no dependency.
fn split_mix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(links: Vec<LinkRule>, expect: Result<(), FaultsError>) {
        let faults = Faults::enabled(7);
        assert_eq!(faults.set(LinkFaults { links: links.clone(), seed: 7 }), expect, "links {links:?}");
        let in_force = faults.current().unwrap().links;
        assert_eq!(in_force, if expect.is_ok() { links } else { Vec::new() }, "a refused config changes nothing");
    }

    #[test]
    fn validates_rules() {
        use Direction::*;
        check(vec![], Ok(()));
        check(vec![LinkRule::cut(2, Outbound), LinkRule::cut(2, Inbound), LinkRule::cut(3, Both)], Ok(()));
        check(
            vec![LinkRule { drop_ppm: DROP_ALL_PPM + 1, ..LinkRule::cut(2, Both) }],
            Err(FaultsError::DropOutOfRange { index: 0, drop_ppm: DROP_ALL_PPM + 1 }),
        );
        check(
            vec![LinkRule::cut(3, Both), LinkRule::delay(2, Inbound, MAX_DELAY_MS + 1)],
            Err(FaultsError::DelayOutOfRange { index: 1, delay_ms: MAX_DELAY_MS + 1 }),
        );
        check(
            vec![LinkRule::cut(2, Outbound), LinkRule::cut(3, Both), LinkRule::delay(2, Both, 5)],
            Err(FaultsError::Overlap { first: 0, second: 2, peer: 2 }),
        );
        check(
            vec![LinkRule::cut(2, Inbound); MAX_LINK_RULES + 1],
            Err(FaultsError::TooManyRules { count: MAX_LINK_RULES + 1 }),
        );
    }

    #[test]
    fn a_disabled_handle_refuses_changes_and_disturbs_nothing() {
        let faults = Faults::default();
        assert!(!faults.is_enabled());
        assert_eq!(faults.isolate([2]), Err(FaultsError::Disabled));
        assert_eq!(faults.heal(), Err(FaultsError::Disabled));
        assert_eq!(faults.current(), Err(FaultsError::Disabled));
        assert_eq!(faults.verdict(2, Flow::Outbound), Verdict::Deliver { delay: None });
    }

    #[test]
    fn rules_apply_per_peer_and_direction() {
        let faults = Faults::enabled(1);
        faults
            .set(LinkFaults {
                links: vec![LinkRule::cut(2, Direction::Outbound), LinkRule::delay(3, Direction::Inbound, 40)],
                seed: 1,
            })
            .unwrap();
        assert_eq!(faults.verdict(2, Flow::Outbound), Verdict::Drop);
        assert_eq!(faults.verdict(2, Flow::Inbound), Verdict::Deliver { delay: None }, "one-way: 2 still reaches us");
        assert_eq!(faults.verdict(3, Flow::Inbound), Verdict::Deliver { delay: Some(Duration::from_millis(40)) });
        assert_eq!(faults.verdict(3, Flow::Outbound), Verdict::Deliver { delay: None });
        assert_eq!(faults.verdict(4, Flow::Outbound), Verdict::Deliver { delay: None });

        faults.isolate([4]).unwrap();
        assert_eq!(faults.verdict(4, Flow::Outbound), Verdict::Drop);
        assert_eq!(faults.verdict(4, Flow::Inbound), Verdict::Drop);
        assert_eq!(faults.verdict(2, Flow::Outbound), Verdict::Deliver { delay: None }, "isolate replaces the rules");
        faults.heal().unwrap();
        assert_eq!(faults.verdict(4, Flow::Inbound), Verdict::Deliver { delay: None });
    }

    #[test]
    fn partial_drops_are_seeded_and_near_their_rate() {
        let decisions = |seed| {
            let faults = Faults::enabled(seed);
            let rule = LinkRule { drop_ppm: 250_000, ..LinkRule::delay(2, Direction::Both, 0) };
            faults.set(LinkFaults { links: vec![rule], seed }).unwrap();
            (0..4_000).map(|_| faults.verdict(2, Flow::Outbound) == Verdict::Drop).collect::<Vec<_>>()
        };
        let first = decisions(42);
        assert_eq!(first, decisions(42), "same seed, same decisions");
        assert_ne!(first, decisions(43));
        let dropped = first.iter().filter(|&&d| d).count();
        assert!((800..1_200).contains(&dropped), "{dropped} of 4000 dropped at 25%");
    }
}
