//! `client rm KEY`: the original route.

use crate::cli::RmArgs;
use crate::client::KvClient;
use crate::cmd::output::{found_or_not, print_json};
use crate::cmd::Io;
use crate::exit::Failure;

/// Removes the key; prints `OK`, or exits 1 when it did not exist.
pub(crate) fn run(client: &KvClient, args: &RmArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let answer = client.rm(&args.key)?;
    if io.printer.is_json() {
        print_json(io.out, &answer)?;
    } else if answer.found {
        writeln!(io.out, "OK")?;
    }
    Ok(found_or_not(answer.found, &args.key, io.err)?)
}
