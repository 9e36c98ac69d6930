//! PDF objects: a lexer and parser for the object syntax (ISO 32000-1, 7.2–7.3) and a
//! writer for the objects an incremental update adds.
//!
//! The parser reads untrusted bytes: it never panics, nests at most [`MAX_DEPTH`]
//! levels, and every loop consumes input, so its work is bounded by the input's length.

use std::fmt::Write as _;

/// Deepest nesting of arrays and dictionaries accepted.
pub const MAX_DEPTH: usize = 32;

/// A PDF object. Strings and names keep their decoded bytes; reals keep their text so
/// that writing one back changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(String),
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

/// A dictionary, in the order its keys were read (later duplicates replace earlier).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dict(pub Vec<(Vec<u8>, Obj)>);

impl Dict {
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, replacing any earlier value.
    pub fn set(&mut self, key: &[u8], value: Obj) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_vec(), value));
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.0.retain(|(k, _)| k != key);
    }

    /// A name value, if `key` holds a direct name.
    #[must_use]
    pub fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key) {
            Some(Obj::Name(n)) => Some(n),
            _ => None,
        }
    }

    /// An integer value, if `key` holds a direct integer.
    #[must_use]
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Obj::Int(n)) => Some(*n),
            _ => None,
        }
    }
}

impl Obj {
    #[must_use]
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Self::Dict(d) => Some(d),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_number(&self) -> Option<f64> {
        match self {
            // Integers in PDF files are far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            Self::Int(n) => Some(*n as f64),
            Self::Real(r) => r.parse().ok(),
            _ => None,
        }
    }
}

/// Why bytes are not a PDF object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError;

pub fn is_white(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

pub fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delimiter(b)
}

/// A cursor over bytes, reading objects.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    data: &'a [u8],
    pub pos: usize,
}

impl<'a> Parser<'a> {
    #[must_use]
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Self { data, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.data.get(self.pos.checked_add(ahead)?).copied()
    }

    /// Skips whitespace and comments.
    pub fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The run of regular characters at the cursor (a keyword or a number).
    fn regular_run(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        self.data.get(start..self.pos).unwrap_or_default()
    }

    /// Reads `keyword` (after whitespace) or fails, leaving the cursor where it was.
    pub fn keyword(&mut self, keyword: &[u8]) -> bool {
        let saved = self.pos;
        self.skip_space();
        if self.regular_run() == keyword {
            true
        } else {
            self.pos = saved;
            false
        }
    }

    /// Reads an unsigned integer token.
    pub fn unsigned(&mut self) -> Option<u64> {
        let saved = self.pos;
        self.skip_space();
        let run = self.regular_run();
        let parsed = parse_unsigned(run);
        if parsed.is_none() {
            self.pos = saved;
        }
        parsed
    }

    /// Reads one object.
    pub fn object(&mut self) -> Result<Obj, SyntaxError> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> Result<Obj, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(SyntaxError);
        }
        self.skip_space();
        match self.peek().ok_or(SyntaxError)? {
            b'/' => {
                self.pos += 1;
                Ok(Obj::Name(self.name_body()))
            }
            b'(' => {
                self.pos += 1;
                self.literal_string().map(Obj::Str)
            }
            b'<' if self.peek_at(1) == Some(b'<') => {
                self.pos += 2;
                self.dict_body(depth).map(Obj::Dict)
            }
            b'<' => {
                self.pos += 1;
                self.hex_string().map(Obj::Str)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(items));
                        }
                        None => return Err(SyntaxError),
                        Some(_) => items.push(self.object_at_depth(depth + 1)?),
                    }
                }
            }
            b if is_regular(b) => self.keyword_or_number(),
            _ => Err(SyntaxError),
        }
    }

    fn dict_body(&mut self, depth: usize) -> Result<Dict, SyntaxError> {
        let mut dict = Dict::default();
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'>') if self.peek_at(1) == Some(b'>') => {
                    self.pos += 2;
                    return Ok(dict);
                }
                Some(b'/') => {
                    self.pos += 1;
                    let key = self.name_body();
                    let value = self.object_at_depth(depth + 1)?;
                    dict.set(&key, value);
                }
                _ => return Err(SyntaxError),
            }
        }
    }

    fn keyword_or_number(&mut self) -> Result<Obj, SyntaxError> {
        let run = self.regular_run();
        match run {
            b"true" => return Ok(Obj::Bool(true)),
            b"false" => return Ok(Obj::Bool(false)),
            b"null" => return Ok(Obj::Null),
            _ => {}
        }
        if let Some(n) = parse_unsigned(run) {
            // `n g R` is a reference: look ahead without committing.
            let saved = self.pos;
            if let Some(generation) = self.unsigned()
                && self.keyword(b"R")
                && let (Ok(num), Ok(generation)) = (u32::try_from(n), u16::try_from(generation))
            {
                return Ok(Obj::Ref(num, generation));
            }
            self.pos = saved;
            return i64::try_from(n).map(Obj::Int).map_err(|_| SyntaxError);
        }
        let text = std::str::from_utf8(run).map_err(|_| SyntaxError)?;
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Obj::Int(n));
        }
        let numeric = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
        if numeric && text.parse::<f64>().is_ok() {
            return Ok(Obj::Real(text.to_owned()));
        }
        Err(SyntaxError)
    }

    fn name_body(&mut self) -> Vec<u8> {
        let mut name = Vec::new();
        while let Some(b) = self.peek() {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
            if b == b'#'
                && let (Some(h), Some(l)) = (
                    self.peek().and_then(hex_value),
                    self.peek_at(1).and_then(hex_value),
                )
            {
                self.pos += 2;
                name.push(h << 4 | l);
            } else {
                name.push(b);
            }
        }
        name
    }

    fn literal_string(&mut self) -> Result<Vec<u8>, SyntaxError> {
        let mut out = Vec::new();
        let mut open = 1usize;
        loop {
            let b = self.peek().ok_or(SyntaxError)?;
            self.pos += 1;
            match b {
                b'(' => {
                    open += 1;
                    out.push(b);
                }
                b')' => {
                    open -= 1;
                    if open == 0 {
                        return Ok(out);
                    }
                    out.push(b);
                }
                b'\\' => {
                    let e = self.peek().ok_or(SyntaxError)?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut value = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        self.pos += 1;
                                        value = value * 8 + u32::from(d - b'0');
                                    }
                                    _ => break,
                                }
                            }
                            out.push(u8::try_from(value & 0xff).unwrap_or(0));
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }

    fn hex_string(&mut self) -> Result<Vec<u8>, SyntaxError> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let b = self.peek().ok_or(SyntaxError)?;
            self.pos += 1;
            if b == b'>' {
                if let Some(h) = high {
                    out.push(h << 4);
                }
                return Ok(out);
            }
            if is_white(b) {
                continue;
            }
            let v = hex_value(b).ok_or(SyntaxError)?;
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A run of ASCII digits as a number (no sign), at most 19 digits.
#[must_use]
pub fn parse_unsigned(run: &[u8]) -> Option<u64> {
    if run.is_empty() || run.len() > 19 || !run.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(run).ok()?.parse().ok()
}

/// Writes `obj` in PDF syntax. Strings are written as hex, so any bytes survive.
pub fn write_obj(out: &mut Vec<u8>, obj: &Obj) {
    match obj {
        Obj::Null => out.extend_from_slice(b"null"),
        Obj::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Obj::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Obj::Real(r) => out.extend_from_slice(r.as_bytes()),
        Obj::Str(s) => {
            let mut hex = String::with_capacity(s.len() * 2 + 2);
            hex.push('<');
            for b in s {
                let _ = write!(hex, "{b:02X}");
            }
            hex.push('>');
            out.extend_from_slice(hex.as_bytes());
        }
        Obj::Name(n) => write_name(out, n),
        Obj::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_obj(out, item);
            }
            out.push(b']');
        }
        Obj::Dict(d) => write_dict(out, d),
        Obj::Ref(n, g) => out.extend_from_slice(format!("{n} {g} R").as_bytes()),
    }
}

pub fn write_dict(out: &mut Vec<u8>, dict: &Dict) {
    out.extend_from_slice(b"<<");
    for (k, v) in &dict.0 {
        write_name(out, k);
        out.push(b' ');
        write_obj(out, v);
        out.push(b' ');
    }
    out.extend_from_slice(b">>");
}

fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        if b.is_ascii_graphic() && is_regular(b) && b != b'#' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Obj, SyntaxError> {
        Parser::new(s, 0).object()
    }

    #[test]
    fn objects_parse_and_write_back_to_the_same_objects() {
        let text = b"<< /Type /Page /Kids [1 0 R 2 0 R] /N -3 /R 0.5 /S (a\\(b\\)c\\101) /H <48 49 5> /B true /Z null /Esc /A#20B >>";
        let obj = parse(text).unwrap();
        let d = obj.as_dict().unwrap();
        assert_eq!(d.name(b"Type"), Some(&b"Page"[..]));
        assert_eq!(
            d.get(b"Kids"),
            Some(&Obj::Array(vec![Obj::Ref(1, 0), Obj::Ref(2, 0)]))
        );
        assert_eq!(d.int(b"N"), Some(-3));
        assert_eq!(d.get(b"S"), Some(&Obj::Str(b"a(b)cA".to_vec())));
        assert_eq!(d.get(b"H"), Some(&Obj::Str(b"HIP".to_vec())));
        assert_eq!(d.name(b"Esc"), Some(&b"A B"[..]));
        let mut out = Vec::new();
        write_obj(&mut out, &obj);
        assert_eq!(
            parse(&out).unwrap(),
            obj,
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn hostile_input_is_an_error_never_a_panic() {
        let deep = "[".repeat(10_000);
        assert_eq!(parse(deep.as_bytes()), Err(SyntaxError));
        for bad in [
            &b""[..],
            b"(unterminated",
            b"<< /A",
            b"<zz>",
            b"]",
            b"99999999999999999999999",
            b"1 0",
            b"<< 1 2 >>",
        ] {
            let _ = parse(bad);
        }
        assert_eq!(
            parse(b"1 0").unwrap(),
            Obj::Int(1),
            "a number not followed by R"
        );
    }
}
