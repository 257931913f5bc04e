//! The `server` binary: parse the configuration, bind, print the address,
//! serve until SIGINT or SIGTERM.

use std::io::Write;
use std::net::TcpListener;

use anyhow::Context;
use kv_server::{run, Config};
use log::info;

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::from_args();
    let listener = TcpListener::bind(config.host.authority())
        .with_context(|| format!("cannot listen on {}", config.host.authority()))?;
    let addr = listener.local_addr().context("no local address")?;
    // Tests and scripts read this line to find the port when it was 0.
    println!("kv-store listening on http://{addr}");
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    info!("listening on http://{addr}");
    actix_web::rt::System::new()
        .block_on(run(listener, config, shutdown_signal()))
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
