//! [`Barrier`]: asks the log for its last sequence on behalf of every
//! consistent read that is waiting, one request at a time.
//!
//! A read is linearizable once this replica has applied everything the log
//! held when the read arrived. Reads that arrive while a request is out
//! wait for the next one (the answer in flight may predate them); all
//! those waiting then share that next answer.

use std::sync::{Arc, Condvar, Mutex};

use kv_pubsub::replicated::{LogError, ReplicatedLog};
use tokio::sync::oneshot;

type Waiting = Vec<oneshot::Sender<Result<u64, LogError>>>;

#[derive(Debug, Default)]
struct Queue {
    waiting: Waiting,
    stop: bool,
}

/// The coalescing asker: one thread, the reads waiting for it.
#[derive(Debug)]
pub struct Barrier {
    queue: Arc<(Mutex<Queue>, Condvar)>,
}

impl Barrier {
    /// Starts the asking thread.
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn start(log: Arc<dyn ReplicatedLog>) -> std::io::Result<Self> {
        let queue: Arc<(Mutex<Queue>, Condvar)> = Arc::default();
        let shared = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("kv-read-barrier".into())
            .spawn(move || loop {
                let waiting = {
                    let (lock, wake) = &*shared;
                    let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while queue.waiting.is_empty() && !queue.stop {
                        queue = wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                    }
                    if queue.stop {
                        return;
                    }
                    std::mem::take(&mut queue.waiting)
                };
                let answer = log.bounds().map(|b| b.last_seq);
                for reply in waiting {
                    let _ = reply.send(answer.clone());
                }
            })?;
        Ok(Self { queue })
    }

    /// The log's last sequence, asked after this call began.
    ///
    /// # Errors
    ///
    /// The log did not answer.
    pub async fn last_seq(&self) -> Result<u64, LogError> {
        let (reply, answer) = oneshot::channel();
        {
            let (lock, wake) = &*self.queue;
            lock.lock()
                .unwrap_or_else(|e| e.into_inner())
                .waiting
                .push(reply);
            wake.notify_one();
        }
        answer
            .await
            .unwrap_or_else(|_| Err(LogError::Unavailable("the server is stopping".into())))
    }
}

impl Drop for Barrier {
    fn drop(&mut self) {
        let (lock, wake) = &*self.queue;
        lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        wake.notify_one();
    }
}
