//! The `server` binary: parse the configuration, take the socket systemd
//! passes (if any), start the server (it serves while the data is
//! recovered in the background), print the address once it is loaded,
//! serve until SIGINT or SIGTERM. Or, with `restore`, build a data
//! directory from a backup; with `openapi`, print the OpenAPI document.

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use kv_server::config::ServerCommand;
use kv_server::storage::backup::restore;
use kv_server::{Config, ServerBuilder, StartError};
use log::info;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match serve_or_restore(Config::from_args()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve_or_restore(config: Config) -> anyhow::Result<()> {
    match &config.command {
        Some(ServerCommand::Restore { from, data_dir }) => {
            let info = restore(from, data_dir)?;
            println!(
                "restored {} keys at revision {} into {}",
                info.count,
                info.end_rev,
                data_dir.display()
            );
            return Ok(());
        }
        Some(ServerCommand::Openapi) => {
            let document = kv_server::openapi_document(&config).map_err(anyhow::Error::msg)?;
            println!("{document}");
            return Ok(());
        }
        None => {}
    }
    let mut builder = ServerBuilder::from_config(config).shutdown_on(shutdown_signal());
    if let Some(listener) = passed_socket()? {
        builder = builder.listener(listener);
    }
    let server = builder.spawn()?;
    match server.wait_ready() {
        // Tests and scripts read this line to find the port when it was 0;
        // it comes once the data is loaded.
        Ok(()) => {
            println!("kv-store listening on {}", server.url());
            let _ = std::io::stdout().flush();
        }
        // A signal before the data was loaded: the server stops cleanly.
        Err(StartError::Stopped) => {}
        Err(e) => return Err(e.into()),
    }
    server.wait().context("server failed")
}

/// The listening socket systemd (or another service manager) passes with
/// `LISTEN_FDS`, so that it stays open across restarts and no connection
/// is refused meanwhile; otherwise the server listens on `--host`.
fn passed_socket() -> anyhow::Result<Option<TcpListener>> {
    let listener = listenfd::ListenFd::from_env()
        .take_tcp_listener(0)
        .context("LISTEN_FDS is set but its first socket is not a TCP listener")?;
    if listener.is_some() {
        info!("using the listening socket passed in LISTEN_FDS; --host is not used");
    }
    Ok(listener)
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = actix_web::rt::signal::ctrl_c() => info!("SIGINT received"),
                    _ = term.recv() => info!("SIGTERM received"),
                }
            }
            Err(e) => {
                log::warn!("cannot listen for SIGTERM ({e}); only Ctrl-C stops the server");
                let _ = actix_web::rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_web::rt::signal::ctrl_c().await;
    }
}
