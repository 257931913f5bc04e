//! The patterns the document gives text inputs: each is the language of the
//! parser it describes, and the tests hold it to that parser.
//!
//! They are written in the subset that reads alike in the three regex
//! dialects they meet: ECMA-262 (JSON Schema validators), Python's `re`
//! (fuzzers generating from the document) and Rust's `regex` (the tests):
//! anchors, classes, `(?:...)`, bounded repeats; `[0-9]` rather than `\d`,
//! which Python reads as any Unicode digit.
//!
//! Where a number must fit in 64 bits, a pattern bounds its significant
//! digits rather than spell out `u64::MAX` digit by digit: it then leaves
//! out the few longest numbers the server still takes (say so where used).

/// Unicode `White_Space`, which `str::trim` removes, as one class: Python's
/// `\s` also takes U+001C to U+001F, and ECMA's takes U+FEFF.
macro_rules! white_space {
    () => {
        r"[\t\n\x0B\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    };
}

/// An RFC 9110 token: one or more `tchar`s.
macro_rules! token {
    () => {
        r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    };
}

/// A time to live as [`kv_core::api::parse_ttl`] reads it: a whole number
/// above zero, then `ms`, `s`, `m`, `h`, `d` or nothing (seconds), within
/// white space. Significant digits are bounded so the milliseconds fit in
/// 64 bits.
pub const TTL: &str = concat!(
    "^",
    white_space!(),
    "*0*(?:[1-9][0-9]{0,18}ms|[1-9][0-9]{0,15}s?|[1-9][0-9]{0,13}m|[1-9][0-9]{0,11}h|[1-9][0-9]{0,10}d)",
    white_space!(),
    "*$"
);

/// `If-Match` as `PUT`/`DELETE /v1/kv/{key}` read it: `*`, or a revision,
/// quoted or not, optionally weak (`W/"7"`). Tested in `kv_routes`.
pub const IF_MATCH: &str = r#"^[ \t]*(?:\*|(?:W/)?"*\+?0*[0-9]{1,19}"*)[ \t]*$"#;

/// `Last-Event-ID` as `GET /v1/watch` reads it: the revision of the last
/// event received.
pub const LAST_EVENT_ID: &str = r"^[ \t]*\+?0*[0-9]{1,19}[ \t]*$";

/// `ops` of `GET /v1/watch`: `set`, `rm` and `expire`, comma-separated.
pub const WATCH_OPS: &str = concat!(
    "^",
    white_space!(),
    "*(?:set|rm|expire)",
    white_space!(),
    "*(?:,",
    white_space!(),
    "*(?:set|rm|expire)",
    white_space!(),
    "*)*$"
);

/// A media type as `crate::http::media_type::is_media_type` takes it (RFC 9110:
/// `type/subtype`, then `; name=value` parameters; ASCII only). Tested there.
pub const MEDIA_TYPE: &str = concat!(
    "^",
    token!(),
    "/",
    token!(),
    r#"(?:[ \t]*;[ \t]*(?:"#,
    token!(),
    r#"=(?:"#,
    token!(),
    r#"|"(?:[\t !#-\[\]-~]|\\[\t -~])*"))?)*[ \t]*$"#
);

/// Standard base64 with padding, as transactions' `"encoding": "base64"`
/// values are decoded: the unused bits of the last symbol must be zero.
pub const BASE64: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

/// `Idempotency-Key` as the write routes read it: 1 to 128 visible ASCII
/// characters ([`crate::http::extract::IdempotencyKey`]).
pub const IDEMPOTENCY_KEY: &str = r"^[!-~]{1,128}$";

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;
    use regex::Regex;

    fn regex(pattern: &str) -> Regex {
        Regex::new(pattern).expect("a valid pattern")
    }

    proptest! {
        #[test]
        fn the_idempotency_key_pattern_is_what_the_extractor_takes(
            text in "[ -~\u{80}-\u{ff}\t]{0,130}"
        ) {
            prop_assert_eq!(
                regex(IDEMPOTENCY_KEY).is_match(&text),
                crate::http::extract::is_idempotency_key(text.as_bytes()),
                "{:?}", text
            );
        }

        // Up to 12 characters no number can overflow, so the pattern and
        // the parser must agree exactly.
        #[test]
        fn the_ttl_pattern_is_what_parse_ttl_takes(
            text in "[0-9msdh+ \t\u{a0}\u{3000}\u{1c}x-]{0,12}"
        ) {
            prop_assert_eq!(
                regex(TTL).is_match(&text),
                kv_core::api::parse_ttl(&text).is_ok(),
                "{:?}", text
            );
        }

        #[test]
        fn ttl_like_text_is_taken_by_both_or_neither(
            text in "[ \t\u{a0}]?0?[0-9]{1,11}(ms|s|m|h|d|sm)?[ \u{3000}\u{1c}]?"
        ) {
            prop_assert_eq!(
                regex(TTL).is_match(&text),
                kv_core::api::parse_ttl(&text).is_ok(),
                "{:?}", text
            );
        }

        #[test]
        fn the_base64_pattern_is_what_decodes(text in "[A-Za-z0-9+/=]{0,12}") {
            let decodes = base64::engine::general_purpose::STANDARD.decode(&text).is_ok();
            prop_assert_eq!(regex(BASE64).is_match(&text), decodes, "{:?}", text);
        }
    }

    #[test]
    fn the_longest_ttls_the_pattern_takes_fit() {
        for ttl in [
            "9999999999999999999ms",
            "9999999999999999s",
            "9999999999999999",
            "99999999999999m",
            "999999999999h",
            "99999999999d",
            " 0001d\u{3000}",
        ] {
            assert!(regex(TTL).is_match(ttl), "{ttl:?}");
            assert!(kv_core::api::parse_ttl(ttl).is_ok(), "{ttl:?}");
        }
    }

    #[test]
    fn last_event_ids_are_revisions_that_have_a_next() {
        assert!(regex(LAST_EVENT_ID).is_match(" 9999999999999999999\t"));
        assert!(!regex(LAST_EVENT_ID).is_match("18446744073709551615"));
        assert!(!regex(LAST_EVENT_ID).is_match("-1"));
    }

    #[test]
    fn the_ops_pattern_takes_lists_of_known_ops() {
        for ops in ["set", " set , rm,expire ", "rm,rm", "expire\u{a0}"] {
            assert!(regex(WATCH_OPS).is_match(ops), "{ops:?}");
        }
        for ops in ["", ",", "set,", "SET", "set rm", "set,,rm", "put"] {
            assert!(!regex(WATCH_OPS).is_match(ops), "{ops:?}");
        }
    }
}
