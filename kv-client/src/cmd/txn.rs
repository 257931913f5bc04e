//! `client txn FILE|-`: a transaction given as JSON.

use std::io::Read;

use kv_core::api::TxnResponse;
use serde_json::Value;

use crate::cli::TxnArgs;
use crate::client::KvClient;
use crate::cmd::output::{escape, print_json, value_text};
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_CONDITION_FAILED, EXIT_OK};

/// Runs the transaction and prints the server's answer (JSON) or what each
/// operation did (text); exit 7 when the failure branch ran.
pub(crate) fn run(client: &KvClient, args: &TxnArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let file = &args.file;
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::read(file, e))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| Failure::read(file, e))?
    };
    let txn: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::BadInput(format!("{} is not JSON: {e}", file.display())))?;
    let answer = client.txn(&txn)?;
    if io.printer.is_json() {
        print_json(io.out, &answer)?;
    } else {
        print_results(&txn, &answer, io.out)?;
    }
    Ok(if answer.succeeded {
        EXIT_OK
    } else {
        EXIT_CONDITION_FAILED
    })
}

/// `succeeded (revision N)` or `failed (revision N): the failure branch
/// ran`, then one line per operation of the branch that ran:
/// `OP<TAB>KEY<TAB>WHAT` (`put`, `created` or `replaced`; `delete`,
/// `deleted` or `not found`; `get`, the value or `not found`), the key and
/// value escaped as `list` prints them.
fn print_results(
    txn: &Value,
    answer: &TxnResponse,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let branch = if answer.succeeded {
        writeln!(out, "succeeded (revision {})", answer.rev)?;
        "success"
    } else {
        writeln!(
            out,
            "failed (revision {}): the failure branch ran",
            answer.rev
        )?;
        "failure"
    };
    let key = |i: usize, op: &str| -> String {
        let key = txn[branch][i][op]["key"].as_str().unwrap_or_default();
        escape(key).into_owned()
    };
    for (i, result) in answer.results.iter().enumerate() {
        if let Some(put) = &result.put {
            let what = if put.created { "created" } else { "replaced" };
            writeln!(out, "put\t{}\t{what}", key(i, "put"))?;
        } else if let Some(delete) = &result.delete {
            let what = if delete.deleted {
                "deleted"
            } else {
                "not found"
            };
            writeln!(out, "delete\t{}\t{what}", key(i, "delete"))?;
        } else if let Some(get) = &result.get {
            let value = get.entry.as_ref().map_or("not found".into(), |e| {
                let encoding = Some(e.encoding.as_str()).filter(|e| *e != "utf8");
                value_text(&e.value, encoding).into_owned()
            });
            writeln!(out, "get\t{}\t{value}", key(i, "get"))?;
        }
    }
    Ok(())
}
