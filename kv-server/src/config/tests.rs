//! The flags, their defaults and their refusals.

use super::*;

#[test]
fn flags_parse_and_defaults_agree_with_the_libraries() {
    let config = Config::parse_from(["server", "--host", "http://0.0.0.0:0", "--shards", "8"])
        .expect("valid flags");
    assert_eq!(config.host.authority(), "0.0.0.0:0");
    assert_eq!(config.shards, 8);
    // Each server default is written once, in its flag; those that
    // mirror a library's own default must agree with it.
    let defaults = Config::parse_from(["server"]).expect("no flags");
    assert_eq!(defaults.shards, kv_core::store::DEFAULT_SHARDS);
    assert_eq!(defaults.limits(), kv_core::Limits::default());
    assert_eq!(defaults.ring_limits(), kv_pubsub::RingLimits::default());
    assert_eq!(defaults.max_txn_ops, kv_core::api::DEFAULT_MAX_TXN_OPS);
    assert_eq!(defaults.host.authority(), DEFAULT_SERVER_HOST);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let token = Config::parse_from(["server", "--auth-token", "0123456789abcdef"]).unwrap();
    assert!(!format!("{token:?}").contains("0123456789abcdef"));
}

#[test]
fn switches_set_to_nothing_are_refused() {
    for (flag, name) in [
        ("--auth-token", "KVSTORE_AUTH_TOKEN"),
        ("--auth-file", "KVSTORE_AUTH_FILE"),
        ("--nats-url", "KVSTORE_NATS_HOST"),
        ("--nats-stream", "KVSTORE_NATS_STREAM"),
    ] {
        let err = Config::parse_from(["server", flag, ""])
            .expect_err(flag)
            .to_string();
        assert!(err.contains(name) && err.contains("empty"), "{err}");
    }
    let err = Config::parse_from(["server", "--tls-cert", "", "--tls-key", "k.pem"])
        .expect_err("empty cert path")
        .to_string();
    assert!(err.contains("KVSTORE_TLS_CERT"), "{err}");
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let err = Config::parse_from(["server", "--host", "ftp://x:1"])
        .expect_err("bad scheme")
        .to_string();
    assert!(err.contains("scheme"), "{err}");
}

#[test]
fn the_defaults_are_the_flags_defaults_read_from_nothing() {
    let defaults = Config::defaults();
    assert_eq!(defaults.host.authority(), DEFAULT_SERVER_HOST);
    assert_eq!(defaults.shards, kv_core::store::DEFAULT_SHARDS);
    assert_eq!(defaults.data_dir, PathBuf::from("data"));
    assert!(!defaults.in_memory && defaults.auth_token.is_none() && defaults.command.is_none());
    // Where no KVSTORE_ variable is set, they are an empty command line's.
    let environment =
        std::env::vars_os().any(|(name, _)| name.to_string_lossy().starts_with("KVSTORE_"));
    if !environment {
        let parsed = Config::parse_from(["server"]).expect("no flags");
        assert_eq!(format!("{defaults:?}"), format!("{parsed:?}"));
    }
}
