//! [`Scenario`]: what a run's nemesis may apply: one fault, several
//! (`--scenario leader-kill,pause`) or a named combination
//! (`--scenario process-mix`). Each window picks one of its faults from the
//! seeded generator (see [`super::schedule`]).

use std::fmt;
use std::str::FromStr;

use super::fault::Fault;

/// A named combination of faults.
struct Combo {
    /// Its name on the command line.
    name: &'static str,
    /// One line on what it is.
    describe: &'static str,
    /// Its faults.
    faults: &'static [Fault],
}

/// The named combinations, in the order `chaos list` shows them.
const COMBOS: [Combo; 5] = [
    Combo {
        name: "process-mix",
        describe: "process faults: kill -9 of the leader, a follower, a minority, a majority; pauses",
        faults: &[
            Fault::LeaderKill,
            Fault::FollowerKill,
            Fault::MinorityKill,
            Fault::MajorityKill,
            Fault::Pause,
            Fault::FollowerPause,
        ],
    },
    Combo {
        name: "partition-mix",
        describe: "partitions: isolated leader, minority split, ring, one-way both ways",
        faults: &[Fault::MinorityPartition, Fault::Split, Fault::Ring, Fault::OneWayInbound, Fault::OneWayOutbound],
    },
    Combo {
        name: "network-mix",
        describe: "partitions and degraded links (slow, lossy)",
        faults: &[
            Fault::MinorityPartition,
            Fault::Split,
            Fault::Ring,
            Fault::OneWayInbound,
            Fault::OneWayOutbound,
            Fault::SlowLinks,
            Fault::LossyLinks,
        ],
    },
    Combo {
        name: "node-hooks-mix",
        describe: "faults of the nodes' disks and clocks: slow and failing syncs, damaged files, leader clock jumps",
        faults: &[Fault::DiskSlow, Fault::DiskFail, Fault::DamagedFiles, Fault::ClockJump],
    },
    Combo { name: "all-faults", describe: "every fault, one per window", faults: Fault::INJECTED },
];

/// What a run's nemesis may apply, under the name that reproduces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// A fault's name, a combination's, or fault names joined by commas.
    name: String,
    /// The faults, without repeats, in the order given; empty for `none`.
    faults: Vec<Fault>,
}

impl Scenario {
    /// One fault alone.
    pub fn single(fault: Fault) -> Self {
        let faults = if fault == Fault::None { Vec::new() } else { vec![fault] };
        Self { name: fault.name().to_owned(), faults }
    }

    /// Every named combination, for `chaos list`.
    pub fn combos() -> impl Iterator<Item = Self> {
        COMBOS.iter().map(|combo| Self { name: combo.name.to_owned(), faults: combo.faults.to_vec() })
    }

    /// Its name: `chaos run --scenario <name>` runs it again.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The faults a window may apply; empty for the baseline.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Whether any of its faults signals, starts or stops processes.
    pub fn needs_processes(&self) -> bool {
        self.faults.iter().any(|fault| fault.needs_processes())
    }

    /// One line on what it does.
    pub fn describe(&self) -> String {
        if let Some(combo) = COMBOS.iter().find(|combo| combo.name == self.name) {
            return combo.describe.to_owned();
        }
        match self.faults.as_slice() {
            [] => Fault::None.describe().to_owned(),
            [one] => one.describe().to_owned(),
            many => {
                let names: Vec<&str> = many.iter().map(|fault| fault.name()).collect();
                format!("one of {} per window", names.join(", "))
            }
        }
    }
}

impl FromStr for Scenario {
    type Err = String;

    /// A fault's name, a combination's, or fault names joined by commas.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(combo) = Self::combos().find(|combo| combo.name == text) {
            return Ok(combo);
        }
        let mut faults: Vec<Fault> = Vec::new();
        for name in text.split(',').map(str::trim) {
            let fault = Fault::from_name(name).ok_or_else(|| {
                let known: Vec<&str> =
                    Fault::ALL.iter().map(|f| f.name()).chain(COMBOS.iter().map(|c| c.name)).collect();
                format!("unknown scenario `{name}`; known: {} (or faults joined by commas)", known.join(", "))
            })?;
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        match faults.as_slice() {
            [one] => Ok(Self::single(*one)),
            many if many.contains(&Fault::None) => {
                Err("`none` is the baseline without faults; it cannot be combined with faults".to_owned())
            }
            many => {
                let name = many.iter().map(|fault| fault.name()).collect::<Vec<_>>().join(",");
                Ok(Self { name, faults: many.to_vec() })
            }
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        text.parse()
    }

    #[test]
    fn single_faults_combos_and_lists_parse() {
        assert_eq!(parse("leader-kill").unwrap(), Scenario::single(Fault::LeaderKill));
        assert_eq!(parse("none").unwrap().faults(), &[] as &[Fault]);
        let list = parse("leader-kill, minority-partition,leader-kill").unwrap();
        assert_eq!(list.faults(), &[Fault::LeaderKill, Fault::MinorityPartition]);
        assert_eq!(list.name(), "leader-kill,minority-partition");
        assert_eq!(parse(list.name()).unwrap(), list, "the name reproduces it");
        assert!(list.describe().contains("one of leader-kill, minority-partition"));
        let combo = parse("process-mix").unwrap();
        assert!(combo.faults().contains(&Fault::MajorityKill));
        assert_eq!(combo.name(), "process-mix");
        assert!(combo.needs_processes());
        assert!(!parse("ring,one-way-inbound").unwrap().needs_processes());
    }

    #[test]
    fn bad_names_are_refused_with_the_known_ones() {
        let error = parse("leader-kill,nope").unwrap_err();
        assert!(error.contains("`nope`") && error.contains("process-mix"), "{error}");
        assert!(parse("").is_err());
        assert!(parse("none,pause").unwrap_err().contains("baseline"));
    }

    #[test]
    fn every_combo_names_known_faults_and_all_faults_has_every_fault() {
        let all = parse("all-faults").unwrap();
        for fault in Fault::ALL.into_iter().filter(|f| *f != Fault::None) {
            assert!(all.faults().contains(&fault), "{}", fault.name());
        }
        for combo in Scenario::combos() {
            assert!(!combo.faults().is_empty() && !combo.faults().contains(&Fault::None));
            assert!(Fault::from_name(combo.name()).is_none(), "a combo does not shadow a fault");
        }
    }
}
