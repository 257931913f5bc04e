//! Gathering the writes of one event-loop turn into one message for the
//! writer thread.
//!
//! Each thread that submits writes has its own [`Gathering`] per pipeline,
//! so a worker's commands wait only for that worker's own turn to end,
//! never for another worker to get round to sending them. The first
//! command of a turn becomes the collector: it yields once (the other ready
//! connections of its event loop run and add their commands), then sends
//! everything gathered as one message.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Commands submitted on one thread and not yet sent to the writer.
#[derive(Debug)]
pub(crate) struct Gathering<T> {
    items: Vec<T>,
    /// Whether a submitter is collecting (and will send `items`).
    collecting: bool,
}

impl<T> Default for Gathering<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            collecting: false,
        }
    }
}

/// What a submitter must do after [`Gatherings::push`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Yield once, then send what was gathered.
    Collect,
    /// Nothing: a collector of this thread will send it.
    Wait,
}

/// The gatherings of one pipeline, one per submitting thread.
#[derive(Debug)]
pub(crate) struct Gatherings {
    /// Keys this pipeline's gatherings in each thread's registry.
    id: u64,
    /// Send as soon as this many are gathered.
    max: usize,
}

/// One thread's gathering, shared with the guard of its collector (which
/// may be dropped on another thread if its task moves).
pub(crate) type ThreadGathering<T> = Arc<Mutex<Gathering<T>>>;

thread_local! {
    /// This thread's gatherings, by pipeline id and item type.
    static REGISTRY: RefCell<HashMap<u64, Box<dyn std::any::Any>>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn lock<T>(shared: &ThreadGathering<T>) -> MutexGuard<'_, Gathering<T>> {
    // Held only to push or take: a panic cannot leave it inconsistent.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gatherings {
    /// Gatherings that send as soon as `max` items are gathered.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            max: max.max(1),
        }
    }

    /// The current thread's gathering.
    pub(crate) fn here<T: Send + 'static>(&self) -> ThreadGathering<T> {
        REGISTRY.with(|registry| {
            let mut registry = registry.borrow_mut();
            let slot = registry
                .entry(self.id)
                .or_insert_with(|| Box::new(ThreadGathering::<T>::default()));
            match slot.downcast_ref::<ThreadGathering<T>>() {
                Some(shared) => Arc::clone(shared),
                None => unreachable!("one item type per pipeline"),
            }
        })
    }

    /// Adds `item` to `shared`; returns the items to send now (when `max`
    /// are gathered) and whether the caller collects.
    pub(crate) fn push<T>(&self, shared: &ThreadGathering<T>, item: T) -> (Option<Vec<T>>, Role) {
        let mut gathering = lock(shared);
        gathering.items.push(item);
        let role = if std::mem::replace(&mut gathering.collecting, true) {
            Role::Wait
        } else {
            Role::Collect
        };
        let full = (gathering.items.len() >= self.max).then(|| take(&mut gathering));
        (full, role)
    }
}

/// Everything gathered in `shared`; the next push starts a new collector.
pub(crate) fn take_all<T>(shared: &ThreadGathering<T>) -> Vec<T> {
    take(&mut lock(shared))
}

fn take<T>(gathering: &mut Gathering<T>) -> Vec<T> {
    gathering.collecting = false;
    std::mem::take(&mut gathering.items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_push_collects_and_a_full_gathering_is_sent_at_once() {
        let gatherings = Gatherings::new(3);
        let here = gatherings.here::<u32>();
        assert_eq!(gatherings.push(&here, 1), (None, Role::Collect));
        assert_eq!(gatherings.push(&here, 2), (None, Role::Wait));
        assert_eq!(gatherings.push(&here, 3), (Some(vec![1, 2, 3]), Role::Wait));
        // Taken: the next push starts a new turn.
        assert_eq!(gatherings.push(&here, 4), (None, Role::Collect));
        assert_eq!(take_all(&here), vec![4]);
        assert_eq!(take_all(&here), Vec::<u32>::new());
    }

    #[test]
    fn each_thread_and_each_pipeline_has_its_own() {
        let (a, b) = (Gatherings::new(10), Gatherings::new(10));
        assert_eq!(a.push(&a.here::<u32>(), 1), (None, Role::Collect));
        assert_eq!(b.push(&b.here::<u32>(), 2), (None, Role::Collect));
        let elsewhere = std::thread::scope(|s| {
            s.spawn(|| a.push(&a.here::<u32>(), 3))
                .join()
                .expect("joined")
        });
        assert_eq!(elsewhere, (None, Role::Collect));
        assert_eq!(take_all(&a.here::<u32>()), vec![1]);
        assert_eq!(take_all(&b.here::<u32>()), vec![2]);
    }
}
