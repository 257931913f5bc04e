//! `client put KEY [VALUE|-]`: any bytes, through the /v1 API.

use std::io::Read;

use kv_core::command::Condition;

use crate::cli::PutArgs;
use crate::client::KvClient;
use crate::cmd::output::print_json;
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Stores the value (stdin for `-` or none), on a condition if asked.
pub(crate) fn run(client: &KvClient, args: PutArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let value = match args.value.as_deref() {
        None | Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes)?;
            bytes
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    let condition = match (args.if_rev, args.create) {
        (Some(rev), _) => Condition::ModRev(rev),
        (None, true) => Condition::Absent,
        (None, false) => Condition::Always,
    };
    // The server takes milliseconds; less than one would be none.
    let ttl = args.ttl.map(|ttl| format!("{}ms", ttl.as_millis().max(1)));
    let answer = client.put(
        &args.key,
        &value,
        args.content_type.as_deref(),
        ttl.as_deref(),
        condition,
    )?;
    if io.printer.is_json() {
        print_json(io.out, &answer)?;
    } else {
        writeln!(io.out, "OK (revision {})", answer.rev)?;
    }
    Ok(EXIT_OK)
}
