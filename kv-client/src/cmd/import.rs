//! `client import FILE|-`: streams an NDJSON export to `POST /v1/import`,
//! with a progress bar on a terminal. The server stores each chunk of up to
//! 1024 consecutive records atomically and skips records already expired.

use std::fs::File;
use std::io::{BufReader, Read};

use indicatif::ProgressBar;
use serde_json::json;

use crate::cli::ImportArgs;
use crate::client::KvClient;
use crate::cmd::output::{count, print_json, progress};
use crate::cmd::Io;
use crate::error::ClientError;
use crate::exit::{Failure, EXIT_OK};
use crate::human::thousands;

/// Imports the file (or stdin) and says how many keys were stored.
pub(crate) fn run(client: &KvClient, args: &ImportArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let file = &args.file;
    let input: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = File::open(file).map_err(|e| Failure::read(file, e))?;
        Box::new(BufReader::with_capacity(256 << 10, opened))
    };
    let bar = progress("sent");
    let mut counted = LineCounter {
        input,
        lines: 0,
        bar: bar.clone(),
    };
    let answer = client.import(&mut counted).map_err(|e| match e {
        // A bad record: the input's fault, not the server's.
        ClientError::Server {
            status: 400 | 413,
            message,
            ..
        } => Failure::BadInput(format!("{}: {message}", file.display())),
        other => other.into(),
    })?;
    bar.finish_and_clear();
    if io.printer.is_json() {
        print_json(
            io.out,
            &json!({"imported": answer.imported, "expired": answer.expired, "rev": answer.rev}),
        )?;
    } else {
        writeln!(
            io.out,
            "imported {} at revision {} ({} already expired, skipped)",
            count(answer.imported, "key"),
            answer.rev,
            thousands(answer.expired),
        )?;
    }
    Ok(EXIT_OK)
}

/// Counts the lines read through it on a progress bar.
struct LineCounter {
    input: Box<dyn Read>,
    lines: u64,
    bar: ProgressBar,
}

impl Read for LineCounter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.input.read(buf)?;
        self.lines += buf[..read].iter().filter(|&&b| b == b'\n').count() as u64;
        self.bar.set_position(self.lines);
        Ok(read)
    }
}
