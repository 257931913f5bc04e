//! How the server's threads are scheduled by the OS.
//!
//! Every write waits for the one writer thread, so it is the pipeline's
//! critical path; the HTTP workers are throughput threads. With more
//! runnable threads than cores (under load, always on a small machine), a
//! worker woken by a reply or a request preempts whatever runs on its
//! core, often the writer mid-batch. On Linux the workers therefore run
//! under `SCHED_BATCH`, at their nice value as it was: the kernel does not
//! let a batch thread preempt others when it wakes, while the writer
//! (`SCHED_OTHER`) still preempts a worker when its sync completes. The
//! workers' share of the CPU is unchanged; only the order of turns is.
//! No privilege is needed. Measured in bench/NOTES.md (the HTTP workers under SCHED_BATCH);
//! `--worker-scheduling normal` turns it off.

use std::fmt;
use std::str::FromStr;

/// How the HTTP worker threads are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerScheduling {
    /// `SCHED_BATCH` on Linux (elsewhere the same as `Normal`).
    #[default]
    Batch,
    /// The OS default policy (`SCHED_OTHER`).
    Normal,
}

impl WorkerScheduling {
    /// The name as written in flags: `batch` or `normal`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerScheduling::Batch => "batch",
            WorkerScheduling::Normal => "normal",
        }
    }

    /// Applies this policy to the calling thread. A failure (a kernel or
    /// sandbox that refuses the change) is logged and otherwise ignored:
    /// the server works the same, only slower under load.
    pub fn apply_to_current_thread(self) {
        if self == WorkerScheduling::Batch {
            if let Err(e) = batch_current_thread() {
                log::info!("worker thread left at the default scheduling policy: {e}");
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn batch_current_thread() -> Result<(), String> {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    // The crate sets the nice value along with the policy, from a 0..=99
    // scale of its own: pass the value it maps to the current nice value,
    // so that the nice value stays as the operator set it.
    let nice = current_nice()?;
    let priority = (u8::from(ThreadPriorityValue::MIN)..=u8::from(ThreadPriorityValue::MAX))
        .filter_map(|value| ThreadPriorityValue::try_from(value).ok())
        .map(ThreadPriority::Crossplatform)
        .find(|priority| priority.to_posix(batch).ok() == Some(nice))
        .ok_or_else(|| format!("nice value {nice} has no equivalent"))?;
    set_thread_priority_and_policy(thread_native_id(), priority, batch)
        .map_err(|e| format!("{e:?}"))
}

/// The calling thread's nice value, from `/proc/thread-self/stat`.
#[cfg(target_os = "linux")]
fn current_nice() -> Result<i32, String> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").map_err(|e| e.to_string())?;
    // Field 19; the fields after the command name (which may hold spaces
    // and parentheses) start at field 3.
    stat.rsplit_once(')')
        .and_then(|(_, fields)| fields.split_whitespace().nth(19 - 3))
        .and_then(|nice| nice.parse().ok())
        .ok_or_else(|| "no nice value in /proc/thread-self/stat".into())
}

#[cfg(not(target_os = "linux"))]
fn batch_current_thread() -> Result<(), String> {
    Ok(())
}

impl fmt::Display for WorkerScheduling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkerScheduling {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "batch" => Ok(WorkerScheduling::Batch),
            "normal" => Ok(WorkerScheduling::Normal),
            other => Err(format!(
                "unknown worker scheduling {other:?}; use batch or normal"
            )),
        }
    }
}
