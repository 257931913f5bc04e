//! Media types as RFC 9110 (section 8.3.1) writes them: `type/subtype`,
//! then `; name=value` parameters. A value's content type is stored and
//! later sent back as a `Content-Type` header, so only these are taken.

/// Whether `c` may appear in a token (`tchar`).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Reads `text` from a position: each step consumes what it recognises.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let found = self.peek() == Some(c);
        self.at += usize::from(found);
        found
    }

    fn token(&mut self) -> bool {
        let start = self.at;
        while self.peek().is_some_and(is_token_char) {
            self.at += 1;
        }
        self.at > start
    }

    fn white_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// `"..."` with `\`-escapes, visible ASCII and white space inside.
    fn quoted_string(&mut self) -> bool {
        if !self.eat(b'"') {
            return false;
        }
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                b'"' => return true,
                b'\\' => match self.peek() {
                    Some(b'\t' | b' '..=b'~') => self.at += 1,
                    _ => return false,
                },
                b'\t' | b' '..=b'~' => {}
                _ => return false,
            }
        }
        false
    }

    /// `name=value`, the value a token or a quoted string.
    fn parameter(&mut self) -> bool {
        self.token() && self.eat(b'=') && (self.token() || self.quoted_string())
    }
}

/// Whether `text` is a media type such as `text/plain; charset=utf-8`
/// (ASCII only; white space only around the `;`s).
pub fn is_media_type(text: &str) -> bool {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    if !(reader.token() && reader.eat(b'/') && reader.token()) {
        return false;
    }
    loop {
        reader.white_space();
        if reader.peek().is_none() {
            return true;
        }
        if !reader.eat(b';') {
            return false;
        }
        reader.white_space();
        // A parameter may be left out: `text/plain;` is a media type.
        if matches!(reader.peek(), None | Some(b';')) {
            continue;
        }
        if !reader.parameter() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::schemas::patterns::MEDIA_TYPE;
    use proptest::prelude::*;

    fn documented(text: &str) -> bool {
        regex::Regex::new(MEDIA_TYPE)
            .expect("a valid pattern")
            .is_match(text)
    }

    #[test]
    fn media_types_and_not() {
        for good in [
            "text/plain",
            "application/json; charset=utf-8",
            "multipart/form-data;boundary=\"a b\\\"c\"",
            "application/vnd.kv+json",
            "text/plain;",
            "text/plain ; ;a=b",
        ] {
            assert!(is_media_type(good), "{good:?}");
            assert!(documented(good), "{good:?}");
        }
        for bad in [
            "",
            "__main__",
            "text/",
            "/plain",
            "text /plain",
            "text/plain; charset",
            "text/plain; a=\"open",
            "text/plain\u{b}",
            "tëxt/plain",
            "text/plain; a=b c",
        ] {
            assert!(!is_media_type(bad), "{bad:?}");
            assert!(!documented(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn the_pattern_is_what_the_parser_takes(text in r#"[a-c/;= "\\\t\u{b}é*-]{0,12}"#) {
            prop_assert_eq!(documented(&text), is_media_type(&text), "{:?}", text);
        }

        #[test]
        fn type_like_text_is_taken_by_both_or_neither(
            text in r#"[a-z]{1,3}/[a-z+.]{1,3}( ?; ?([a-z]{1,2}=([a-z]{1,2}|"[a-z \\\\"]{0,3}"))?){0,2}[ ;]?"#
        ) {
            prop_assert_eq!(documented(&text), is_media_type(&text), "{:?}", text);
        }
    }
}
