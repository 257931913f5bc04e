//! [`ChunkedBody`]: where a request body in the chunked transfer coding
//! ends, found by following its framing byte by byte with the same rules as
//! the HTTP layer's own decoder (actix-http's `ChunkedState`), so that the
//! connection gate ([`crate::http::gate`]) and the HTTP layer always agree on
//! where the next request starts.

/// Where the framing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SizeFirst,
    SizeRest,
    SizeLws,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
    End,
}

/// The framing of one chunked body, followed as its bytes pass.
#[derive(Debug, Clone)]
pub struct ChunkedBody {
    step: Step,
    /// Bytes left in the current chunk (while in `Data`), or its size so far.
    size: u64,
}

/// The framing is not valid chunked coding: the HTTP layer will refuse the
/// request; the gate stops following the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl Default for ChunkedBody {
    fn default() -> Self {
        Self {
            step: Step::SizeFirst,
            size: 0,
        }
    }
}

fn hex(byte: u8) -> Option<u64> {
    match byte {
        b'0'..=b'9' => Some(u64::from(byte - b'0')),
        b'a'..=b'f' => Some(u64::from(byte - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(byte - b'A' + 10)),
        _ => None,
    }
}

impl ChunkedBody {
    /// Follows `bytes`, which come next in the body. Returns `Some(n)` when
    /// the body ends after its first `n` bytes (the rest is the next
    /// request), `None` when all of them belong to it.
    ///
    /// # Errors
    ///
    /// [`Malformed`] framing.
    pub fn advance(&mut self, bytes: &[u8]) -> Result<Option<usize>, Malformed> {
        let mut at = 0;
        while at < bytes.len() {
            if self.step == Step::Data {
                let take = self.size.min((bytes.len() - at) as u64);
                self.size -= take;
                at += take as usize;
                if self.size == 0 {
                    self.step = Step::DataCr;
                }
                continue;
            }
            let byte = bytes[at];
            at += 1;
            self.step = self.next(byte)?;
            if self.step == Step::End {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    fn next(&mut self, byte: u8) -> Result<Step, Malformed> {
        use Step::*;
        Ok(match (self.step, byte) {
            (SizeFirst, b) => {
                self.size = hex(b).ok_or(Malformed)?;
                SizeRest
            }
            (SizeRest, b'\t' | b' ') => SizeLws,
            (SizeRest | SizeLws, b';') => Extension,
            (SizeRest | SizeLws | Extension, b'\r') => SizeLf,
            (SizeRest, b) => {
                let digit = hex(b).ok_or(Malformed)?;
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(Malformed)?;
                SizeRest
            }
            (SizeLws, b'\t' | b' ') => SizeLws,
            (Extension, 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => return Err(Malformed),
            (Extension, _) => Extension,
            (SizeLf, b'\n') if self.size > 0 => Data,
            (SizeLf, b'\n') => EndCr,
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeFirst,
            (Trailer, b'\r') => TrailerLf,
            (Trailer, _) => Trailer,
            (TrailerLf, b'\n') => EndCr,
            (EndCr, b'\r') => EndLf,
            (EndCr, _) => Trailer,
            (EndLf, b'\n') => End,
            _ => return Err(Malformed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(text: &[u8]) -> Result<Option<usize>, Malformed> {
        ChunkedBody::default().advance(text)
    }

    #[test]
    fn finds_the_end_of_a_body_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        let next = b"GET / HTTP/1.1\r\n";
        let whole = [&body[..], &next[..]].concat();
        assert_eq!(end_of(&whole), Ok(Some(body.len())));
        for split in 0..whole.len() {
            let mut framing = ChunkedBody::default();
            let first = framing.advance(&whole[..split]).expect("valid");
            let found = match first {
                Some(n) => n,
                None => {
                    split
                        + framing
                            .advance(&whole[split..])
                            .expect("valid")
                            .expect("ends")
                }
            };
            assert_eq!(found, body.len(), "split at {split}");
        }
        assert_eq!(end_of(b"0\r\n\r\n"), Ok(Some(5)));
        assert_eq!(end_of(b"3\r\nab"), Ok(None));
    }

    #[test]
    fn malformed_framing_is_refused() {
        for bad in [
            &b"x\r\n"[..],
            b"5\n",
            b"5\r\nhelloX",
            b"1 2\r\n",
            b"3;\x01\r\n",
        ] {
            assert_eq!(
                end_of(bad),
                Err(Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(end_of(b"fffffffffffffffff\r\n"), Err(Malformed));
    }
}
