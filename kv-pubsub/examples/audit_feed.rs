//! A [`Feed`] implemented outside the crate: every change is kept in the
//! in-process [`Hub`] (so watchers work as usual) and also written, one
//! line per change, to an audit trail by a thread of its own, the way
//! `NatsFeed` mirrors the hub to NATS. `publish` never waits for the
//! trail: the single writer must not block on it.
//!
//! ```text
//! cargo run -p kv-pubsub --example audit_feed
//! ```

use std::io::Write;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kv_core::{Change, ChangeKind, Command, Limits, Store};
use kv_pubsub::{Cursor, Feed, FeedStats, Hub, RingLimits};

/// The hub, plus a line per change to `out` from a thread of its own.
#[derive(Debug)]
struct AuditFeed {
    hub: Hub,
    lines: Mutex<Option<mpsc::Sender<String>>>,
    trail: Mutex<Option<JoinHandle<()>>>,
}

impl AuditFeed {
    fn new(mut out: impl Write + Send + 'static) -> Self {
        let (lines, received) = mpsc::channel::<String>();
        let trail = std::thread::spawn(move || {
            for line in received {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        });
        Self {
            hub: Hub::new(RingLimits::default(), 0),
            lines: Mutex::new(Some(lines)),
            trail: Mutex::new(Some(trail)),
        }
    }
}

fn describe(change: &Change) -> String {
    let what = match &change.kind {
        ChangeKind::Put(entry) => format!("set {} bytes", entry.value().len()),
        ChangeKind::Remove => "removed".to_owned(),
        ChangeKind::Expire => "expired".to_owned(),
    };
    format!("audit rev={} key={:?} {what}", change.rev, change.key)
}

impl Feed for AuditFeed {
    fn publish(&self, changes: &[Change]) {
        self.hub.publish(changes);
        if let Some(lines) = &*self.lines.lock().unwrap() {
            for change in changes {
                // An unbounded channel: sending never blocks.
                let _ = lines.send(describe(change));
            }
        }
    }

    fn subscribe(&self, from: Option<u64>) -> kv_pubsub::Result<Cursor> {
        self.hub.subscribe(from)
    }

    fn stats(&self) -> FeedStats {
        self.hub.stats()
    }

    fn close(&self) {
        // Dropping the sender ends the trail thread once it wrote the rest.
        self.lines.lock().unwrap().take();
        if let Some(trail) = self.trail.lock().unwrap().take() {
            let _ = trail.join();
        }
        self.hub.close();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let feed: Arc<dyn Feed> = Arc::new(AuditFeed::new(std::io::stdout()));
    let (_store, mut writer) = Store::new(16, Limits::default())?;

    // A watcher from the start, as the server's /v1/watch would hold.
    let mut cursor = feed.subscribe(Some(1))?;

    // The writer publishes each batch once it is applied (and durable).
    for commands in [
        vec![
            Command::set("users/1", "ada"),
            Command::set("users/2", "grace"),
        ],
        vec![Command::rm("users/1")],
    ] {
        let batch = writer.prepare(commands, 0);
        writer.apply(&batch);
        feed.publish(&batch.changes);
    }

    assert!(cursor.wait(Duration::from_secs(1)));
    let mut events = Vec::new();
    cursor.read(100, usize::MAX, &mut events)?;
    for event in &events {
        println!(
            "watcher saw rev={} {} {}",
            event.rev,
            event.op.as_str(),
            event.key()
        );
    }
    assert_eq!(events.len(), 3);

    feed.close();
    println!("{:?}", feed.stats());
    Ok(())
}
