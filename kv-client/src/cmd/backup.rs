//! `client backup FILE`: a consistent backup of the whole store.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::cli::BackupArgs;
use crate::client::KvClient;
use crate::cmd::output::print_json;
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Saves the backup and says where, at which revision, how large.
pub(crate) fn run(client: &KvClient, args: &BackupArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let file = &args.file;
    let (rev, bytes) = backup_to_file(client, file)?;
    if io.printer.is_json() {
        print_json(
            io.out,
            &serde_json::json!({"file": file, "rev": rev, "bytes": bytes}),
        )?;
    } else {
        writeln!(
            io.out,
            "wrote {bytes} bytes (revision {rev}) to {}",
            file.display()
        )?;
    }
    Ok(EXIT_OK)
}

/// Downloads a backup into `file` through `file.partial`, synced, so a
/// failed download never leaves a file that looks whole.
fn backup_to_file(client: &KvClient, file: &Path) -> Result<(u64, u64), Failure> {
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut out = File::create(&partial)?;
    let result = client.backup(&mut out);
    let finished = result.map_err(Failure::from).and_then(|answer| {
        out.sync_all()?;
        fs::rename(&partial, file)?;
        Ok(answer)
    });
    if finished.is_err() {
        let _ = fs::remove_file(&partial);
    }
    finished
}
