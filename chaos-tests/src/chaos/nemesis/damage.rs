//! [`Damage`]: what the damaged-files fault does to a stopped replica's
//! RocksDB directory, as a failing disk or a careless operator would: one
//! bit flipped in the largest table file, that file cut to half its length,
//! one bit flipped in the MANIFEST that `CURRENT` names, or one bit flipped
//! in the group's snapshot file (beside the database, in `snapshots/`).
//! Which byte and which bit follow from the window's random bits, so a seed
//! damages the same place every time (given the same files).
//!
//! These are the damages the node promises to refuse at open
//! (`raft/tests/storage/corruption.rs`): a clean stop flushes every
//! memtable, so the replica's data is in its table files and MANIFEST.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::chaos::rng::SplitMix64;

/// One kind of damage to a data dir.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// One bit of one byte of the largest `.sst` file flipped.
    TableBitFlip,
    /// The largest `.sst` file cut to half its length.
    TableTruncated,
    /// One bit of one byte of the current MANIFEST flipped.
    ManifestBitFlip,
    /// One bit of one byte of the largest snapshot file flipped; a table
    /// file's instead while the replica has taken no snapshot.
    SnapshotBitFlip,
}

impl Damage {
    /// Every kind, in the order a draw indexes them.
    pub const ALL: [Self; 4] = [Self::TableBitFlip, Self::TableTruncated, Self::ManifestBitFlip, Self::SnapshotBitFlip];

    /// The kind `pick` chooses.
    pub fn draw(pick: &mut SplitMix64) -> Self {
        let last = u64::try_from(Self::ALL.len() - 1).unwrap_or(0);
        let index = usize::try_from(pick.range(0, last)).unwrap_or(0);
        Self::ALL.get(index).copied().unwrap_or(Self::TableBitFlip)
    }

    /// Damages the RocksDB directory `data_dir` (its process stopped) this
    /// way, the byte and bit drawn from `pick`; says what was done.
    pub fn apply(self, data_dir: &Path, pick: &mut SplitMix64) -> anyhow::Result<Damaged> {
        let file = match self {
            Self::TableBitFlip | Self::TableTruncated => largest_table(data_dir)?,
            Self::ManifestBitFlip => current_manifest(data_dir)?,
            Self::SnapshotBitFlip => match largest_with_extension(&data_dir.join("snapshots"), "snapshot")? {
                Some(file) => file,
                None => return Self::TableBitFlip.apply(data_dir, pick),
            },
        };
        let mut bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let length_before = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        anyhow::ensure!(!bytes.is_empty(), "{} is empty: nothing to damage", file.display());
        let mut flipped = None;
        match self {
            Self::TableBitFlip | Self::ManifestBitFlip | Self::SnapshotBitFlip => {
                let offset = pick.range(0, length_before - 1);
                let bit = u8::try_from(pick.range(0, 7)).unwrap_or(0);
                let byte =
                    usize::try_from(offset).ok().and_then(|at| bytes.get_mut(at)).context("offset past the end")?;
                *byte ^= 1 << bit;
                flipped = Some((offset, bit));
            }
            Self::TableTruncated => bytes.truncate(bytes.len() / 2),
        }
        std::fs::write(&file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
        let length_after = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok(Damaged { damage: self, file, length_before, length_after, flipped })
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TableBitFlip => "bit flip in the largest table file",
            Self::TableTruncated => "largest table file cut to half",
            Self::ManifestBitFlip => "bit flip in the current MANIFEST",
            Self::SnapshotBitFlip => "bit flip in the largest snapshot file",
        })
    }
}

/// What [`Damage::apply`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damaged {
    /// The kind.
    pub damage: Damage,
    /// The file changed.
    pub file: PathBuf,
    /// Its length before, in bytes.
    pub length_before: u64,
    /// Its length after, in bytes.
    pub length_after: u64,
    /// For a bit flip, the byte's offset and the bit (0 the lowest).
    pub flipped: Option<(u64, u8)>,
}

impl fmt::Display for Damaged {
    /// `bit 3 of byte 1234 flipped in 000012.sst (40960 bytes)`, or
    /// `000012.sst cut from 40960 to 20480 bytes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file.file_name().map_or_else(|| self.file.display().to_string(), |n| n.display().to_string());
        match self.flipped {
            Some((offset, bit)) => {
                write!(f, "bit {bit} of byte {offset} flipped in {name} ({} bytes)", self.length_before)
            }
            None => write!(f, "{name} cut from {} to {} bytes", self.length_before, self.length_after),
        }
    }
}

/// The largest `.sst` file of `dir` (the first by name among equals).
fn largest_table(dir: &Path) -> anyhow::Result<PathBuf> {
    largest_with_extension(dir, "sst")?.with_context(|| {
        format!("no table file in {}: was the replica stopped cleanly (a clean stop flushes)?", dir.display())
    })
}

/// The largest file of `dir` whose name ends in `.extension` (the first
/// by name among equals), if any; none in a missing `dir`.
fn largest_with_extension(dir: &Path, extension: &str) -> anyhow::Result<Option<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == extension) {
            let length = path.metadata().with_context(|| format!("cannot stat {}", path.display()))?.len();
            files.push((length, path));
        }
    }
    // Largest first; among equals the smallest name, so the choice does
    // not depend on the order the directory lists them in.
    files.sort_by(|(a_len, a), (b_len, b)| b_len.cmp(a_len).then_with(|| a.cmp(b)));
    Ok(files.into_iter().next().map(|(_, path)| path))
}

/// The MANIFEST that `dir/CURRENT` names.
fn current_manifest(dir: &Path) -> anyhow::Result<PathBuf> {
    let current = dir.join("CURRENT");
    let name = std::fs::read_to_string(&current).with_context(|| format!("cannot read {}", current.display()))?;
    let name = name.trim();
    anyhow::ensure!(
        name.starts_with("MANIFEST-") && !name.contains('/'),
        "{} names `{name}`, not a MANIFEST file",
        current.display()
    );
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in data dir: two table files (the larger second by name),
    /// a MANIFEST named by CURRENT, an older MANIFEST, a log.
    fn data_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        write("000007.sst", vec![0xAA; 300]);
        write("000009.sst", (0..1_000u32).map(|i| (i % 251) as u8).collect());
        write("MANIFEST-000005", vec![0x11; 64]);
        write("MANIFEST-000008", vec![0x22; 128]);
        write("CURRENT", b"MANIFEST-000008\n".to_vec());
        write("000010.log", vec![0x33; 50]);
        dir
    }

    fn read(dir: &tempfile::TempDir, name: &str) -> Vec<u8> {
        std::fs::read(dir.path().join(name)).unwrap()
    }

    /// The positions where `a` and `b` differ, and by which bits.
    fn differences(a: &[u8], b: &[u8]) -> Vec<(usize, u8)> {
        a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y).map(|(i, (x, y))| (i, x ^ y)).collect()
    }

    #[test]
    fn a_bit_flip_changes_one_bit_of_the_largest_table_only() {
        let dir = data_dir();
        let before = read(&dir, "000009.sst");
        let done = Damage::TableBitFlip.apply(dir.path(), &mut SplitMix64::new(3)).unwrap();
        assert_eq!(done.file, dir.path().join("000009.sst"));
        let after = read(&dir, "000009.sst");
        assert_eq!(after.len(), before.len());
        let changed = differences(&before, &after);
        let (offset, bit) = done.flipped.unwrap();
        assert_eq!(changed, [(usize::try_from(offset).unwrap(), 1 << bit)], "one bit, where it says");
        assert_eq!(read(&dir, "000007.sst"), vec![0xAA; 300], "the smaller table is untouched");
        assert!(done.to_string().contains("flipped in 000009.sst"), "{done}");
    }

    #[test]
    fn a_cut_table_keeps_its_first_half() {
        let dir = data_dir();
        let before = read(&dir, "000009.sst");
        let done = Damage::TableTruncated.apply(dir.path(), &mut SplitMix64::new(3)).unwrap();
        assert_eq!(read(&dir, "000009.sst"), before[..500]);
        assert_eq!((done.length_before, done.length_after, done.flipped), (1_000, 500, None));
        assert_eq!(done.to_string(), "000009.sst cut from 1000 to 500 bytes");
    }

    #[test]
    fn a_manifest_flip_hits_the_one_current_names() {
        let dir = data_dir();
        Damage::ManifestBitFlip.apply(dir.path(), &mut SplitMix64::new(5)).unwrap();
        assert_eq!(differences(&[0x22; 128], &read(&dir, "MANIFEST-000008")).len(), 1);
        assert_eq!(read(&dir, "MANIFEST-000005"), vec![0x11; 64], "an older MANIFEST is untouched");
        assert_eq!(read(&dir, "000009.sst").len(), 1_000);
    }

    #[test]
    fn a_snapshot_flip_hits_the_snapshot_file_or_a_table_before_the_first_snapshot() {
        let dir = data_dir();
        let done = Damage::SnapshotBitFlip.apply(dir.path(), &mut SplitMix64::new(7)).unwrap();
        assert_eq!((done.damage, done.file), (Damage::TableBitFlip, dir.path().join("000009.sst")));
        let snapshots = dir.path().join("snapshots");
        std::fs::create_dir(&snapshots).unwrap();
        std::fs::write(snapshots.join("region_eu-1234.snapshot"), vec![0x44; 400]).unwrap();
        std::fs::write(snapshots.join("region_eu-1234.snapshot.tmp"), vec![0x55; 800]).unwrap();
        let before = read(&dir, "000009.sst");
        let done = Damage::SnapshotBitFlip.apply(dir.path(), &mut SplitMix64::new(7)).unwrap();
        assert_eq!(done.file, snapshots.join("region_eu-1234.snapshot"), "not the temporary file");
        assert_eq!(differences(&[0x44; 400], &std::fs::read(&done.file).unwrap()).len(), 1);
        assert_eq!(read(&dir, "000009.sst"), before, "no table touched");
    }

    #[test]
    fn the_same_seed_damages_the_same_place_and_draws_every_kind() {
        let flip = |seed| {
            let dir = data_dir();
            let done = Damage::TableBitFlip.apply(dir.path(), &mut SplitMix64::new(seed)).unwrap();
            (done.flipped, read(&dir, "000009.sst"))
        };
        assert_eq!(flip(11), flip(11));
        let places: std::collections::BTreeSet<_> = (0..20).map(|seed| flip(seed).0).collect();
        assert!(places.len() > 10, "seeds spread the flips: {places:?}");
        let kinds: Vec<Damage> = (0..100).map(|seed| Damage::draw(&mut SplitMix64::new(seed))).collect();
        assert!(Damage::ALL.iter().all(|kind| kinds.contains(kind)), "{kinds:?}");
        assert_eq!(Damage::draw(&mut SplitMix64::new(42)), Damage::draw(&mut SplitMix64::new(42)));
    }

    #[test]
    fn missing_files_are_errors_not_panics() {
        let empty = tempfile::tempdir().unwrap();
        let error = Damage::TableBitFlip.apply(empty.path(), &mut SplitMix64::new(1)).unwrap_err();
        assert!(error.to_string().contains("no table file"), "{error}");
        assert!(Damage::ManifestBitFlip.apply(empty.path(), &mut SplitMix64::new(1)).is_err());
        std::fs::write(empty.path().join("CURRENT"), "../etc/passwd\n").unwrap();
        let error = Damage::ManifestBitFlip.apply(empty.path(), &mut SplitMix64::new(1)).unwrap_err();
        assert!(error.to_string().contains("not a MANIFEST"), "{error}");
        std::fs::write(empty.path().join("000001.sst"), b"").unwrap();
        assert!(Damage::TableTruncated.apply(empty.path(), &mut SplitMix64::new(1)).is_err(), "an empty file");
    }
}
