//! `client export [--prefix P]`: every key at one revision as one JSON line
//! each (NDJSON, [`ExportRecord`](kv_core::api::ExportRecord)), streamed from
//! `GET /v1/export`, with a progress bar on a terminal.

use std::io::{Read, Write};

use crate::cli::ExportArgs;
use crate::client::KvClient;
use crate::cmd::output::{count, progress, OutputFormat};
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Writes the keys to stdout; the count to stderr.
pub(crate) fn run(client: &KvClient, args: &ExportArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    if io.printer.format != OutputFormat::Json {
        return crate::cmd::list::run(client, &args.as_list(), io);
    }
    let download = client.export(&args.prefix)?;
    let keys = copy_counting_lines(download.body, io.out)?;
    writeln!(
        io.err,
        "exported {} at revision {}",
        count(keys, "key"),
        download.rev
    )?;
    Ok(EXIT_OK)
}

/// Copies `body` to `out`, counting its lines on a progress bar.
///
/// # Errors
///
/// The download stopped, or `out` could not be written.
fn copy_counting_lines(mut body: impl Read, out: &mut dyn Write) -> Result<u64, Failure> {
    let bar = progress("exported");
    let mut buffer = vec![0; 256 << 10];
    let mut lines = 0;
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Download(e)),
        };
        out.write_all(&buffer[..read])?;
        lines += buffer[..read].iter().filter(|&&b| b == b'\n').count() as u64;
        bar.set_position(lines);
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(lines)
}
