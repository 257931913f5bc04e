//! The status strip with a NATS bridge: connected while nats-server runs,
//! disconnected once it stops (read from /metrics every few seconds).

use std::time::Duration;

use kv_testkit::NatsServer;

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
