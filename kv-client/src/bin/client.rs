//! The `client` binary: parse, run, print.

use std::io::Write;
use std::process::ExitCode;

use kv_client::cli::{self, Parsed};
use kv_client::commands::{self, EXIT_USAGE};

fn main() -> ExitCode {
    match cli::parse() {
        Parsed::Run(cli) => commands::run(*cli, &mut std::io::stdout(), &mut std::io::stderr()),
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
