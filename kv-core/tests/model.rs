//! Property test: random sequences of set/rm, in random batches, agree with a
//! `HashMap` model; revisions strictly increase; `ejected_val` is always the
//! previous value.

use std::collections::HashMap;

use kv_core::{Command, Limits, Outcome, Store};
use proptest::prelude::*;

fn command() -> impl Strategy<Value = Command> {
    // A small key space so that keys are overwritten and removed often.
    let key = "[a-e]{1,2}";
    prop_oneof![
        (key, proptest::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(key, value)| Command::set(key, value)),
        key.prop_map(Command::rm),
    ]
}

proptest! {
    #[test]
    fn store_agrees_with_a_hashmap_model(
        batches in proptest::collection::vec(proptest::collection::vec(command(), 1..6), 1..40),
        shards_log2 in 0u32..5,
    ) {
        let (store, mut writer) = Store::new(1 << shards_log2, Limits::default()).expect("valid");
        let mut model: HashMap<String, Vec<u8>> = HashMap::new();
        let mut last_rev = 0u64;
        for commands in batches {
            let batch = writer.prepare(commands.clone(), 0);
            for (command, outcome) in commands.into_iter().zip(&batch.outcomes) {
                match (command, outcome.as_ref().expect("valid command")) {
                    (Command::Set { key, value, .. }, Outcome::Set { rev, prev }) => {
                        prop_assert!(*rev > last_rev, "revision went from {} to {}", last_rev, rev);
                        last_rev = *rev;
                        let old = model.insert(key, value);
                        prop_assert_eq!(prev.as_ref().map(|e| e.value().to_vec()), old);
                    }
                    (Command::Rm { key, .. }, Outcome::Rm { rev, removed }) => {
                        let old = model.remove(&key);
                        if old.is_some() {
                            prop_assert!(*rev > last_rev);
                            last_rev = *rev;
                        } else {
                            prop_assert_eq!(*rev, last_rev);
                        }
                        prop_assert_eq!(removed.as_ref().map(|e| e.value().to_vec()), old);
                    }
                    (command, outcome) => prop_assert!(false, "{:?} gave {:?}", command, outcome),
                }
            }
            // One change per revision, consecutive.
            for pair in batch.changes.windows(2) {
                prop_assert_eq!(pair[1].rev, pair[0].rev + 1);
            }
            writer.apply(&batch);
            prop_assert_eq!(store.revision(), last_rev);
        }
        prop_assert_eq!(store.len(), model.len());
        for (key, value) in &model {
            let entry = store.get(key, 0).expect("valid key").expect("present");
            prop_assert_eq!(entry.value(), &value[..]);
        }
    }
}
