//! [`StorageError`]: why the storage could not be opened, recovered or
//! restored. Errors while serving are I/O errors on the commit path instead,
//! answered with 503.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A storage failure at startup, restore or backup.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O error, with what was being done. The error is part of the
    /// message, not a source of it: a cause chain (`{:#}`) would print it
    /// twice.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The error.
        cause: io::Error,
    },
    /// Another server holds the data directory.
    #[error(
        "data directory {} is in use by another kv-store server ({holder}); \
         stop it or give this one another --data-dir",
        dir.display()
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// What the holder wrote in the lock file.
        holder: String,
    },
    /// A damaged record or file in the middle of the data.
    #[error(
        "{} is damaged at byte {offset}: {detail}; refusing to start. \
         `--repair` keeps everything before that byte and moves the rest to damaged/",
        file.display()
    )]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Byte offset of the first bad byte.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A restore target that already holds files.
    #[error("{} is not empty; restore only into a new or empty directory", dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// A setting that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A backup file that cannot be restored.
    #[error("invalid backup {}: {detail}", file.display())]
    InvalidBackup {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl StorageError {
    /// An [`StorageError::Io`] with its context.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> StorageError {
        let context = context.into();
        move |cause| StorageError::Io { context, cause }
    }
}

/// A `Result` whose error is [`StorageError`].
pub type Result<T> = std::result::Result<T, StorageError>;
