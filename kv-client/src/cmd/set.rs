//! `client set KEY VAL`: the original route.

use crate::cli::SetArgs;
use crate::client::KvClient;
use crate::cmd::output::print_json;
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Stores the value; prints `OK`.
pub(crate) fn run(client: &KvClient, args: &SetArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let answer = client.set(&args.key, &args.val)?;
    if io.printer.is_json() {
        print_json(io.out, &answer)?;
    } else {
        writeln!(io.out, "OK")?;
    }
    Ok(EXIT_OK)
}
