//! `client get KEY [--meta | --rev]`.

use crate::cli::GetArgs;
use crate::client::KvClient;
use crate::cmd::output::{found_or_not, print_json, write_value};
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};
use kv_core::value_text::from_text;

/// Prints the value (the original route), or with `--meta` the entry and
/// with `--rev` its revision (the /v1 API).
pub(crate) fn run(client: &KvClient, args: &GetArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    if args.meta || args.rev {
        let Some(entry) = client.entry(&args.key)? else {
            return Ok(found_or_not(false, &args.key, io.err)?);
        };
        if args.rev {
            writeln!(io.out, "{}", entry.mod_rev)?;
        } else {
            print_json(io.out, &entry)?;
        }
        return Ok(EXIT_OK);
    }
    let answer = client.get(&args.key)?;
    match (&answer.inserted_val, io.printer.json) {
        (_, true) => print_json(io.out, &answer)?,
        (Some(val), false) => {
            let bytes = from_text(val, answer.encoding.as_deref()).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the server sent a value this client cannot read: {e}"),
                )
            })?;
            write_value(io.out, &bytes, io.printer.out_is_terminal)?;
        }
        (None, false) => {}
    }
    Ok(found_or_not(answer.found, &args.key, io.err)?)
}
