//! `client list [--prefix P] [--keys-only] [--limit N]`.

use kv_core::api::MAX_LIST_LIMIT;

use crate::cli::ListArgs;
use crate::client::KvClient;
use crate::cmd::output::print_json;
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Prints every key under the prefix, following the server's pages.
pub(crate) fn run(client: &KvClient, args: &ListArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let mut printed = 0;
    let mut start_after: Option<String> = None;
    while args.limit != Some(0) {
        let page_limit = args.limit.map(|l| (l - printed).clamp(1, MAX_LIST_LIMIT));
        let page = client.list(
            &args.prefix,
            start_after.as_deref(),
            page_limit,
            args.keys_only,
        )?;
        for entry in &page.entries {
            if io.printer.json {
                print_json(io.out, entry)?;
            } else if args.keys_only {
                writeln!(io.out, "{}", entry.key)?;
            } else {
                let value = entry.value.as_deref().unwrap_or_default();
                writeln!(io.out, "{}\t{value}", entry.key)?;
            }
            printed += 1;
        }
        match page.next {
            Some(next) if args.limit.is_none_or(|l| printed < l) => start_after = Some(next),
            _ => break,
        }
    }
    Ok(EXIT_OK)
}
