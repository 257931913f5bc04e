//! The messages of replicated mode's log ([`LogEntry`]): a
//! [`CommandBatch`], a group-commit batch as the log carries it (the
//! commands themselves, not their results, so that every replica evaluates
//! them in log order with the same code and gets the same revisions,
//! conditions and expiries), or a [`PublisherMark`] (which replica
//! publishes the feed to NATS).
//!
//! # Format (integers little-endian)
//!
//! The first byte says which. A publisher mark: `u8` 2, `u64` node, `u64`
//! epoch, `u64` published revision. A command batch:
//! `u8` version (1), `u64` proposer, `u64` batch number, the idempotency key
//! (`u32` length and bytes, empty: none), `u32` command count, then each
//! command: a `u8` kind and its fields. Strings and byte strings are a `u32`
//! length and the bytes; an optional number is a `u8` flag (0 none, 1 some)
//! and a `u64`; a condition is a `u8` (0 always, 1 absent, 2 exists, 3 a
//! `mod_rev` followed by a `u64`).

use super::command_bytes::{put_command, read_command, text};
use super::{put_bytes, put_u32, put_u64, Reader};
use crate::command::Command;
use crate::error::{CoreError, Result};

const VERSION: u8 = 1;
const PUBLISHER_MARK: u8 = 2;

/// The commands of one group-commit batch, with who proposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandBatch {
    /// The proposing server (a number it picked at start).
    pub proposer: u64,
    /// The proposer's number for this batch.
    pub batch: u64,
    /// The client's `Idempotency-Key`, when the batch is that one request.
    pub idempotency_key: Option<String>,
    /// The commands, in order.
    pub commands: Vec<Command>,
}

/// Which replica publishes the feed to NATS: its claim (an `epoch` one
/// above the current) or its heartbeat (the current `epoch`), with the last
/// revision it saw confirmed published. Applied in log order, the marks
/// make every replica agree on the publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherMark {
    /// The replica that publishes.
    pub node: u64,
    /// Its turn's number: each claim takes the next.
    pub epoch: u64,
    /// The last revision confirmed published (by it, or by the previous
    /// publisher when claiming).
    pub published_rev: u64,
}

impl PublisherMark {
    /// The mark's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(25);
        out.push(PUBLISHER_MARK);
        put_u64(&mut out, self.node);
        put_u64(&mut out, self.epoch);
        put_u64(&mut out, self.published_rev);
        out
    }
}

/// One message of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// Commands to apply.
    Commands(CommandBatch),
    /// Who publishes the feed.
    Publisher(PublisherMark),
}

impl LogEntry {
    /// Reads a message.
    ///
    /// # Errors
    ///
    /// [`CoreError::Malformed`] for bytes that are neither.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        match bytes.first() {
            Some(&PUBLISHER_MARK) => {
                let mut r = Reader::new(&bytes[1..]);
                let mark = PublisherMark {
                    node: r.u64()?,
                    epoch: r.u64()?,
                    published_rev: r.u64()?,
                };
                r.finish()?;
                Ok(LogEntry::Publisher(mark))
            }
            _ => CommandBatch::decode(bytes).map(LogEntry::Commands),
        }
    }
}

impl CommandBatch {
    /// The batch's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 64 * self.commands.len());
        out.push(VERSION);
        put_u64(&mut out, self.proposer);
        put_u64(&mut out, self.batch);
        put_bytes(
            &mut out,
            self.idempotency_key
                .as_deref()
                .unwrap_or_default()
                .as_bytes(),
        );
        put_u32(&mut out, self.commands.len() as u32);
        for command in &self.commands {
            put_command(&mut out, command);
        }
        out
    }

    /// Reads a batch.
    ///
    /// # Errors
    ///
    /// [`CoreError::Malformed`] for bytes that are not a batch of this
    /// version.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        if r.u8()? != VERSION {
            return Err(CoreError::Malformed("unknown command batch version"));
        }
        let proposer = r.u64()?;
        let batch = r.u64()?;
        let key = text(r.bytes()?)?;
        let count = r.u32()? as usize;
        let mut commands = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            commands.push(read_command(&mut r)?);
        }
        r.finish()?;
        Ok(Self {
            proposer,
            batch,
            idempotency_key: Some(key).filter(|k| !k.is_empty()),
            commands,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::command::Condition;
    use crate::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp};

    fn every_kind() -> CommandBatch {
        let txn = Txn {
            compare: vec![
                Compare {
                    key: "a".into(),
                    target: CompareTarget::ModRev(7),
                    op: CompareOp::Le,
                },
                Compare {
                    key: "b".into(),
                    target: CompareTarget::Value(vec![0, 255]),
                    op: CompareOp::Ne,
                },
                Compare {
                    key: "c".into(),
                    target: CompareTarget::Exists(true),
                    op: CompareOp::Eq,
                },
            ],
            success: vec![
                TxnOp::Put {
                    key: "a".into(),
                    value: b"v".to_vec(),
                    content_type: Some(Arc::from("text/plain")),
                    expires_at: Some(0),
                },
                TxnOp::Delete { key: "b".into() },
            ],
            failure: vec![TxnOp::Get { key: "a".into() }],
        };
        CommandBatch {
            proposer: u64::MAX,
            batch: 42,
            idempotency_key: Some("retry-me".into()),
            commands: vec![
                Command::Set {
                    key: "ключ".into(),
                    value: (0..=255).collect(),
                    content_type: None,
                    expires_at: Some(1_700_000_000_000),
                    condition: Condition::ModRev(3),
                },
                Command::Rm {
                    key: "k".into(),
                    condition: Condition::Exists,
                },
                Command::RmPrefix { prefix: "".into() },
                Command::Expire {
                    key: "t".into(),
                    mod_rev: 9,
                },
                Command::Txn(txn),
            ],
        }
    }

    #[test]
    fn every_command_round_trips() {
        let batch = every_kind();
        assert_eq!(CommandBatch::decode(&batch.encode()), Ok(batch));
        let plain = CommandBatch {
            idempotency_key: None,
            commands: vec![Command::set("k", "v")],
            ..every_kind()
        };
        assert_eq!(CommandBatch::decode(&plain.encode()), Ok(plain));
    }

    #[test]
    fn damaged_bytes_are_refused_not_misread() {
        let bytes = every_kind().encode();
        for cut in 0..bytes.len() {
            assert!(CommandBatch::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(CommandBatch::decode(&longer).is_err());
        let mut version = bytes;
        version[0] = 9;
        assert!(CommandBatch::decode(&version).is_err());
    }

    #[test]
    fn log_entries_tell_batches_from_publisher_marks() {
        let batch = every_kind();
        assert_eq!(
            LogEntry::decode(&batch.encode()),
            Ok(LogEntry::Commands(batch))
        );
        let mark = PublisherMark {
            node: 7,
            epoch: 3,
            published_rev: u64::MAX,
        };
        let bytes = mark.encode();
        assert_eq!(LogEntry::decode(&bytes), Ok(LogEntry::Publisher(mark)));
        for cut in 0..bytes.len() {
            assert!(LogEntry::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
