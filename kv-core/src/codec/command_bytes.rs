//! One [`Command`]'s bytes in replicated mode's log, written and read:
//! its kind, its fields, and for a transaction its comparisons and
//! operations. The format is described in [`commands`](super::commands).

use std::sync::Arc;

use super::{put_bytes, put_u32, put_u64, Reader};
use crate::command::{Command, Condition};
use crate::error::{CoreError, Result};
use crate::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp};

const SET: u8 = 1;
const RM: u8 = 2;
const RM_PREFIX: u8 = 3;
const TXN: u8 = 4;
const EXPIRE: u8 = 5;

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_GET: u8 = 3;

fn put_option(out: &mut Vec<u8>, value: Option<u64>) {
    out.push(u8::from(value.is_some()));
    put_u64(out, value.unwrap_or_default());
}

fn put_condition(out: &mut Vec<u8>, condition: Condition) {
    match condition {
        Condition::Always => out.push(0),
        Condition::Absent => out.push(1),
        Condition::Exists => out.push(2),
        Condition::ModRev(rev) => {
            out.push(3);
            put_u64(out, rev);
        }
    }
}

fn put_value(out: &mut Vec<u8>, value: &[u8], content_type: Option<&str>, expires_at: Option<u64>) {
    put_bytes(out, value);
    put_bytes(out, content_type.unwrap_or_default().as_bytes());
    put_option(out, expires_at);
}

/// Appends `command`: its kind, then its fields.
pub(super) fn put_command(out: &mut Vec<u8>, command: &Command) {
    match command {
        Command::Set {
            key,
            value,
            content_type,
            expires_at,
            condition,
        } => {
            out.push(SET);
            put_bytes(out, key.as_bytes());
            put_value(out, value, content_type.as_deref(), *expires_at);
            put_condition(out, *condition);
        }
        Command::Rm { key, condition } => {
            out.push(RM);
            put_bytes(out, key.as_bytes());
            put_condition(out, *condition);
        }
        Command::RmPrefix { prefix } => {
            out.push(RM_PREFIX);
            put_bytes(out, prefix.as_bytes());
        }
        Command::Expire { key, mod_rev } => {
            out.push(EXPIRE);
            put_bytes(out, key.as_bytes());
            put_u64(out, *mod_rev);
        }
        Command::Txn(txn) => {
            out.push(TXN);
            put_u32(out, txn.compare.len() as u32);
            for compare in &txn.compare {
                put_compare(out, compare);
            }
            for branch in [&txn.success, &txn.failure] {
                put_u32(out, branch.len() as u32);
                for op in branch {
                    put_txn_op(out, op);
                }
            }
        }
    }
}

fn put_compare(out: &mut Vec<u8>, compare: &Compare) {
    put_bytes(out, compare.key.as_bytes());
    out.push(match compare.op {
        CompareOp::Eq => 0,
        CompareOp::Ne => 1,
        CompareOp::Lt => 2,
        CompareOp::Gt => 3,
        CompareOp::Le => 4,
        CompareOp::Ge => 5,
    });
    match &compare.target {
        CompareTarget::ModRev(v) => {
            out.push(1);
            put_u64(out, *v);
        }
        CompareTarget::CreateRev(v) => {
            out.push(2);
            put_u64(out, *v);
        }
        CompareTarget::Version(v) => {
            out.push(3);
            put_u64(out, *v);
        }
        CompareTarget::Value(v) => {
            out.push(4);
            put_bytes(out, v);
        }
        CompareTarget::Exists(v) => out.extend_from_slice(&[5, u8::from(*v)]),
    }
}

fn put_txn_op(out: &mut Vec<u8>, op: &TxnOp) {
    match op {
        TxnOp::Put {
            key,
            value,
            content_type,
            expires_at,
        } => {
            out.push(OP_PUT);
            put_bytes(out, key.as_bytes());
            put_value(out, value, content_type.as_deref(), *expires_at);
        }
        TxnOp::Delete { key } => {
            out.push(OP_DELETE);
            put_bytes(out, key.as_bytes());
        }
        TxnOp::Get { key } => {
            out.push(OP_GET);
            put_bytes(out, key.as_bytes());
        }
    }
}

/// A string field, which must be UTF-8.
pub(super) fn text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| CoreError::Malformed("text is not UTF-8"))
}

fn read_option(r: &mut Reader<'_>) -> Result<Option<u64>> {
    let some = r.u8()?;
    let value = r.u64()?;
    match some {
        0 => Ok(None),
        1 => Ok(Some(value)),
        _ => Err(CoreError::Malformed("bad optional number")),
    }
}

fn read_condition(r: &mut Reader<'_>) -> Result<Condition> {
    Ok(match r.u8()? {
        0 => Condition::Always,
        1 => Condition::Absent,
        2 => Condition::Exists,
        3 => Condition::ModRev(r.u64()?),
        _ => return Err(CoreError::Malformed("unknown condition")),
    })
}

/// A value, its content type and its expiry.
type Value = (Vec<u8>, Option<Arc<str>>, Option<u64>);

fn read_value(r: &mut Reader<'_>) -> Result<Value> {
    let value = r.bytes()?.to_vec();
    let content_type = r.content_type()?.map(Arc::from);
    let expires_at = read_option(r)?;
    Ok((value, content_type, expires_at))
}

/// Reads one command written by [`put_command`].
pub(super) fn read_command(r: &mut Reader<'_>) -> Result<Command> {
    Ok(match r.u8()? {
        SET => {
            let key = text(r.bytes()?)?;
            let (value, content_type, expires_at) = read_value(r)?;
            Command::Set {
                key,
                value,
                content_type,
                expires_at,
                condition: read_condition(r)?,
            }
        }
        RM => Command::Rm {
            key: text(r.bytes()?)?,
            condition: read_condition(r)?,
        },
        RM_PREFIX => Command::RmPrefix {
            prefix: text(r.bytes()?)?,
        },
        EXPIRE => Command::Expire {
            key: text(r.bytes()?)?,
            mod_rev: r.u64()?,
        },
        TXN => Command::Txn(read_txn(r)?),
        _ => return Err(CoreError::Malformed("unknown command kind")),
    })
}

fn read_txn(r: &mut Reader<'_>) -> Result<Txn> {
    let count = r.u32()? as usize;
    let mut compare = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        compare.push(read_compare(r)?);
    }
    let mut branches = [Vec::new(), Vec::new()];
    for branch in &mut branches {
        let count = r.u32()? as usize;
        for _ in 0..count {
            branch.push(read_txn_op(r)?);
        }
    }
    let [success, failure] = branches;
    Ok(Txn {
        compare,
        success,
        failure,
    })
}

fn read_compare(r: &mut Reader<'_>) -> Result<Compare> {
    let key = text(r.bytes()?)?;
    let op = match r.u8()? {
        0 => CompareOp::Eq,
        1 => CompareOp::Ne,
        2 => CompareOp::Lt,
        3 => CompareOp::Gt,
        4 => CompareOp::Le,
        5 => CompareOp::Ge,
        _ => return Err(CoreError::Malformed("unknown comparison")),
    };
    let target = match r.u8()? {
        1 => CompareTarget::ModRev(r.u64()?),
        2 => CompareTarget::CreateRev(r.u64()?),
        3 => CompareTarget::Version(r.u64()?),
        4 => CompareTarget::Value(r.bytes()?.to_vec()),
        5 => CompareTarget::Exists(r.u8()? != 0),
        _ => return Err(CoreError::Malformed("unknown comparison target")),
    };
    Ok(Compare { key, target, op })
}

fn read_txn_op(r: &mut Reader<'_>) -> Result<TxnOp> {
    Ok(match r.u8()? {
        OP_PUT => {
            let key = text(r.bytes()?)?;
            let (value, content_type, expires_at) = read_value(r)?;
            TxnOp::Put {
                key,
                value,
                content_type,
                expires_at,
            }
        }
        OP_DELETE => TxnOp::Delete {
            key: text(r.bytes()?)?,
        },
        OP_GET => TxnOp::Get {
            key: text(r.bytes()?)?,
        },
        _ => return Err(CoreError::Malformed("unknown transaction operation")),
    })
}
