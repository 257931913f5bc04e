//! The `server` binary: parse the configuration, recover the data, bind,
//! print the address, serve until SIGINT or SIGTERM. Or, with `restore`,
//! build a data directory from a backup.

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use kv_server::config::ServerCommand;
use kv_server::storage::backup::restore;
use kv_server::{recovering, run, tls, AppState, Config};
use log::{info, warn};

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
            println!("{}", kv_server::openapi::document());
            return Ok(());
        }
        None => {}
    }
    // Settings that can fail are checked before the (possibly long) recovery.
    let listener = TcpListener::bind(config.host.authority())
        .with_context(|| format!("cannot listen on {}", config.host.authority()))?;
    let addr = listener.local_addr().context("no local address")?;
    if let Some(refusal) = config.protected_mode_error(addr) {
        anyhow::bail!(refusal);
    }
    if config.insecure_no_auth && !config.auth_configured() {
        warn!("authentication is off (--insecure-no-auth): anyone who can reach {addr} can read and change every key");
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!("accepting connections on {scheme}://{addr}; loading data");
    // Probes get 503 "recovering" until the data is loaded.
    let state = if config.in_memory {
        AppState::open(&config)?
    } else {
        recovering::serve_while(&listener, tls, || AppState::open(&config))??
    };
    // Tests and scripts read this line to find the port when it was 0; it
    // comes once the data is loaded and the server can answer.
    println!("kv-store listening on {scheme}://{addr}");
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    info!("listening on {scheme}://{addr}");
    actix_web::rt::System::new()
        .block_on(run(listener, state, config, shutdown_signal()))
        .context("server failed")
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
