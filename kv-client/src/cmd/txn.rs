//! `client txn FILE|-`: a transaction given as JSON.

use std::io::Read;

use crate::cli::TxnArgs;
use crate::client::KvClient;
use crate::cmd::output::print_json;
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_CONDITION_FAILED, EXIT_OK};

/// Runs the transaction and prints the server's answer; exit 7 when the
/// failure branch ran.
pub(crate) fn run(client: &KvClient, args: &TxnArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let file = &args.file;
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(file)?
    };
    let txn: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not JSON: {e}", file.display()),
        )
    })?;
    let answer = client.txn(&txn)?;
    print_json(io.out, &answer)?;
    Ok(if answer.succeeded {
        EXIT_OK
    } else {
        EXIT_CONDITION_FAILED
    })
}
