//! `client del KEY [--if-rev N]` and `client del --prefix P [--all]`.

use kv_core::command::Condition;

use crate::cli::DelArgs;
use crate::client::KvClient;
use crate::cmd::output::{count, found_or_not, print_json};
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Deletes one key (exit 1 when it does not exist) or every key under a
/// prefix.
pub(crate) fn run(client: &KvClient, args: DelArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    if let Some(prefix) = args.prefix {
        if prefix.is_empty() && !args.all {
            return Err(Failure::Usage(
                "an empty --prefix matches every key: add --all to delete them all".into(),
            ));
        }
        let answer = client.delete_prefix(&prefix, args.all)?;
        if io.printer.is_json() {
            print_json(io.out, &answer)?;
        } else {
            writeln!(
                io.out,
                "deleted {} (revision {})",
                count(answer.deleted, "key"),
                answer.rev
            )?;
        }
        return Ok(EXIT_OK);
    }
    let key = args.key.unwrap_or_default();
    let condition = args.if_rev.map_or(Condition::Always, Condition::ModRev);
    let Some(answer) = client.delete(&key, condition)? else {
        return Ok(found_or_not(false, &key, io.err)?);
    };
    if io.printer.is_json() {
        print_json(io.out, &answer)?;
    } else {
        writeln!(io.out, "OK (revision {})", answer.rev)?;
    }
    Ok(EXIT_OK)
}
