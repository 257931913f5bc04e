//! The `server` binary: parse the configuration, bind (or take the socket
//! systemd passes), serve while the data is recovered in the background,
//! print the address once it is loaded, serve until SIGINT or SIGTERM. Or,
//! with `restore`, build a data directory from a backup.

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;

use actix_web::web::Data;
use anyhow::Context;
use kv_server::app::{context, tls};
use kv_server::config::ServerCommand;
use kv_server::storage::backup::restore;
use kv_server::{run, Config, Service};
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
            // The document says which operations need a token: decided, as
            // everywhere, from the tokens actually loaded.
            let auth = kv_server::auth::from_config(&config).map_err(anyhow::Error::msg)?;
            let replicated = config.cluster.is_some();
            println!(
                "{}",
                kv_server::http::openapi::document(auth.enabled(), replicated)
            );
            return Ok(());
        }
        None => {}
    }
    // Settings that can fail are checked before the (possibly long) recovery.
    let auth = kv_server::auth::from_config(&config).map_err(anyhow::Error::msg)?;
    if auth.enabled() {
        info!("authentication on: {} bearer token(s)", auth.token_count());
    }
    let listener = listen(&config)?;
    let addr = listener.local_addr().context("no local address")?;
    if let Some(refusal) = auth.protected_mode_error(addr, config.insecure_no_auth) {
        anyhow::bail!(refusal);
    }
    if config.insecure_no_auth && !auth.enabled() {
        warn!("authentication is off (--insecure-no-auth): anyone who can reach {addr} can read and change every key");
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!("accepting connections on {scheme}://{addr}; loading data");
    let shared = Data::new(context(auth, &config));
    let loading = shared.clone();
    let recovery_config = config.clone();
    // Requests wait for the data (see kv_server::http::extract::Ready); a failed
    // recovery ends the process with the error, as before serving.
    std::thread::Builder::new()
        .name("kv-recovery".into())
        .spawn(move || match Service::open(&recovery_config) {
            Ok(state) => {
                loading.attach(state);
                // Tests and scripts read this line to find the port when it
                // was 0; it comes once the data is loaded.
                println!("kv-store listening on {scheme}://{addr}");
                let _ = std::io::stdout().flush();
                info!("ready on {scheme}://{addr}");
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {:#}", anyhow::Error::from(e));
                std::process::exit(1);
            }
        })
        .context("cannot start the recovery thread")?;
    actix_web::rt::System::new()
        .block_on(run(listener, shared, config, tls, shutdown_signal()))
        .context("server failed")
}

/// The listening socket: the one systemd (or another service manager)
/// passes with `LISTEN_FDS`, so that it stays open across restarts and no
/// connection is refused meanwhile; otherwise a new one on `--host`.
fn listen(config: &Config) -> anyhow::Result<TcpListener> {
    let mut passed = listenfd::ListenFd::from_env();
    if let Some(listener) = passed
        .take_tcp_listener(0)
        .context("LISTEN_FDS is set but its first socket is not a TCP listener")?
    {
        info!("using the listening socket passed in LISTEN_FDS; --host is not used");
        return Ok(listener);
    }
    TcpListener::bind(config.host.authority())
        .with_context(|| format!("cannot listen on {}", config.host.authority()))
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
