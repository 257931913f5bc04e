//! The replicated log on a real `nats-server` with JetStream: appends are
//! acknowledged in order and deduplicated by id, readers never skip or
//! repeat a message (across a server restart too), trimming is reported,
//! and the snapshot bucket keeps the newest upload.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kv_pubsub::nats::{JetStreamLog, JetStreamSettings, ObjectSnapshots};
use kv_pubsub::replicated::{LogError, ReplicatedLog, SnapshotStore, Stored};
use kv_testkit::NatsServer;

const WAIT: Duration = Duration::from_secs(20);

fn open(server: &NatsServer) -> JetStreamLog {
    JetStreamLog::connect(JetStreamSettings {
        urls: server.url(),
        stream: "kvtest".into(),
        replicas: 1,
        ack_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    })
    .expect("connects and creates the stream")
}

/// Appends `ids` all at once and returns their acknowledgements in order.
fn append_all(log: &JetStreamLog, ids: &[String]) -> Vec<Stored> {
    let (tx, rx) = mpsc::channel();
    for (i, id) in ids.iter().enumerate() {
        let tx = tx.clone();
        log.append(
            id,
            format!("payload {id}").as_bytes(),
            Box::new(move |outcome| {
                let _ = tx.send((i, outcome));
            }),
        );
    }
    let mut acks = vec![None; ids.len()];
    for _ in ids {
        let (i, outcome) = rx.recv_timeout(WAIT).expect("every append is answered");
        acks[i] = Some(outcome.expect("stored"));
    }
    acks.into_iter().map(|a| a.expect("answered")).collect()
}

/// Reads `count` messages from `reader`, failing if one takes too long.
fn read(reader: &mut dyn kv_pubsub::replicated::LogReader, count: usize) -> Vec<(u64, Vec<u8>)> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "read only {} of {count}",
            out.len()
        );
        if let Some(m) = reader.next(Duration::from_millis(500)).expect("readable") {
            out.push((m.seq, m.payload));
        }
    }
    out
}

#[test]
fn appends_are_ordered_deduplicated_and_read_back_without_gaps() {
    let Some(server) = NatsServer::start_jetstream() else {
        return;
    };
    let log = open(&server);
    let ids: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let acks = append_all(&log, &ids);
    let mut seqs: Vec<u64> = acks.iter().map(|a| a.seq).collect();
    assert!(acks.iter().all(|a| !a.duplicate));
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());

    // A repeat of an id answers with the first message's sequence.
    let again = append_all(&log, &ids[7..8]);
    assert_eq!(
        again[0],
        Stored {
            seq: acks[7].seq,
            duplicate: true
        }
    );

    let mut reader = log.reader(1);
    let read_back = read(reader.as_mut(), 200);
    for (i, (seq, payload)) in read_back.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        let id = &ids[acks
            .iter()
            .position(|a| a.seq == *seq)
            .expect("acknowledged")];
        assert_eq!(payload, format!("payload {id}").as_bytes());
    }
    assert_eq!(reader.next_seq(), 201);

    // From the middle, and nothing more once at the end.
    let mut middle = log.reader(150);
    assert_eq!(read(middle.as_mut(), 51)[0].0, 150);
    assert_eq!(middle.next(Duration::from_millis(300)), Ok(None));
    let bounds = log.bounds().expect("bounds");
    assert_eq!((bounds.first_seq, bounds.last_seq), (1, 200));
}

#[test]
fn a_reader_goes_on_across_a_server_restart() {
    let Some(mut server) = NatsServer::start_jetstream() else {
        return;
    };
    let log = open(&server);
    let first: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    append_all(&log, &first);
    let mut reader = log.reader(1);
    assert_eq!(read(reader.as_mut(), 5).last().map(|m| m.0), Some(5));
    server.restart();
    // Appends fail until the client has reconnected; retry each with its
    // id, as the server's proposer does.
    let second: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    let deadline = Instant::now() + WAIT;
    for id in &second {
        loop {
            let (tx, rx) = mpsc::channel();
            log.append(id, b"after", Box::new(move |o| drop(tx.send(o))));
            if rx.recv_timeout(WAIT).expect("answered").is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "appends did not resume");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let rest = read(reader.as_mut(), 15);
    let seqs: Vec<u64> = rest.iter().map(|m| m.0).collect();
    assert_eq!(seqs, (6..=20).collect::<Vec<_>>());
}

#[test]
fn a_trimmed_log_says_so_to_a_reader_that_needs_what_is_gone() {
    let Some(server) = NatsServer::start_jetstream() else {
        return;
    };
    let log = open(&server);
    let ids: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
    append_all(&log, &ids);
    log.trim_before(21).expect("trimmed");
    let bounds = log.bounds().expect("bounds");
    assert_eq!((bounds.first_seq, bounds.last_seq), (21, 30));
    let mut reader = log.reader(21);
    assert_eq!(read(reader.as_mut(), 10)[0].0, 21);
    let mut behind = log.reader(5);
    let deadline = Instant::now() + WAIT;
    loop {
        match behind.next(Duration::from_millis(500)) {
            Err(LogError::Trimmed { wanted, first_seq }) => {
                assert_eq!((wanted, first_seq), (5, 21));
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "expected a trimmed error, got {other:?}"
            ),
        }
    }
}

#[test]
fn the_snapshot_bucket_keeps_the_newest_upload() {
    let Some(server) = NatsServer::start_jetstream() else {
        return;
    };
    let log = open(&server);
    let snapshots = ObjectSnapshots::open(&log, "kvtest", 1).expect("bucket");
    assert_eq!(snapshots.newest(), Ok(None));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    snapshots
        .upload("first", &mut big.as_slice())
        .expect("uploaded");
    snapshots
        .upload("second", &mut &b"small"[..])
        .expect("uploaded");
    assert_eq!(snapshots.newest(), Ok(Some("second".into())));
    let (description, mut data) = snapshots.download().expect("reachable").expect("held");
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).expect("downloads");
    assert_eq!(
        (description.as_str(), bytes.as_slice()),
        ("second", &b"small"[..])
    );
    // Another replica opening the bucket sees the same.
    let reopened = ObjectSnapshots::open(&log, "kvtest", 1).expect("bucket");
    assert_eq!(reopened.newest(), Ok(Some("second".into())));
}
