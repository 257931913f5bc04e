//! Runs a parsed command line against the server and prints the result:
//! results on stdout, diagnostics on stderr, and an exit code that says what
//! happened ([`crate::exit`]). One file per subcommand, as mini-redis has
//! its `cmd/`.

mod backup;
mod del;
mod export;
mod get;
mod import;
mod list;
mod output;
mod put;
mod rm;
mod set;
mod sub;
mod txn;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, CliCommand, OutputFormat};
use crate::client::{ClientOptions, KvClient};
use crate::exit::{Failure, EXIT_LOCAL_ERROR, EXIT_OK};
pub(crate) use output::Printer;

/// Where a command prints, and how.
pub(crate) struct Io<'a> {
    /// Results.
    pub(crate) out: &'a mut dyn Write,
    /// Diagnostics.
    pub(crate) err: &'a mut dyn Write,
    /// How results are printed.
    pub(crate) printer: Printer,
}

/// Runs `cli`, printing to `out` and `err`, and returns the exit code.
/// `out_is_terminal` says whether `out` is a terminal: `-o raw` then ends
/// a text value with a newline. An output closed by its reader
/// (`client sub | head`) ends the command quietly, with exit 0.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write, out_is_terminal: bool) -> ExitCode {
    // `export` prints its file format, NDJSON, unless told otherwise.
    let format = cli.output_format().unwrap_or(match cli.command {
        CliCommand::Export(_) => OutputFormat::Json,
        _ => OutputFormat::Text,
    });
    let token_given = cli.token.is_some();
    let options = ClientOptions {
        token: cli.token,
        ca_cert: cli.cacert,
    };
    let client = match KvClient::with_options(&cli.host, &options) {
        Ok(client) => client,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return ExitCode::from(EXIT_LOCAL_ERROR);
        }
    };
    let printer = Printer {
        format,
        out_is_terminal,
    };
    let mut io = Io { out, err, printer };
    match execute(&client, cli.command, &mut io) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is_closed_output() => ExitCode::from(EXIT_OK),
        Err(e) => {
            let _ = writeln!(io.err, "error: {}", e.describe(token_given));
            ExitCode::from(e.exit_code())
        }
    }
}

fn execute(client: &KvClient, command: CliCommand, io: &mut Io<'_>) -> Result<u8, Failure> {
    match command {
        CliCommand::Get(args) => get::run(client, &args, io),
        CliCommand::Put(args) => put::run(client, args, io),
        CliCommand::Del(args) => del::run(client, args, io),
        CliCommand::List(args) => list::run(client, &args, io),
        CliCommand::Txn(args) => txn::run(client, &args, io),
        CliCommand::Set(args) => set::run(client, &args, io),
        CliCommand::Rm(args) => rm::run(client, &args, io),
        CliCommand::Sub(args) => sub::run(client, args, io),
        CliCommand::Export(args) => export::run(client, &args, io),
        CliCommand::Import(args) => import::run(client, &args, io),
        CliCommand::Backup(args) => backup::run(client, &args, io),
        CliCommand::Bench(args) => crate::bench::run(
            client,
            &args.options(),
            io.printer.is_json(),
            io.out,
            io.err,
        ),
        CliCommand::Completions(args) => {
            crate::cli::completions(&args.shell, io.out)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Ok(EXIT_OK)
        }
    }
}
