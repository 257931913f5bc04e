//! The `client` binary: parse, run, print.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use kv_client::cli::{self, Parsed};
use kv_client::cmd;
use kv_client::exit::EXIT_USAGE;

fn main() -> ExitCode {
    match cli::parse() {
        Parsed::Run(cli) => {
            let stdout = std::io::stdout();
            let terminal = stdout.is_terminal();
            cmd::run(*cli, &mut stdout.lock(), &mut std::io::stderr(), terminal)
        }
        Parsed::Info(text) => {
            // A closed pipe (`client --help | head`) is not an error.
            let _ = writeln!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Parsed::Usage(text) => {
            let _ = writeln!(std::io::stderr(), "{text}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
