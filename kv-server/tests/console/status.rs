//! The status strip with a NATS bridge (connected while nats-server runs,
//! disconnected once it stops, read from /metrics every few seconds), and
//! in replicated mode (the mode and the lag, from /v1/status).

use std::time::Duration;

use kv_testkit::{NatsCluster, NatsServer};

use crate::Console;

#[test]
fn the_status_strip_follows_the_nats_bridge() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let Some(console) = Console::start("status-nats", &["--nats-url", &nats.url()]) else {
        return;
    };
    console.put("k", "text/plain", b"v");
    console.open("");
    console.wait_text("#status [data-item='nats']", "NATS: connected");
    console.wait_text("#status [data-item='rev']", "rev 1");
    console.screenshot("status-nats");
    nats.stop();
    // The strip reads /metrics every 5 s.
    console.browser.wait_for_within(
        Duration::from_secs(20),
        "the strip to show NATS disconnected",
        "return document.querySelector('#status [data-item=\"nats\"]').textContent.startsWith('NATS: disconnected');",
        &[],
    );
}

#[test]
fn the_status_strip_shows_a_replicas_mode_and_lag() {
    // JetStream clustering needs routes: three nodes, as the cluster tests.
    let Some(nats) = NatsCluster::start(3) else {
        return;
    };
    let urls = nats.urls();
    let args = ["--cluster", &urls];
    let Some(console) = Console::start_exactly("status-replica", &args, 1280, 900) else {
        return;
    };
    let rev = console.put("replicated/k", "text/plain", b"v");
    console.open("");
    console.wait_text("#status [data-item='mode']", "mode: replica");
    console.wait_text("#status [data-item='lag']", "lag 0");
    console.wait_text("#status [data-item='rev']", &format!("rev {rev}"));
    console.screenshot("status-replica");
}
