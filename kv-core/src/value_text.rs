//! Values in JSON: the text itself when the value is UTF-8, base64
//! otherwise, with an `encoding` field beside it saying which, so that every
//! surface carries the exact bytes and a UTF-8 value looks exactly as the
//! original JSON contract has it (no `encoding` field at all).

use base64::Engine as _;

/// The `encoding` of a value sent as base64.
pub const BASE64: &str = "base64";
/// The `encoding` of a value sent as its own text (the default).
pub const UTF8: &str = "utf8";

/// The JSON text of `value`, and `Some("base64")` when it is not UTF-8 and
/// so had to be encoded.
pub fn to_text(value: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(value) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(value),
            Some(BASE64.to_owned()),
        ),
    }
}

/// The bytes of a value as JSON carries it: `text` itself for no encoding
/// or `utf8`, decoded for `base64`.
///
/// # Errors
///
/// An unknown encoding or invalid base64, as a message.
pub fn from_text(text: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    match encoding {
        None | Some(UTF8) => Ok(text.as_bytes().to_vec()),
        Some(BASE64) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("value is not valid base64: {e}")),
        Some(other) => Err(format!("encoding must be utf8 or base64, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_value_round_trips_and_text_stays_text() {
        let all: Vec<u8> = (0..=255).collect();
        let (text, encoding) = to_text(&all);
        assert_eq!(encoding.as_deref(), Some(BASE64));
        assert_eq!(from_text(&text, encoding.as_deref()), Ok(all));
        assert_eq!(
            to_text("héllo\n\0".as_bytes()),
            ("héllo\n\0".to_owned(), None)
        );
        assert_eq!(from_text("x", Some(UTF8)), Ok(b"x".to_vec()));
        assert!(from_text("x", Some("hex")).is_err());
        assert!(from_text("***", Some(BASE64)).is_err());
    }
}
