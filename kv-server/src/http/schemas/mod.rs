//! Exact schemas, for the OpenAPI document, of what the server reads
//! (parameters, headers, bodies) and of the answers the wire types cannot
//! describe alone (raw bytes, the event stream).
//!
//! Each is a type that exists only to be named in the handlers' annotations
//! (`("limit" = inline(Option<ListLimit>), Query)`), so the constraint is
//! written once, here, from the same constants and patterns the server uses.
//!
//! - [`patterns`]: the patterns of text inputs, tested against their parsers.
//! - [`txn`]: the body of `POST /v1/txn`.

pub mod patterns;
pub mod txn;

use std::borrow::Cow;

use kv_core::api::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};
use kv_core::limits::DEFAULT_MAX_KEY_BYTES;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// A string.
pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A whole number from `min` to `max`.
pub fn integer(min: u64, max: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
}

/// `true` or `false`.
pub fn boolean() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Boolean)
}

/// An object with no properties but the ones it is given.
pub fn closed_object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

/// Any JSON value.
pub fn any_value() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue)
}

/// A reference to the component schema `name`.
pub fn component(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// Implements `ToSchema` for a marker type from a function building its
/// schema; the component is named after the type.
macro_rules! schema_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}
pub(crate) use schema_type;

schema_type!(
    /// A key: any non-empty UTF-8 text of at most `--max-key-bytes` bytes.
    Key => string().min_length(Some(1)).description(Some(format!(
        "Any non-empty UTF-8 text of at most --max-key-bytes bytes (default \
         {DEFAULT_MAX_KEY_BYTES}); longer keys get 400 invalid_key."
    )))
);

schema_type!(
    /// A revision (or any 64-bit count).
    Revision => integer(0, u64::MAX)
);

schema_type!(
    /// `expires_at` of `PUT /v1/kv/{key}`: a moment.
    ExpiresAt => integer(0, u64::MAX).description(Some(
        "When the key expires, in milliseconds since the Unix epoch; not with ttl (400)"
    ))
);

schema_type!(
    /// Items per listing page.
    ListLimit => integer(1, MAX_LIST_LIMIT as u64)
        .description(Some(format!("Items per page (default {DEFAULT_LIST_LIMIT})")))
);

schema_type!(
    /// A listing's delimiter: one character, or empty for none.
    Delimiter => string().max_length(Some(1))
        .description(Some("List one level: one character, such as /; empty for none"))
);

schema_type!(
    /// `If-Match` of the key routes.
    IfMatch => string().pattern(Some(patterns::IF_MATCH)).description(Some(
        "* (the key exists) or its revision, as in \"7\" or W/\"7\"; not with If-None-Match"
    ))
);

schema_type!(
    /// `If-None-Match` of `PUT /v1/kv/{key}`: only `*`.
    IfNoneMatch => string().enum_values(Some(["*"]))
        .description(Some("* (create only); not with If-Match"))
);

schema_type!(
    /// `Idempotency-Key` of the write routes.
    IdempotencyKeyText => string().pattern(Some(patterns::IDEMPOTENCY_KEY)).description(Some(
        "Makes a retry of this write safe in replicated mode: the write is committed once \
         per key (for two minutes), and a retry, to any server, gets the first one's answer. \
         A single node accepts and checks it (it never answers outcome_unknown)"
    ))
);

schema_type!(
    /// `Last-Event-ID` of the watch stream.
    LastEventId => string().pattern(Some(patterns::LAST_EVENT_ID))
        .description(Some("The revision of the last event received; wins over from_rev"))
);

schema_type!(
    /// `ops` of the watch stream.
    WatchOps => string().pattern(Some(patterns::WATCH_OPS))
        .description(Some("Comma-separated: set, rm, expire"))
);

schema_type!(
    /// Raw bytes: a value, a snapshot.
    Binary => string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
);

/// A time to live as JSON carries it: seconds, or a duration string. The
/// document's `Ttl` component; replaces the one derived from
/// [`kv_core::api::Ttl`], which cannot carry the bounds.
pub fn ttl() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(integer(1, u64::MAX).description(Some("Seconds")))
        .item(string().pattern(Some(patterns::TTL)).description(Some(
            "A whole number and a unit: 1500ms, 30s, 5m, 2h, 1d (no unit: seconds)",
        )))
        .description(Some("A time to live: more than zero"))
        .into()
}

schema_type!(
    /// `ttl` of `PUT /v1/kv/{key}`: a duration.
    TtlText => string().pattern(Some(patterns::TTL)).description(Some(
        "Time to live: 1500ms, 30s, 5m, 2h, 1d (no unit: seconds); not with expires_at (400)"
    ))
);

schema_type!(
    /// `application/json` answers of `GET /v1/kv/{key}`: the JSON entry when
    /// asked for, else a value that was stored as JSON, as it was stored.
    EntryOrJsonValue => AnyOfBuilder::new()
        .item(component("KvEntry"))
        .item(any_value().description(Some(
            "A value stored with Content-Type: application/json, without format=json \
             or Accept: application/json: the stored bytes",
        )))
);

/// One kind of event of the watch stream: its `event:` names and the JSON
/// its `data:` carries.
fn stream_event(names: &[&str], data: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("event", string().enum_values(Some(names.iter().copied())))
        .property("id", string().pattern(Some("^[0-9]+$")))
        .property("retry", integer(0, u64::MAX))
        .property(
            "data",
            string()
                .content_media_type("application/json")
                .content_schema(Some(component(data))),
        )
        .required("event")
        .required("data")
}

schema_type!(
    /// One event of `GET /v1/watch` (Server-Sent Events): a change, a
    /// `progress` checkpoint, or the final `cut`.
    WatchStreamEvent => OneOfBuilder::new()
        .item(stream_event(&["set", "rm", "expire"], "WatchEvent"))
        .item(stream_event(&["progress"], "WatchProgress"))
        .item(stream_event(&["cut"], "WatchCut"))
        .description(Some(
            "id: the revision; set, rm and expire carry a WatchEvent, progress a \
             WatchProgress, and cut (the last event of a stream whose reader fell \
             behind) a WatchCut"
        ))
);
