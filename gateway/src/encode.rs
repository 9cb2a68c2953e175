//! The GraphQL-over-HTTP body of a response, written straight from the executor's value into
//! one buffer that refuses to grow past the response limit.
//!
//! serde_json wrote the same bytes through `io::Write`, three writes per string (quote,
//! contents, quote) and each checked against the limit: for the nested 20-mission page, 3,400
//! writes and a tenth of the server's instructions (docs/BENCHMARKS.md). Here a string is one
//! reservation and, when it needs no escape (nearly always), one copy. The output is
//! serde_json's, byte for byte (the tests compare them): the same escapes, numbers and the
//! rare values (binary, errors, extensions) still written by serde_json itself.
use std::io;

use async_graphql::{Response, Value};
use serde::Serialize;

/// The response as the GraphQL-over-HTTP body (no `data` for a request error); `None` as soon
/// as it would pass `max_bytes`, so that an oversized answer is never held twice in memory.
pub fn response(response: &Response, request_error: bool, max_bytes: usize) -> Option<Vec<u8>> {
    let mut out = Bounded {
        out: Vec::with_capacity(4096.min(max_bytes)),
        max: max_bytes,
    };
    out.raw(b"{")?;
    let mut first = true;
    let mut key = |out: &mut Bounded, key: &[u8]| {
        if !std::mem::take(&mut first) {
            out.raw(b",")?;
        }
        out.raw(key)
    };
    if !request_error {
        key(&mut out, br#""data":"#)?;
        out.value(&response.data)?;
    }
    if !response.errors.is_empty() {
        key(&mut out, br#""errors":"#)?;
        out.serde(&response.errors)?;
    }
    if !response.extensions.is_empty() {
        key(&mut out, br#""extensions":"#)?;
        out.serde(&response.extensions)?;
    }
    out.raw(b"}")?;
    Some(out.out)
}

/// A buffer that refuses to grow past `max` bytes.
struct Bounded {
    out: Vec<u8>,
    max: usize,
}

impl Bounded {
    fn raw(&mut self, bytes: &[u8]) -> Option<()> {
        if self.out.len() + bytes.len() > self.max {
            return None;
        }
        self.out.extend_from_slice(bytes);
        Some(())
    }

    fn value(&mut self, value: &Value) -> Option<()> {
        match value {
            Value::Null => self.raw(b"null"),
            Value::Boolean(true) => self.raw(b"true"),
            Value::Boolean(false) => self.raw(b"false"),
            Value::String(s) => self.string(s),
            Value::Enum(name) => self.string(name),
            Value::List(items) => {
                self.raw(b"[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(b",")?;
                    }
                    self.value(item)?;
                }
                self.raw(b"]")
            }
            Value::Object(fields) => {
                self.raw(b"{")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.raw(b",")?;
                    }
                    self.string(name)?;
                    self.raw(b":")?;
                    self.value(value)?;
                }
                self.raw(b"}")
            }
            Value::Number(_) | Value::Binary(_) => self.serde(value),
        }
    }

    /// `s` as a JSON string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) -> Option<()> {
        let bytes = s.as_bytes();
        if self.out.len() + bytes.len() + 2 > self.max {
            return None;
        }
        self.out.reserve(bytes.len() + 2);
        self.out.push(b'"');
        // Eight bytes at a time up to the first word that may need an escape (most strings
        // have none), then byte by byte from there.
        let clean = 8 * bytes
            .chunks_exact(8)
            .take_while(|word| word.first_chunk().is_some_and(|w| !may_escape(w)))
            .count();
        let mut start = 0;
        for (i, &byte) in bytes.iter().enumerate().skip(clean) {
            let escape = ESCAPE[usize::from(byte)];
            if escape == 0 {
                continue;
            }
            self.out.extend_from_slice(&bytes[start..i]);
            start = i + 1;
            if escape == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.extend_from_slice(b"\\u00");
                self.out.push(HEX[usize::from(byte >> 4)]);
                self.out.push(HEX[usize::from(byte & 0xF)]);
            } else {
                self.out.extend_from_slice(&[b'\\', escape]);
            }
        }
        self.out.extend_from_slice(&bytes[start..]);
        self.out.push(b'"');
        // Escapes lengthen a string past what was checked above.
        (self.out.len() <= self.max).then_some(())
    }

    /// `value` as serde_json writes it, through the same bound.
    fn serde(&mut self, value: &impl Serialize) -> Option<()> {
        serde_json::to_writer(&mut *self, value).ok()
    }
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.raw(buf)
            .ok_or_else(|| io::Error::other("over the response limit"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether one of the eight bytes of `word` may need an escape: below 0x20, `"` or `\\` (the
/// has-less-than and has-zero-byte tests of "Bit Twiddling Hacks", exact for "any byte").
const fn may_escape(word: &[u8; 8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const fn has_zero(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x
    }
    let x = u64::from_le_bytes(*word);
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    let quote = has_zero(x ^ (ONES * b'"' as u64));
    let backslash = has_zero(x ^ (ONES * b'\\' as u64));
    (control | quote | backslash) & HIGHS != 0
}

/// How serde_json escapes each byte of a string: 0 for none, `u` for `\u00XX`, else the
/// character after the backslash.
const ESCAPE: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = match byte {
            0x08 => b'b',
            0x09 => b't',
            0x0A => b'n',
            0x0C => b'f',
            0x0D => b'r',
            _ => b'u',
        };
        byte += 1;
    }
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

#[cfg(test)]
mod tests {
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{Name, ServerError};

    use super::*;

    /// The body as serde_json wrote it before.
    fn by_serde(response: &Response, request_error: bool) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Value>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            errors: &'a [ServerError],
            #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            extensions: &'a std::collections::BTreeMap<String, Value>,
        }
        serde_json::to_vec(&Body {
            data: (!request_error).then_some(&response.data),
            errors: &response.errors,
            extensions: &response.extensions,
        })
        .expect("serde_json")
    }

    fn every_kind_of_value() -> Value {
        let every_byte: String = (0u8..0x80).map(char::from).collect();
        let mut inner = IndexMap::new();
        inner.insert(Name::new("empty"), Value::Object(IndexMap::new()));
        inner.insert(Name::new("none"), Value::List(Vec::new()));
        inner.insert(Name::new("bytes"), Value::Binary(vec![0, 7, 255].into()));
        let mut fields = IndexMap::new();
        fields.insert(Name::new("ascii"), Value::String(every_byte));
        fields.insert(
            Name::new("accents"),
            Value::String("Réserve « civique » — \u{1F332} \u{7F}\u{2028}".into()),
        );
        fields.insert(Name::new("q\"uo\\te"), Value::String("a\"b\\c\n".into()));
        fields.insert(Name::new("status"), Value::Enum(Name::new("VALIDATED")));
        fields.insert(Name::new("yes"), Value::Boolean(true));
        fields.insert(Name::new("no"), Value::Boolean(false));
        fields.insert(Name::new("nothing"), Value::Null);
        fields.insert(
            Name::new("numbers"),
            Value::List(vec![
                Value::from(0),
                Value::from(-42),
                Value::from(u64::MAX),
                Value::from(45.764_043),
                Value::from(-0.5),
                Value::from(1e21),
                Value::from(1.0),
            ]),
        );
        fields.insert(Name::new("inner"), Value::Object(inner));
        Value::List(vec![Value::Object(fields), Value::String(String::new())])
    }

    #[test]
    fn bodies_are_what_serde_json_writes() {
        let mut error = ServerError::new("bad \"input\"\t", None);
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
        let mut with_everything = Response::new(every_kind_of_value());
        with_everything.errors = vec![error.clone()];
        with_everything
            .extensions
            .insert("cost".into(), Value::from(12));
        let cases = [
            (Response::new(every_kind_of_value()), false),
            (with_everything, false),
            (Response::from_errors(vec![error]), true),
            (Response::new(Value::Null), false),
        ];
        for (response, request_error) in cases {
            let expected = by_serde(&response, request_error);
            let written = super::response(&response, request_error, usize::MAX).expect("body");
            assert_eq!(
                String::from_utf8(written).expect("utf-8"),
                String::from_utf8(expected).expect("utf-8")
            );
        }
    }

    /// A word is flagged exactly when one of its bytes has an escape in the table, whatever
    /// its place and its neighbours (ASCII, or bytes of multi-byte characters).
    #[test]
    fn a_word_may_need_an_escape_exactly_when_one_of_its_bytes_does() {
        for fill in [b'a', b' ', 0x7F, 0x80, 0xC3, 0xFF, 0x21, 0x5D] {
            for at in 0..8 {
                for byte in 0..=255u8 {
                    let mut word = [fill; 8];
                    word[at] = byte;
                    let escapes = word.iter().any(|b| ESCAPE[usize::from(*b)] != 0);
                    assert_eq!(may_escape(&word), escapes, "{word:?}");
                }
            }
        }
    }

    /// Strings whose escapes fall anywhere, past the first words or in the last bytes.
    #[test]
    fn escapes_are_written_wherever_they_fall() {
        for len in 0..40 {
            for at in 0..len {
                for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'x' })
                        .collect();
                    let response = Response::new(Value::String(text));
                    assert_eq!(
                        super::response(&response, false, usize::MAX).expect("body"),
                        by_serde(&response, false)
                    );
                }
            }
        }
    }

    #[test]
    fn a_body_over_the_limit_is_not_written() {
        let response = Response::new(every_kind_of_value());
        let whole = by_serde(&response, false).len();
        assert_eq!(
            super::response(&response, false, whole).map(|b| b.len()),
            Some(whole)
        );
        // One byte short fails wherever the limit falls: in a key, a string, an escape, a number.
        for max in [0, 1, 10, whole / 3, whole / 2, whole - 1] {
            assert_eq!(super::response(&response, false, max), None, "{max}");
        }
    }
}
