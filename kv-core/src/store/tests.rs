//! The store's tests: evaluation, application, replay, expiry, limits.

use crate::codec::{LogOp, LogRecord};
use crate::command::{Command, Condition, Outcome};
use crate::entry::{Entry, Meta};
use crate::error::{CoreError, Result};
use crate::limits::Limits;
use crate::store::{Store, StoreWriter, MAX_SHARDS};

fn set(key: &str, value: &str) -> Command {
    Command::set(key, value.as_bytes())
}

fn rm(key: &str) -> Command {
    Command::rm(key)
}

fn new_store() -> (Store, StoreWriter) {
    Store::new(4, Limits::default()).expect("valid shard count")
}

/// The time every batch and read of these tests happens at.
const NOW: u64 = 1_700_000_000_000;

fn commit(writer: &mut StoreWriter, commands: Vec<Command>) -> Vec<Result<Outcome>> {
    let batch = writer.prepare(commands, NOW);
    writer.apply(&batch);
    batch.outcomes
}

#[test]
fn shard_count_must_be_a_power_of_two() {
    for bad in [0, 3, 6, MAX_SHARDS * 2] {
        assert_eq!(
            Store::new(bad, Limits::default()).err(),
            Some(CoreError::InvalidShardCount(bad))
        );
    }
    assert!(Store::new(1, Limits::default()).is_ok());
}

#[test]
fn set_returns_previous_and_tracks_metadata() {
    let (store, mut writer) = new_store();
    let out = commit(&mut writer, vec![set("a", "1")]);
    assert_eq!(out, vec![Ok(Outcome::Set { rev: 1, prev: None })]);
    commit(&mut writer, vec![set("b", "x")]);
    let out = commit(&mut writer, vec![set("a", "2")]);
    let Ok(Outcome::Set {
        rev,
        prev: Some(prev),
    }) = &out[0]
    else {
        panic!("unexpected {out:?}");
    };
    assert_eq!((*rev, prev.value()), (3, &b"1"[..]));
    let a = store.get("a", NOW).expect("valid key").expect("present");
    assert_eq!((a.create_rev(), a.mod_rev(), a.version()), (1, 3, 2));
    assert_eq!(a.value(), b"2");
    assert_eq!(store.revision(), 3);
}

#[test]
fn rm_of_missing_key_commits_nothing() {
    let (store, mut writer) = new_store();
    let out = commit(&mut writer, vec![rm("nope")]);
    assert_eq!(
        out,
        vec![Ok(Outcome::Rm {
            rev: 0,
            removed: None
        })]
    );
    assert_eq!(store.revision(), 0);
}

#[test]
fn recreated_key_starts_a_new_history() {
    let (store, mut writer) = new_store();
    commit(
        &mut writer,
        vec![set("k", "1"), set("k", "2"), rm("k"), set("k", "3")],
    );
    let k = store.get("k", NOW).expect("valid").expect("present");
    assert_eq!((k.create_rev(), k.mod_rev(), k.version()), (4, 4, 1));
}

#[test]
fn a_batch_sees_its_own_earlier_commands() {
    let (store, mut writer) = new_store();
    let batch = writer.prepare(vec![set("k", "1"), set("k", "2"), rm("k"), rm("k")], NOW);
    // Nothing is visible before apply.
    assert_eq!(store.get("k", NOW), Ok(None));
    assert_eq!(store.revision(), 0);
    let revs: Vec<u64> = batch.changes.iter().map(|c| c.rev).collect();
    assert_eq!(revs, vec![1, 2, 3]);
    let Ok(Outcome::Rm {
        removed: Some(e), ..
    }) = &batch.outcomes[2]
    else {
        panic!("unexpected {:?}", batch.outcomes[2]);
    };
    assert_eq!(e.value(), b"2");
    assert_eq!(
        batch.outcomes[3],
        Ok(Outcome::Rm {
            rev: 3,
            removed: None
        })
    );
    writer.apply(&batch);
    assert_eq!(store.get("k", NOW), Ok(None));
    assert_eq!(store.revision(), 3);
}

#[test]
fn replay_is_idempotent_and_skips_older_ops() {
    let (store, mut writer) = new_store();
    let meta = |rev| Meta {
        create_rev: 1,
        mod_rev: rev,
        version: rev,
        content_type: None,
        expires_at: None,
    };
    let put = |rev, value: &str| LogRecord {
        rev,
        ops: vec![LogOp::Put(Entry::new("k", value.as_bytes(), meta(rev)))],
    };
    let remove = |rev| LogRecord {
        rev,
        ops: vec![LogOp::Remove { key: "k".into() }],
    };
    // A fuzzy snapshot caught the key at revision 3.
    writer.load(Entry::new("k", b"three", meta(3)));
    for record in [put(2, "two"), put(3, "three"), remove(1)] {
        writer.replay(record);
    }
    assert_eq!(
        store.get("k", NOW).expect("valid").expect("kept").value(),
        b"three"
    );
    writer.replay(put(4, "four"));
    writer.replay(put(4, "four"));
    assert_eq!(
        store
            .get("k", NOW)
            .expect("valid")
            .expect("present")
            .mod_rev(),
        4
    );
    writer.replay(remove(5));
    assert_eq!(store.get("k", NOW), Ok(None));
    assert_eq!(store.revision(), 5);
    assert_eq!(store.live_bytes(), 0);
}

#[test]
fn live_bytes_follow_sets_and_removes() {
    let (store, mut writer) = new_store();
    commit(&mut writer, vec![set("ab", "123"), set("c", "4")]);
    assert_eq!(store.live_bytes(), 7);
    commit(&mut writer, vec![set("ab", "1"), rm("c")]);
    assert_eq!(store.live_bytes(), 3);
    let mut copied = Vec::new();
    store
        .copy_shards(|shard| {
            copied.extend(shard);
            Ok::<(), ()>(())
        })
        .expect("copy");
    assert_eq!(copied.len(), 1);
    assert_eq!(copied[0].key(), "ab");
}

#[test]
fn conditions_guard_sets_and_removes() {
    let (store, mut writer) = new_store();
    let with = |command: Command, condition| match command {
        Command::Set {
            key,
            value,
            content_type,
            expires_at,
            ..
        } => Command::Set {
            key,
            value,
            content_type,
            expires_at,
            condition,
        },
        Command::Rm { key, .. } => Command::Rm { key, condition },
        other => other,
    };
    let out = commit(
        &mut writer,
        vec![
            with(set("k", "1"), Condition::Absent),
            with(set("k", "2"), Condition::Absent),
            with(set("k", "3"), Condition::ModRev(1)),
            with(set("k", "4"), Condition::ModRev(1)),
            with(rm("k"), Condition::ModRev(2)),
            with(rm("gone"), Condition::Exists),
        ],
    );
    assert!(matches!(out[0], Ok(Outcome::Set { rev: 1, .. })));
    assert_eq!(
        out[1],
        Err(CoreError::ConditionFailed {
            mod_rev: Some(1),
            rev: 1
        })
    );
    assert!(matches!(out[2], Ok(Outcome::Set { rev: 2, .. })));
    assert_eq!(
        out[3],
        Err(CoreError::ConditionFailed {
            mod_rev: Some(2),
            rev: 2
        })
    );
    assert!(matches!(
        out[4],
        Ok(Outcome::Rm {
            rev: 3,
            removed: Some(_)
        })
    ));
    assert_eq!(
        out[5],
        Err(CoreError::ConditionFailed {
            mod_rev: None,
            rev: 3
        })
    );
    assert_eq!(store.get("k", NOW), Ok(None));
    assert_eq!(store.revision(), 3);
}

#[test]
fn a_prefix_removal_is_one_revision_and_sees_the_batch() {
    let (store, mut writer) = new_store();
    commit(
        &mut writer,
        vec![set("p/1", "a"), set("p/2", "b"), set("q", "c")],
    );
    let out = commit(
        &mut writer,
        vec![
            set("p/3", "new"),
            rm("p/1"),
            Command::RmPrefix {
                prefix: "p/".into(),
            },
            Command::RmPrefix {
                prefix: "p/".into(),
            },
        ],
    );
    assert_eq!(out[2], Ok(Outcome::RmPrefix { rev: 6, removed: 2 }));
    assert_eq!(out[3], Ok(Outcome::RmPrefix { rev: 6, removed: 0 }));
    assert_eq!(store.len(), 1);
    assert!(store.get("q", NOW).expect("valid").is_some());
    assert_eq!(store.revision(), 6);
}

#[test]
fn expired_keys_read_as_missing_and_expire_once() {
    let (store, mut writer) = new_store();
    let past = NOW - 1;
    let with_expiry = |key: &str, at| Command::Set {
        key: key.into(),
        value: b"v".to_vec(),
        content_type: None,
        expires_at: Some(at),
        condition: Condition::Always,
    };
    commit(
        &mut writer,
        vec![
            with_expiry("old", past),
            with_expiry("later", past + 3_600_000),
        ],
    );
    assert_eq!(
        store.get("old", NOW),
        Ok(None),
        "an expired value is never read"
    );
    assert!(store.get("later", NOW).expect("valid").is_some());
    // A set on an expired key starts a new history.
    let out = commit(
        &mut writer,
        vec![Command::Expire {
            key: "old".into(),
            mod_rev: 1,
        }],
    );
    assert_eq!(
        out[0],
        Ok(Outcome::Expire {
            rev: 3,
            expired: true
        })
    );
    let again = commit(
        &mut writer,
        vec![Command::Expire {
            key: "old".into(),
            mod_rev: 1,
        }],
    );
    assert_eq!(
        again[0],
        Ok(Outcome::Expire {
            rev: 3,
            expired: false
        })
    );
    // Not yet due: nothing happens.
    let early = commit(
        &mut writer,
        vec![Command::Expire {
            key: "later".into(),
            mod_rev: 2,
        }],
    );
    assert_eq!(
        early[0],
        Ok(Outcome::Expire {
            rev: 3,
            expired: false
        })
    );
    assert_eq!(writer.expiries().len(), 1);
}

#[test]
fn invalid_commands_fail_alone() {
    let limits = Limits {
        max_key_bytes: 3,
        max_value_bytes: 3,
    };
    let (store, mut writer) = Store::new(2, limits).expect("valid");
    let out = commit(
        &mut writer,
        vec![
            set("", "v"),
            set("long", "v"),
            set("k", "long"),
            set("k", "ok"),
        ],
    );
    assert_eq!(out[0], Err(CoreError::EmptyKey));
    assert_eq!(out[1], Err(CoreError::KeyTooLong { len: 4, max: 3 }));
    assert_eq!(out[2], Err(CoreError::ValueTooLarge { len: 4, max: 3 }));
    assert_eq!(out[3], Ok(Outcome::Set { rev: 1, prev: None }));
    assert_eq!(store.len(), 1);
    assert_eq!(store.get("", NOW), Err(CoreError::EmptyKey));
}

#[test]
fn same_state_gives_same_digest_whatever_the_path() {
    let (a, mut wa) = new_store();
    let (b, mut wb) = new_store();
    commit(&mut wa, vec![set("x", "1"), set("y", "2"), rm("x")]);
    commit(&mut wb, vec![set("x", "1")]);
    commit(&mut wb, vec![set("y", "2")]);
    commit(&mut wb, vec![rm("x")]);
    assert_eq!(a.summary(), b.summary());
    assert_eq!(a.summary().rev, 3);
    assert_ne!(a.summary().digest, 0);
    commit(&mut wb, vec![set("y", "3")]);
    assert_ne!(a.summary().digest, b.summary().digest);
    commit(&mut wb, vec![rm("y")]);
    assert_eq!(b.summary().digest, 0, "an empty store digests to zero");
}
