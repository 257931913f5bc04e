//! `ServerBuilder`: the server started inside this test process, as a
//! program that embeds it would, and stopped through its handle.

use std::net::{SocketAddr, TcpStream};

use kv_client::KvClient;
use kv_server::{ServerBuilder, StartError};

fn client(url: &str) -> KvClient {
    KvClient::new(&url.parse().expect("the handle's URL parses"))
}

#[test]
fn an_embedded_server_serves_on_a_free_port_and_stops_gracefully() {
    let server = ServerBuilder::new().start().expect("starts");
    let addr = server.addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert_eq!(server.url(), format!("http://{addr}"));
    let kv = client(&server.url());
    assert!(kv.set("k", "v").expect("set").inserted);
    assert_eq!(kv.get("k").expect("get").inserted_val.as_deref(), Some("v"));

    server.shutdown().expect("a clean shutdown");
    // Stopped: nothing listens on the address any more.
    assert!(TcpStream::connect(addr).is_err(), "{addr} still accepts");
}

#[test]
fn data_written_before_shutdown_is_there_after_a_restart_on_the_same_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = ServerBuilder::new()
        .data_dir(dir.path())
        .start()
        .expect("starts");
    for n in 0..100 {
        client(&first.url())
            .set(&format!("key/{n}"), &n.to_string())
            .expect("set");
    }

    // The directory is locked while a server runs on it: a second one is
    // refused with the storage error, not served.
    match ServerBuilder::new().data_dir(dir.path()).start() {
        Err(StartError::Load(e)) => assert!(e.to_string().contains("in use"), "{e}"),
        other => panic!("a second server on a locked directory: {other:?}"),
    }

    first.shutdown().expect("a clean shutdown");
    let second = ServerBuilder::new()
        .data_dir(dir.path())
        .start()
        .expect("restarts once the first one released the directory");
    let kv = client(&second.url());
    let page = kv.list("key/", None, Some(1000), true).expect("list");
    assert_eq!(page.entries.len(), 100);
    assert_eq!(
        kv.get("key/42").expect("get").inserted_val.as_deref(),
        Some("42")
    );
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let server = ServerBuilder::new().start().expect("starts");
    let addr = server.addr();
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "{addr} still accepts");
}

#[test]
fn a_public_address_without_a_token_is_refused_before_anything_is_loaded() {
    let outcome = ServerBuilder::new()
        .addr(SocketAddr::from(([0, 0, 0, 0], 0)))
        .start();
    match outcome {
        Err(StartError::Config(refusal)) => {
            assert!(refusal.contains("token"), "{refusal}")
        }
        other => panic!("protected mode did not refuse: {other:?}"),
    }
}

#[test]
fn settings_are_the_binarys_own() {
    let token = "embedded-token-0123456789";
    let server = ServerBuilder::new()
        .configure(|config| {
            config.auth_token = Some(token.parse().expect("a token"));
            config.max_value_bytes = 16;
        })
        .start()
        .expect("starts");
    let anonymous = client(&server.url()).set("k", "v");
    assert!(
        matches!(
            anonymous,
            Err(kv_client::ClientError::Server { status: 401, .. })
        ),
        "{anonymous:?}"
    );
    let options = kv_client::ClientOptions {
        token: Some(token.into()),
        ca_cert: None,
    };
    let kv = KvClient::with_options(&server.url().parse().unwrap(), &options).unwrap();
    assert!(kv.set("k", "short").is_ok());
    let long = kv.set("k", "a value longer than sixteen bytes");
    assert!(
        matches!(
            long,
            Err(kv_client::ClientError::Server { status: 413, .. })
        ),
        "{long:?}"
    );
}
