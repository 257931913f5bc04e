//! kv-core alone, as an in-process store: one writer thread owns the
//! [`StoreWriter`], worker threads send it commands and read the store
//! directly. Shows revisions, compare-and-set retries, a transaction, a
//! time to live and a listing.
//!
//! ```text
//! cargo run -p kv-core --example in_process
//! ```

use std::sync::mpsc;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use kv_core::store::listing::{ListItem, ListQuery};
use kv_core::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp};
use kv_core::{Command, Condition, CoreError, Limits, Outcome, Store, StoreWriter};

/// A command for the writer, with where to send its outcome.
type Request = (Command, mpsc::Sender<Result<Outcome, CoreError>>);

/// kv-core reads no clock: the program passes the time.
fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0, |d| d.as_millis() as u64)
}

/// The single writer: takes whatever commands are queued as one batch
/// (a durable log would be written between `prepare` and `apply`).
fn writer_loop(mut writer: StoreWriter, requests: mpsc::Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let queued: Vec<Request> = std::iter::once(first).chain(requests.try_iter()).collect();
        let (commands, replies): (Vec<_>, Vec<_>) = queued.into_iter().unzip();
        let batch = writer.prepare(commands, now_ms());
        writer.apply(&batch);
        for (reply, outcome) in replies.into_iter().zip(batch.outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

fn submit(writer: &mpsc::Sender<Request>, command: Command) -> Result<Outcome, CoreError> {
    let (reply, outcome) = mpsc::channel();
    writer.send((command, reply)).expect("the writer runs");
    outcome.recv().expect("the writer answers")
}

/// Adds one to the counter under `key` with compare-and-set, retrying when
/// another thread got there first. Returns how many retries it took.
fn increment(store: &Store, writer: &mpsc::Sender<Request>, key: &str) -> u32 {
    for retries in 0.. {
        let current = store.get(key, now_ms()).expect("a valid key");
        let (value, condition) = match &current {
            Some(entry) => {
                let n: u64 = std::str::from_utf8(entry.value()).unwrap().parse().unwrap();
                (n + 1, Condition::ModRev(entry.mod_rev()))
            }
            None => (1, Condition::Absent),
        };
        let set = Command::Set {
            key: key.into(),
            value: value.to_string().into_bytes(),
            content_type: None,
            expires_at: None,
            condition,
        };
        match submit(writer, set) {
            Ok(_) => return retries,
            Err(CoreError::ConditionFailed { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    unreachable!()
}

fn main() -> Result<(), CoreError> {
    let (store, writer) = Store::new(16, Limits::default())?;
    let (requests, queue) = mpsc::channel();
    let writer_thread = thread::spawn(move || writer_loop(writer, queue));

    // Four threads, 250 increments each, on one counter: no update lost.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (store, requests) = (store.clone(), requests.clone());
            thread::spawn(move || {
                (0..250)
                    .map(|_| increment(&store, &requests, "hits"))
                    .sum::<u32>()
            })
        })
        .collect();
    let retries: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let hits = store.get("hits", now_ms())?.expect("counted");
    println!(
        "hits = {} at revision {} ({} versions, {retries} compare-and-set retries)",
        String::from_utf8_lossy(hits.value()),
        hits.mod_rev(),
        hits.version()
    );
    assert_eq!(hits.value(), b"1000");

    // A transaction: move 1 from stock to sold, only if stock is unchanged.
    submit(&requests, Command::set("shop/stock", "10"))?;
    let stock = store.get("shop/stock", now_ms())?.expect("set");
    let sell = Txn {
        compare: vec![Compare {
            key: "shop/stock".into(),
            target: CompareTarget::ModRev(stock.mod_rev()),
            op: CompareOp::Eq,
        }],
        success: vec![
            TxnOp::Put {
                key: "shop/stock".into(),
                value: b"9".to_vec(),
                content_type: None,
                expires_at: None,
            },
            TxnOp::Put {
                key: "shop/sold".into(),
                value: b"1".to_vec(),
                content_type: None,
                expires_at: None,
            },
        ],
        failure: vec![],
    };
    if let Outcome::Txn { succeeded, rev, .. } = submit(&requests, Command::Txn(sell))? {
        println!("sale committed: {succeeded}, both keys at revision {rev}");
    }

    // A time to live: the key is gone for reads once its deadline passes.
    let deadline = now_ms() + 50;
    submit(
        &requests,
        Command::Set {
            key: "shop/offer".into(),
            value: b"half price".to_vec(),
            content_type: Some("text/plain".into()),
            expires_at: Some(deadline),
            condition: Condition::Always,
        },
    )?;
    println!(
        "offer now: {:?}",
        store.get("shop/offer", now_ms())?.map(|e| e.expires_at())
    );
    println!(
        "offer at its deadline: {:?}",
        store.get("shop/offer", deadline)?
    );

    // A listing of everything under shop/, in key order.
    let query = ListQuery {
        prefix: "shop/".into(),
        limit: 100,
        max_bytes: usize::MAX,
        ..Default::default()
    };
    for item in store.list(&query, now_ms()).items {
        if let ListItem::Entry(entry) = item {
            println!(
                "{} = {}",
                entry.key(),
                String::from_utf8_lossy(entry.value())
            );
        }
    }

    drop(requests);
    writer_thread
        .join()
        .expect("the writer stops when every sender is gone");
    Ok(())
}
