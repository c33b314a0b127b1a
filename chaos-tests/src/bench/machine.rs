//! [`Machine`]: what the numbers were measured on, read from `/proc`: CPU
//! model, logical cores, memory, kernel, and the file system the data
//! directories (and so every fsync) live on.

use std::path::Path;

use serde::Serialize;

/// The machine a run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// `MemTotal` of `/proc/meminfo`, in GiB.
    pub memory_gib: f64,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// Where the data directories were.
    pub data_dir: String,
    /// The file system holding them: `<type> on <mount point> (<device>)`.
    pub data_fs: String,
}

impl Machine {
    /// Reads the description of this machine, with data in `data_dir`.
    pub fn describe(data_dir: &Path) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let data_dir = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_owned());
        Self {
            cpu_model: cpu_model(&read("/proc/cpuinfo")).unwrap_or_else(|| "unknown CPU".into()),
            cores: logical_cores(),
            memory_gib: memory_kib(&read("/proc/meminfo")).map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0)),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            data_fs: filesystem_of(&read("/proc/mounts"), &data_dir).unwrap_or_else(|| "unknown".into()),
            data_dir: data_dir.display().to_string(),
        }
    }

    /// One line for people.
    pub fn line(&self) -> String {
        format!(
            "{}, {} cores, {:.1} GiB RAM, Linux {}; data in {} ({})",
            self.cpu_model, self.cores, self.memory_gib, self.kernel, self.data_dir, self.data_fs
        )
    }
}

/// Logical CPUs this process may use (0 if unknown).
pub fn logical_cores() -> usize {
    std::thread::available_parallelism().map_or(0, usize::from)
}

/// The first `model name` in a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// `MemTotal` in KiB from a `/proc/meminfo` text.
fn memory_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// The mount holding `path` (the longest mount point that contains it) in
/// a `/proc/mounts` text.
fn filesystem_of(mounts: &str, path: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, mount_point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
            // /proc/mounts escapes spaces as \040.
            let mount_point = mount_point.replace("\\040", " ");
            path.starts_with(&mount_point).then(|| (mount_point, format!("{fs_type} on {{}} ({device})")))
        })
        .max_by_key(|(mount_point, _)| mount_point.len())
        .map(|(mount_point, text)| text.replace("{}", &mount_point))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model(""), None);
        let meminfo = "MemTotal:       24684084 kB\nMemFree:        16393064 kB\n";
        assert_eq!(memory_kib(meminfo), Some(24_684_084));
    }

    #[test]
    fn the_deepest_mount_holds_the_path() {
        let mounts = "overlay / overlay rw 0 0\n/dev/sda1 /data ext4 rw 0 0\ntmpfs /data/tmp tmpfs rw 0 0\n/dev/sdb1 /my\\040disk xfs rw 0 0\n";
        let fs = |path: &str| filesystem_of(mounts, Path::new(path)).unwrap();
        assert_eq!(fs("/data/bench"), "ext4 on /data (/dev/sda1)");
        assert_eq!(fs("/data/tmp/x"), "tmpfs on /data/tmp (tmpfs)");
        assert_eq!(fs("/database"), "overlay on / (overlay)", "a prefix of a name is not a parent");
        assert_eq!(fs("/my disk/x"), "xfs on /my disk (/dev/sdb1)");
    }

    #[test]
    fn this_machine_is_described() {
        let machine = Machine::describe(Path::new("/tmp"));
        assert!(machine.cores >= 1);
        assert!(machine.line().contains("cores"));
    }
}
