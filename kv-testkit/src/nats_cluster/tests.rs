//! A real three-node cluster: it forms, a killed node restarts and catches
//! up, and a stream's leadership moves when its leader is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

/// Creates an R3 file stream `name` on subjects `name.>` through `node`,
/// with the JetStream API over the NATS text protocol (no client library
/// needed for one request).
fn create_stream(cluster: &NatsCluster, node: usize, name: &str) {
    let stream = TcpStream::connect(("127.0.0.1", cluster.nodes[node].ports.client))
        .expect("connect to the node");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read INFO");
    assert!(line.starts_with("INFO"), "no INFO: {line:?}");
    let request = serde_json::json!({
        "name": name, "subjects": [format!("{name}.>")], "num_replicas": 3, "storage": "file"
    })
    .to_string();
    write!(
        writer,
        "CONNECT {{\"verbose\":false}}\r\nSUB _INBOX.create 1\r\n\
         PUB $JS.API.STREAM.CREATE.{name} _INBOX.create {}\r\n{request}\r\n",
        request.len()
    )
    .expect("send the request");
    // Skip PINGs and the like until the reply: `MSG subject sid size`.
    let size: usize = loop {
        line.clear();
        reader.read_line(&mut line).expect("read the reply");
        if let Some(header) = line.strip_prefix("MSG ") {
            let size = header.split_whitespace().last().expect("a size");
            break size.parse().expect("a numeric size");
        }
    };
    let mut reply = vec![0; size];
    reader.read_exact(&mut reply).expect("read the reply");
    let reply: serde_json::Value = serde_json::from_slice(&reply).expect("a JSON reply");
    assert!(
        reply.get("error").is_none(),
        "cannot create {name}: {reply}"
    );
}

#[test]
fn three_nodes_form_a_cluster_that_is_healthy() {
    let Some(mut cluster) = NatsCluster::start(3) else {
        return;
    };
    assert_eq!(cluster.nodes(), 3);
    assert_eq!(cluster.urls().split(',').count(), 3);
    assert!(cluster.urls().starts_with(&cluster.url(0)));
    for node in 0..3 {
        assert!(cluster.is_running(node));
        cluster.wait_healthy(node);
        assert!(cluster.log(node).contains("Server is ready"));
    }
}

#[test]
fn a_killed_node_restarts_on_its_ports_and_catches_up() {
    let Some(mut cluster) = NatsCluster::start(3) else {
        return;
    };
    // Not the meta leader: that would add an election (5 s or so).
    let meta_leader = cluster.meta_leader().expect("a meta leader after start");
    let node = (meta_leader + 1) % 3;
    let url = cluster.url(node);
    cluster.kill(node);
    assert!(!cluster.is_running(node));
    assert!(TcpStream::connect(("127.0.0.1", cluster.nodes[node].ports.client)).is_err());
    cluster.restart(node);
    assert!(cluster.is_running(node));
    assert_eq!(cluster.url(node), url);
    cluster.wait_healthy(node);
    let starts = format!("=== harness: starting n{}", node + 1);
    assert_eq!(cluster.log(node).matches(&starts).count(), 2);
    assert_eq!(cluster.meta_leader(), Some(meta_leader));
}

#[test]
fn a_streams_leadership_moves_when_its_leader_is_killed() {
    let Some(mut cluster) = NatsCluster::start(3) else {
        return;
    };
    create_stream(&cluster, 0, "KVT");
    let leader = cluster.wait_stream_leader("KVT");
    let killed_at = Instant::now();
    cluster.kill(leader);
    let next = cluster.wait_stream_leader("KVT");
    eprintln!(
        "stream leader n{} killed; n{} took over after {:?}",
        leader + 1,
        next + 1,
        killed_at.elapsed()
    );
    assert_ne!(next, leader);
    cluster.restart(leader);
    cluster.wait_healthy(leader);
    assert_eq!(cluster.stream_leader("KVT"), Some(next));
}
