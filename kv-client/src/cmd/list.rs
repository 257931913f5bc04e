//! `client list [--prefix P] [--keys-only] [--limit N]`.

use kv_core::api::{ListEntry, MAX_LIST_LIMIT};

use crate::cli::ListArgs;
use crate::client::KvClient;
use crate::cmd::output::{escape, print_json, value_bytes, value_text, OutputFormat};
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
            print_entry(entry, io)?;
            printed += 1;
        }
        match page.next {
            Some(next) if args.limit.is_none_or(|l| printed < l) => start_after = Some(next),
            _ => break,
        }
    }
    io.out.flush()?;
    Ok(EXIT_OK)
}

/// One line: the entry as JSON, or `KEY<TAB>VALUE` (the key alone without
/// a value), escaped in text and as it is in raw.
fn print_entry(entry: &ListEntry, io: &mut Io<'_>) -> std::io::Result<()> {
    let format = io.printer.format;
    if format == OutputFormat::Json {
        return print_json(io.out, entry);
    }
    let (key, value) = (entry.key.as_str(), entry.value.as_deref());
    let encoding = entry.encoding.as_deref().filter(|e| *e != "utf8");
    match (format, value) {
        (OutputFormat::Raw, None) => writeln!(io.out, "{key}"),
        (OutputFormat::Raw, Some(value)) => {
            write!(io.out, "{key}\t")?;
            io.out.write_all(&value_bytes(value, encoding)?)?;
            writeln!(io.out)
        }
        (_, None) => writeln!(io.out, "{}", escape(key)),
        (_, Some(value)) => writeln!(io.out, "{}\t{}", escape(key), value_text(value, encoding)),
    }
}
