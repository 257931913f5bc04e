//! The response headers of the key routes, and the entity tag.

/// Response header carrying the store revision an answer reflects.
pub const REVISION_HEADER: &str = "X-Kv-Revision";
/// Response header: the revision that created the key.
pub const CREATE_REVISION_HEADER: &str = "X-Kv-Create-Revision";
/// Response header: writes to the key since its creation.
pub const VERSION_HEADER: &str = "X-Kv-Version";
/// Response header: when the key expires, in milliseconds since the epoch.
pub const EXPIRES_AT_HEADER: &str = "X-Kv-Expires-At";

/// The entity tag of a key's revision: `"<rev>"`.
pub fn etag(rev: u64) -> String {
    format!("\"{rev}\"")
}
