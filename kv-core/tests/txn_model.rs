//! Property test: random transactions, in random batches, give the same
//! results and the same final state as a simple model.

use std::collections::BTreeMap;

use kv_core::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp, TxnResult};
use kv_core::{Command, Limits, Outcome, Store};
use proptest::prelude::*;

/// The model's view of a key: value, create_rev, mod_rev, version.
type ModelEntry = (Vec<u8>, u64, u64, u64);

#[derive(Debug, Default)]
struct Model {
    keys: BTreeMap<String, ModelEntry>,
    rev: u64,
}

fn holds<T: Ord + ?Sized>(op: CompareOp, left: &T, right: &T) -> bool {
    match op {
        CompareOp::Eq => left == right,
        CompareOp::Ne => left != right,
        CompareOp::Lt => left < right,
        CompareOp::Gt => left > right,
        CompareOp::Le => left <= right,
        CompareOp::Ge => left >= right,
    }
}

impl Model {
    fn compare(&self, c: &Compare) -> bool {
        let e = self.keys.get(&c.key);
        match &c.target {
            CompareTarget::ModRev(v) => holds(c.op, &e.map_or(0, |e| e.2), v),
            CompareTarget::CreateRev(v) => holds(c.op, &e.map_or(0, |e| e.1), v),
            CompareTarget::Version(v) => holds(c.op, &e.map_or(0, |e| e.3), v),
            CompareTarget::Value(v) => match e {
                Some(e) => holds(c.op, e.0.as_slice(), v.as_slice()),
                None => c.op == CompareOp::Ne,
            },
            CompareTarget::Exists(v) => holds(c.op, &e.is_some(), v),
        }
    }

    /// Runs a valid transaction; returns (succeeded, results as the model
    /// sees them: put created / delete deleted / get value).
    fn run(&mut self, txn: &Txn) -> (bool, Vec<String>) {
        let succeeded = txn.compare.iter().all(|c| self.compare(c));
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let next = self.rev + 1;
        let mut changed = false;
        let mut results = Vec::new();
        for op in ops {
            match op {
                TxnOp::Put { key, value, .. } => {
                    let prev = self.keys.get(key).cloned();
                    results.push(format!("put created={}", prev.is_none()));
                    let (create, version) = prev.map_or((next, 1), |p| (p.1, p.3 + 1));
                    self.keys
                        .insert(key.clone(), (value.clone(), create, next, version));
                    changed = true;
                }
                TxnOp::Delete { key } => {
                    let deleted = self.keys.remove(key).is_some();
                    results.push(format!("delete deleted={deleted}"));
                    changed |= deleted;
                }
                TxnOp::Get { key } => {
                    results.push(format!("get {:?}", self.keys.get(key)));
                }
            }
        }
        if changed {
            self.rev = next;
        }
        (succeeded, results)
    }
}

fn describe(result: &TxnResult) -> String {
    match result {
        TxnResult::Put { created } => format!("put created={created}"),
        TxnResult::Delete { deleted } => format!("delete deleted={deleted}"),
        TxnResult::Get { entry, .. } => format!(
            "get {:?}",
            entry
                .as_ref()
                .map(|e| (e.value().to_vec(), e.create_rev(), e.mod_rev(), e.version()))
        ),
    }
}

fn key() -> impl Strategy<Value = String> {
    "[a-d]"
}

fn compare() -> impl Strategy<Value = Compare> {
    let op = prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Lt),
        Just(CompareOp::Gt),
        Just(CompareOp::Le),
        Just(CompareOp::Ge),
    ];
    let target = prop_oneof![
        (0u64..8).prop_map(CompareTarget::ModRev),
        (0u64..8).prop_map(CompareTarget::CreateRev),
        (0u64..4).prop_map(CompareTarget::Version),
        proptest::collection::vec(0u8..3, 0..2).prop_map(CompareTarget::Value),
        any::<bool>().prop_map(CompareTarget::Exists),
    ];
    (key(), target, op).prop_map(|(key, target, op)| Compare { key, target, op })
}

fn op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        (key(), proptest::collection::vec(0u8..3, 0..2)).prop_map(|(key, value)| TxnOp::Put {
            key,
            value,
            content_type: None,
            expires_at: None,
        }),
        key().prop_map(|key| TxnOp::Delete { key }),
        key().prop_map(|key| TxnOp::Get { key }),
    ]
}

fn branch() -> impl Strategy<Value = Vec<TxnOp>> {
    proptest::collection::vec(op(), 0..5)
}

fn txn() -> impl Strategy<Value = Txn> {
    (
        proptest::collection::vec(compare(), 0..3),
        branch(),
        branch(),
    )
        .prop_map(|(compare, success, failure)| Txn {
            compare,
            success,
            failure,
        })
}

/// Whether a branch changes a key twice (the store refuses those).
fn changes_a_key_twice(ops: &[TxnOp]) -> bool {
    let mut seen = std::collections::HashSet::new();
    ops.iter()
        .any(|op| op.mutates() && !seen.insert(op.key().to_owned()))
}

proptest! {
    #[test]
    fn transactions_agree_with_a_model(
        batches in proptest::collection::vec(proptest::collection::vec(txn(), 1..4), 1..20),
    ) {
        let (store, mut writer) = Store::new(4, Limits::default()).expect("valid");
        let mut model = Model::default();
        for txns in batches {
            let batch = writer.prepare(txns.iter().cloned().map(Command::Txn), 0);
            for (txn, outcome) in txns.iter().zip(&batch.outcomes) {
                if changes_a_key_twice(&txn.success) || changes_a_key_twice(&txn.failure) {
                    prop_assert!(outcome.is_err(), "a double change was accepted: {:?}", txn);
                    continue;
                }
                let (succeeded, expected) = model.run(txn);
                match outcome {
                    Ok(Outcome::Txn { rev, succeeded: got, results }) => {
                        prop_assert_eq!(*got, succeeded);
                        prop_assert_eq!(*rev, model.rev);
                        let got: Vec<String> = results.iter().map(describe).collect();
                        prop_assert_eq!(got, expected);
                    }
                    other => prop_assert!(false, "{:?} gave {:?}", txn, other),
                }
            }
            writer.apply(&batch);
        }
        prop_assert_eq!(store.revision(), model.rev);
        prop_assert_eq!(store.len(), model.keys.len());
        for (key, (value, create, modr, version)) in &model.keys {
            let e = store.get(key, 0).expect("valid").expect("present");
            prop_assert_eq!((e.value(), e.create_rev(), e.mod_rev(), e.version()), (value.as_slice(), *create, *modr, *version));
        }
    }
}
