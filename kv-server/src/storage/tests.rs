//! Storage tests across modules: reopen, truncation at any byte, repair.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use kv_core::{Command, Limits, Store, StoreWriter};
use proptest::prelude::*;

use crate::storage::commit_log::CommitLog;
use crate::storage::durable_log::{DurableLog, LogSettings};
use crate::storage::{DataDir, FsyncPolicy, StorageError, StorageStatus};

type Model = BTreeMap<String, Vec<u8>>;

fn settings(policy: FsyncPolicy) -> LogSettings {
    LogSettings {
        policy,
        segment_bytes: 1 << 30,
        compact_min_bytes: 1 << 30,
        compact_ratio: 2.0,
    }
}

fn open(
    dir: &Path,
    policy: FsyncPolicy,
    repair: bool,
) -> Result<(Store, StoreWriter, DurableLog), StorageError> {
    let (store, mut writer) = Store::new(4, Limits::default()).expect("valid");
    let data = Arc::new(DataDir::open(dir)?);
    let status = Arc::new(StorageStatus::durable(policy));
    let log = DurableLog::open(data, &mut writer, settings(policy), status, repair)?;
    Ok((store, writer, log))
}

fn contents(store: &Store) -> Model {
    let mut model = Model::new();
    store
        .copy_shards(|shard| {
            model.extend(
                shard
                    .into_iter()
                    .map(|e| (e.key().to_owned(), e.value().to_vec())),
            );
            Ok::<(), ()>(())
        })
        .expect("copy");
    model
}

/// Commits `batches` the way the pipeline does and returns the state after
/// every revision: `states[rev]`.
fn commit_all(
    writer: &mut StoreWriter,
    log: &mut DurableLog,
    batches: Vec<Vec<Command>>,
) -> Vec<Model> {
    let mut states = vec![Model::new()];
    let mut model = Model::new();
    for commands in batches {
        let batch = writer.prepare(commands, 0);
        log.commit(&batch).expect("commit");
        writer.apply(&batch);
        for change in &batch.changes {
            match &change.kind {
                kv_core::ChangeKind::Put(entry) => {
                    model.insert(change.key.to_string(), entry.value().to_vec());
                }
                kv_core::ChangeKind::Remove | kv_core::ChangeKind::Expire => {
                    model.remove(&*change.key);
                }
            }
            assert_eq!(states.len() as u64, change.rev);
            states.push(model.clone());
        }
    }
    states
}

fn command() -> impl Strategy<Value = Command> {
    let key = "[a-d]{1,2}";
    prop_oneof![
        3 => (key, proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(key, value)| Command::set(key, value)),
        1 => key.prop_map(Command::rm),
    ]
}

#[test]
fn reopening_finds_exactly_what_was_written_for_each_policy() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, mut writer, mut log) = open(tmp.path(), policy, false).expect("open");
        let batches = (0..50)
            .map(|i| {
                vec![
                    Command::set(format!("k{}", i % 7), vec![i as u8; i]),
                    Command::rm(format!("k{}", (i + 3) % 7)),
                ]
            })
            .collect();
        let states = commit_all(&mut writer, &mut log, batches);
        log.close().expect("close");
        let expected = (contents(&store), store.revision());
        assert_eq!(&expected.0, states.last().expect("states"));
        drop((store, writer, log));
        let (store, _writer, _log) = open(tmp.path(), policy, false).expect("reopen");
        assert_eq!((contents(&store), store.revision()), expected, "{policy}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random operations, then the log cut at a random byte: recovery gives
    /// exactly the state after some prefix of the operations (the one its
    /// revision names), and never panics.
    #[test]
    fn truncation_at_any_byte_recovers_a_prefix(
        batches in proptest::collection::vec(proptest::collection::vec(command(), 1..5), 1..25),
        cut_fraction in 0.0f64..=1.0,
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let states = {
            let (_store, mut writer, mut log) = open(tmp.path(), FsyncPolicy::No, false).expect("open");
            let states = commit_all(&mut writer, &mut log, batches);
            log.close().expect("close");
            states
        };
        let data = DataDir::open(tmp.path()).expect("dir");
        let segments = data.segments().expect("list");
        drop(data);
        prop_assert_eq!(segments.len(), 1);
        let path = &segments[0].1;
        let len = std::fs::metadata(path).expect("stat").len();
        let cut = (len as f64 * cut_fraction) as u64;
        OpenOptions::new().write(true).open(path).expect("open").set_len(cut).expect("truncate");

        let (store, _writer, _log) = open(tmp.path(), FsyncPolicy::No, false).expect("recovers");
        let rev = store.revision() as usize;
        prop_assert!(rev < states.len());
        prop_assert_eq!(&contents(&store), &states[rev]);
        if cut == len {
            prop_assert_eq!(rev, states.len() - 1);
        }
    }
}

#[test]
fn repair_keeps_the_prefix_and_the_cut_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let (_store, mut writer, mut log) = open(tmp.path(), FsyncPolicy::No, false).expect("open");
        let batches = (0..10)
            .map(|i| vec![Command::set(format!("k{i}"), "value")])
            .collect();
        commit_all(&mut writer, &mut log, batches);
        log.close().expect("close");
    }
    let segment = tmp.path().join(format!("{:020}.log", 1));
    let mut bytes = std::fs::read(&segment).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, &bytes).expect("write");

    let err = open(tmp.path(), FsyncPolicy::No, false).expect_err("refuses to start");
    let StorageError::Corrupt { file, offset, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!(file, &segment);
    assert!(*offset <= middle as u64);
    assert!(err.to_string().contains("--repair"), "{err}");

    let (store, _writer, _log) = open(tmp.path(), FsyncPolicy::No, true).expect("repairs");
    let kept = store.revision();
    assert!((1..10).contains(&kept), "kept {kept}");
    assert_eq!(store.len() as u64, kept);
    let damaged: Vec<_> = std::fs::read_dir(tmp.path().join("damaged"))
        .expect("damaged/")
        .collect();
    assert_eq!(damaged.len(), 1);
    let cut = std::fs::read(damaged[0].as_ref().expect("entry").path()).expect("read cut");
    assert_eq!(cut, bytes[*offset as usize..]);
}
