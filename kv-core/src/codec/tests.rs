//! The codec's tests: round trips, torn and corrupt input.

use super::*;
use std::sync::Arc;

fn entry(key: &str, value: &[u8], create_rev: u64, mod_rev: u64, version: u64) -> Entry {
    let meta = Meta {
        create_rev,
        mod_rev,
        version,
        content_type: None,
        expires_at: None,
    };
    Entry::new(key, value, meta)
}

#[test]
fn headers_round_trip_and_reject_strangers() {
    let header = file_header(SEGMENT_MAGIC);
    assert_eq!(check_file_header(&header, SEGMENT_MAGIC), Ok(()));
    assert!(check_file_header(&header, SNAPSHOT_MAGIC).is_err());
    assert!(check_file_header(&header[..10], SEGMENT_MAGIC).is_err());
    let mut future = header;
    future[8] = 3;
    let err = check_file_header(&future, SEGMENT_MAGIC).expect_err("version 3");
    assert!(err.to_string().contains("version 3"), "{err}");
    let mut older = header;
    older[8] = 1;
    let err = check_file_header(&older, SEGMENT_MAGIC).expect_err("version 1");
    assert!(err.to_string().contains("format version 1"), "{err}");
}

#[test]
fn log_records_round_trip_binary_keys_and_values() {
    let put = Entry::new(
        "ключ/with space",
        &[0, 255, 10, 13],
        Meta {
            create_rev: 3,
            mod_rev: 7,
            version: 2,
            content_type: Some("image/png"),
            expires_at: None,
        },
    );
    let changes = vec![
        Change {
            rev: 7,
            key: Arc::from("ключ/with space"),
            kind: ChangeKind::Put(put.clone()),
            prev: None,
        },
        Change {
            rev: 8,
            key: Arc::from("gone"),
            kind: ChangeKind::Remove,
            prev: None,
        },
    ];
    let mut buf = Vec::new();
    encode_changes(&changes, &mut buf);
    let Frame::Complete { payload, len } = decode_frame(&buf) else {
        panic!("first frame");
    };
    let first = decode_log_record(payload).expect("decodes");
    assert_eq!(
        first,
        LogRecord {
            rev: 7,
            ops: vec![LogOp::Put(put)],
        }
    );
    let Frame::Complete { payload, len: len2 } = decode_frame(&buf[len..]) else {
        panic!("second frame");
    };
    assert_eq!(len + len2, buf.len());
    let second = decode_log_record(payload).expect("decodes");
    assert_eq!(second.ops, vec![LogOp::Remove { key: "gone".into() }]);
}

/// The payload after the frame header, checking the header.
fn payload_of(frame: &[u8]) -> &[u8] {
    let Frame::Complete { payload, len } = decode_frame(frame) else {
        panic!("not a frame: {frame:?}");
    };
    assert_eq!(len, frame.len());
    payload
}

/// Pins the on-disk layout byte for byte: data directories written by
/// earlier releases must keep opening.
#[test]
fn the_record_layouts_on_disk_are_unchanged() {
    let entry = Entry::new(
        "k1",
        b"val",
        Meta {
            create_rev: 3,
            mod_rev: 7,
            version: 2,
            content_type: Some("t/x"),
            expires_at: Some(0x0102),
        },
    );
    let mut log = Vec::new();
    encode_changes(
        &[Change {
            rev: 7,
            key: Arc::from("k1"),
            kind: ChangeKind::Put(entry.clone()),
            prev: None,
        }],
        &mut log,
    );
    #[rustfmt::skip]
    let expected_log: &[u8] = &[
        7, 0, 0, 0, 0, 0, 0, 0, // revision
        1, 0, 0, 0, // one op
        1, // put
        2, 0, 0, 0, b'k', b'1', // key
        3, 0, 0, 0, 0, 0, 0, 0, // create_rev
        2, 0, 0, 0, 0, 0, 0, 0, // version
        3, 0, 0, 0, b'v', b'a', b'l', // value
        3, 0, 0, 0, b't', b'/', b'x', // content type
        2, 1, 0, 0, 0, 0, 0, 0, // expires_at
    ];
    assert_eq!(payload_of(&log), expected_log);
    let mut snapshot = Vec::new();
    encode_snapshot_entry(&entry, &mut snapshot);
    #[rustfmt::skip]
    let expected_snapshot: &[u8] = &[
        2, // entry
        2, 0, 0, 0, b'k', b'1', // key
        3, 0, 0, 0, 0, 0, 0, 0, // create_rev
        7, 0, 0, 0, 0, 0, 0, 0, // mod_rev
        2, 0, 0, 0, 0, 0, 0, 0, // version
        3, 0, 0, 0, b'v', b'a', b'l', // value
        3, 0, 0, 0, b't', b'/', b'x', // content type
        2, 1, 0, 0, 0, 0, 0, 0, // expires_at
    ];
    assert_eq!(payload_of(&snapshot), expected_snapshot);
}

#[test]
fn changes_sharing_a_revision_share_a_record() {
    let change = |key: &str| Change {
        rev: 5,
        key: Arc::from(key),
        kind: ChangeKind::Remove,
        prev: None,
    };
    let mut buf = Vec::new();
    encode_changes(&[change("a"), change("b")], &mut buf);
    let Frame::Complete { payload, len } = decode_frame(&buf) else {
        panic!("frame");
    };
    assert_eq!(len, buf.len());
    assert_eq!(decode_log_record(payload).expect("decodes").ops.len(), 2);
}

#[test]
fn every_truncation_is_incomplete_and_every_bit_flip_is_caught() {
    let mut buf = Vec::new();
    encode_snapshot_entry(&entry("k", b"value", 1, 2, 3), &mut buf);
    for cut in 0..buf.len() {
        assert_eq!(decode_frame(&buf[..cut]), Frame::Incomplete, "cut at {cut}");
    }
    for bit in 0..buf.len() * 8 {
        let mut damaged = buf.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        match decode_frame(&damaged) {
            Frame::Complete { payload, .. } => {
                panic!("flip of bit {bit} went unnoticed: {payload:?}")
            }
            Frame::Incomplete | Frame::Corrupt => {}
        }
    }
}

#[test]
fn snapshot_items_round_trip() {
    let mut buf = Vec::new();
    encode_snapshot_begin(10, &mut buf);
    encode_snapshot_entry(&entry("k", b"v", 1, 9, 4), &mut buf);
    encode_snapshot_end(1, 12, &mut buf);
    let mut items = Vec::new();
    let mut rest = &buf[..];
    while let Frame::Complete { payload, len } = decode_frame(rest) {
        items.push(decode_snapshot_item(payload).expect("decodes"));
        rest = &rest[len..];
    }
    assert!(rest.is_empty());
    assert_eq!(
        items,
        vec![
            SnapshotItem::Begin { start_rev: 10 },
            SnapshotItem::Entry(entry("k", b"v", 1, 9, 4)),
            SnapshotItem::End {
                count: 1,
                end_rev: 12
            },
        ]
    );
}

#[test]
fn malformed_payloads_are_errors_not_panics() {
    for payload in [&[][..], &[9], &[1, 2, 3], &[2, 255, 255, 255, 255]] {
        assert!(decode_snapshot_item(payload).is_err());
        assert!(decode_log_record(payload).is_err());
    }
}
