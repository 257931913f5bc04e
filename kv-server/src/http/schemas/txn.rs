//! The body of `POST /v1/txn`, as exactly as `txn_routes` parses it: every
//! object closed, every target with the value type it compares.
//!
//! Two rules stay in prose, as JSON Schema cannot state them: at most
//! `--max-txn-ops` comparisons and operations in all, and a branch changes
//! a key at most once.

use std::borrow::Cow;

use kv_core::api::DEFAULT_MAX_TXN_OPS;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::patterns;
use super::{any_value, boolean, closed_object, component, integer, schema_type, string, Key};

/// The comparison operators (`==` when left out).
const COMPARE_OPS: [&str; 7] = ["==", "=", "!=", "<", ">", "<=", ">="];

/// A comparison of `targets`, whose `value` is `value`; `encoding` as the
/// target reads it.
fn compare(targets: &[&str], value: ObjectBuilder, encoding: ObjectBuilder) -> ObjectBuilder {
    closed_object()
        .property("key", component(&Key::name()))
        .property(
            "target",
            string().enum_values(Some(targets.iter().copied())),
        )
        .property("op", string().enum_values(Some(COMPARE_OPS)))
        .property("value", value)
        .property("encoding", encoding)
        .required("key")
        .required("target")
        .required("value")
}

/// How a text value is written: as it is (`utf8`, the default) or `base64`.
fn text_value(base64: bool) -> (ObjectBuilder, ObjectBuilder) {
    if base64 {
        (
            string().pattern(Some(patterns::BASE64)),
            string().enum_values(Some(["base64"])),
        )
    } else {
        (string(), string().enum_values(Some(["utf8"])))
    }
}

fn compare_text(base64: bool) -> ObjectBuilder {
    let (value, encoding) = text_value(base64);
    let compare = compare(&["value"], value, encoding);
    if base64 {
        compare.required("encoding")
    } else {
        compare
    }
}

schema_type!(
    /// One comparison of a transaction.
    TxnCompare => OneOfBuilder::new()
        .item(compare(
            &["mod_rev", "create_rev", "version"],
            integer(0, u64::MAX),
            any_value().description(Some("Ignored for this target")),
        ))
        .item(compare_text(false))
        .item(compare_text(true))
        .item(compare(
            &["exists"],
            boolean(),
            any_value().description(Some("Ignored for this target")),
        ))
        .description(Some(
            "The key's mod_rev, create_rev or version (0 for a missing key), value \
             (text, or base64 with encoding: base64) or exists, compared with op (default ==)"
        ))
);

/// A key and its value, written as `base64` or not, with its content type
/// and `expiry` (named, with its schema): a put, or an import record. With
/// `null_encoding`, a text value's encoding may also be `null` (an import
/// record's may).
fn value_record(base64: bool, null_encoding: bool, expiry: (&str, RefOr<Schema>)) -> ObjectBuilder {
    let (value, encoding) = match text_value(base64) {
        (value, _) if null_encoding && !base64 => (
            value,
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .enum_values(Some([
                    serde_json::Value::from("utf8"),
                    serde_json::Value::Null,
                ])),
        ),
        pair => pair,
    };
    let record = closed_object()
        .property("key", component(&Key::name()))
        .property("value", value)
        .property("encoding", encoding)
        .property(
            "content_type",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .pattern(Some(patterns::MEDIA_TYPE)),
        )
        .property(expiry.0, expiry.1)
        .required("key")
        .required("value");
    if base64 {
        record.required("encoding")
    } else {
        record
    }
}

/// A put that writes its value as `base64` or not, with the expiry
/// `expiry` (`ttl` or `expires_at`).
fn put(base64: bool, expiry: &str) -> ObjectBuilder {
    let expiry_schema: RefOr<Schema> = if expiry == "ttl" {
        component("Ttl")
    } else {
        integer(0, u64::MAX)
            .description(Some("Milliseconds since the Unix epoch"))
            .into()
    };
    value_record(base64, false, (expiry, expiry_schema))
}

/// An import record whose value is written as `base64` or not. Unlike a
/// put, its optional fields may also be `null` (as the export's type reads
/// them), and its expiry is `expires_at`.
fn import_record(base64: bool) -> ObjectBuilder {
    let expires_at = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .minimum(Some(0))
        .maximum(Some(u64::MAX))
        .description(Some("Milliseconds since the Unix epoch"));
    value_record(base64, true, ("expires_at", expires_at.into()))
}

schema_type!(
    /// A record of `POST /v1/import` (one line of its NDJSON body), as
    /// `GET /v1/export` writes them: a put with `expires_at`.
    ImportRecord => AnyOfBuilder::new()
        .item(import_record(false))
        .item(import_record(true))
        .description(Some(
            "One line of NDJSON: the key, its value (text, or base64 with encoding: base64), \
             content_type and expires_at (milliseconds since the Unix epoch; a record whose \
             time has passed is skipped)"
        ))
);

schema_type!(
    /// A put of a transaction.
    TxnPut => AnyOfBuilder::new()
        .item(put(false, "ttl"))
        .item(put(false, "expires_at"))
        .item(put(true, "ttl"))
        .item(put(true, "expires_at"))
        .description(Some(
            "key, value (text, or base64 with encoding: base64), content_type, and ttl \
             or expires_at (not both)"
        ))
);

/// An operation on one key: `{"<kind>": {...}}`.
fn operation(kind: &str, body: impl Into<RefOr<Schema>>) -> ObjectBuilder {
    closed_object().property(kind, body).required(kind)
}

fn key_only() -> ObjectBuilder {
    closed_object()
        .property("key", component(&Key::name()))
        .required("key")
}

schema_type!(
    /// One operation of a transaction: a put, a delete or a get.
    TxnOperation => OneOfBuilder::new()
        .item(operation("put", component(&TxnPut::name())))
        .item(operation("delete", key_only()))
        .item(operation("get", key_only()))
);

fn list(item: &str, description: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(component(item))
        .description(Some(description))
}

/// The body of `POST /v1/txn`.
#[derive(Debug)]
pub struct TxnRequest;

impl PartialSchema for TxnRequest {
    fn schema() -> RefOr<Schema> {
        closed_object()
            .property(
                "compare",
                list(&TxnCompare::name(), "All must hold for success to run"),
            )
            .property(
                "success",
                list(&TxnOperation::name(), "Run when every comparison holds"),
            )
            .property("failure", list(&TxnOperation::name(), "Run otherwise"))
            .description(Some(format!(
                "Comparisons, then the success or the failure operations, committed \
                 atomically at one revision. At most --max-txn-ops (default \
                 {DEFAULT_MAX_TXN_OPS}) comparisons and operations in all, and each branch \
                 changes a key at most once: 400 otherwise."
            )))
            .into()
    }
}

impl ToSchema for TxnRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TxnRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (TxnCompare::name(), TxnCompare::schema()),
            (TxnOperation::name(), TxnOperation::schema()),
            (TxnPut::name(), TxnPut::schema()),
            (Key::name(), Key::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
    }
}
