//! When the log is synced to disk, like Redis' `appendfsync`.

use std::fmt;
use std::str::FromStr;

/// When the log is synced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Every batch is synced (fdatasync) before any write in it is
    /// acknowledged or visible to readers. Nothing acknowledged is lost, even
    /// on power loss.
    #[default]
    Always,
    /// A background thread syncs at least once a second. A process crash
    /// loses nothing (the data is in the OS page cache); an OS crash or power
    /// loss can lose the writes acknowledged in the last second or so.
    EverySec,
    /// Never synced explicitly; the OS writes pages back when it chooses
    /// (on Linux, typically within 30 seconds). A process crash loses
    /// nothing; an OS crash can lose what was not yet written back.
    No,
}

impl FsyncPolicy {
    /// The policy's name as written in flags: `always`, `everysec`, `no`.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "everysec" => Ok(FsyncPolicy::EverySec),
            "no" => Ok(FsyncPolicy::No),
            other => Err(format!(
                "unknown fsync policy {other:?}; use always, everysec or no"
            )),
        }
    }
}
