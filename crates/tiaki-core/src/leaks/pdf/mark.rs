//! Marking a PDF with an incremental update (ISO 32000-1, 7.5.6): the original bytes
//! are kept exactly and new versions of the pages (each drawing one more content
//! stream: the visible footer and the invisible reference) and of the document
//! information dictionary are appended, with a cross-reference section of the same
//! kind as the file's own.
//!
//! Every marked file is read back before it is served; anything short of a file whose
//! every page draws the mark is refused, and the caller serves the original unmarked.

use super::object::{Dict, Obj, write_dict, write_obj};
use super::{PdfError, PdfFile, find, rfind};
use std::fmt::Write as _;

/// Starts every update this module appends; the number is the original's length, so
/// the original can be recovered from a served copy byte for byte.
const MARKER: &[u8] = b"%TiakiMark ";
/// The Info dictionary key that carries the reference.
pub const INFO_KEY: &[u8] = b"TiakiReference";

/// What a page footer says.
#[derive(Debug, Clone)]
pub struct Stamp<'s> {
    /// Shown at the foot of every page (printable ASCII).
    pub visible: &'s str,
    /// Drawn invisibly (text render mode 3) beside it, and put in the Info dictionary.
    pub reference: &'s str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MarkError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error("the PDF has no pages")]
    NoPages,
    #[error("the marked PDF did not read back as marked")]
    SelfCheck,
}

impl MarkError {
    /// A machine code for the audit log.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Pdf(PdfError::NotPdf) => "pdf_not_pdf",
            Self::Pdf(PdfError::Damaged) => "pdf_damaged",
            Self::Pdf(PdfError::Encrypted) => "pdf_encrypted",
            Self::Pdf(PdfError::Unsupported) => "pdf_unsupported",
            Self::Pdf(PdfError::TooLarge) => "pdf_too_large",
            Self::NoPages => "pdf_no_pages",
            Self::SelfCheck => "pdf_self_check",
        }
    }
}

/// The original of a copy this module marked (the bytes before the first update it
/// appended), if `data` is one.
#[must_use]
pub fn original_of(data: &[u8]) -> Option<&[u8]> {
    let mut search_end = data.len();
    let mut found = None;
    // The first of possibly several marks (a copy marked again) names the original.
    while let Some(at) = rfind(data.get(..search_end)?, MARKER) {
        let digits = data.get(at + MARKER.len()..)?;
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let len: usize = std::str::from_utf8(digits.get(..end)?).ok()?.parse().ok()?;
        if len <= at && at - len <= 1 {
            found = Some(len);
        }
        search_end = at;
    }
    data.get(..found?)
}

/// The marked copy of `data`.
pub fn mark(data: &[u8], stamp: &Stamp<'_>) -> Result<Vec<u8>, MarkError> {
    let pdf = PdfFile::parse(data)?;
    if pdf.recovered {
        return Err(PdfError::Damaged.into());
    }
    if pdf.trailer.get(b"Encrypt").is_some() {
        return Err(PdfError::Encrypted.into());
    }
    let pages = pdf.pages()?;
    if pages.is_empty() {
        return Err(MarkError::NoPages);
    }

    let mut next = pdf.size();
    let mut take = || {
        let n = next;
        next = next.saturating_add(1);
        n
    };
    let font = take();
    let open = take();
    let mut objects: Vec<(u32, u16, Vec<u8>)> = Vec::new();
    objects.push((
        font,
        0,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ));
    objects.push((open, 0, stream_body(b"q\n")));

    for page in &pages {
        let footer = take();
        let mut dict = page.dict.clone();
        let mut resources = page
            .resources
            .as_ref()
            .and_then(|r| pdf.resolve(r))
            .and_then(|r| r.as_dict().cloned())
            .unwrap_or_default();
        let mut fonts = resources
            .get(b"Font")
            .and_then(|f| pdf.resolve(f))
            .and_then(|f| f.as_dict().cloned())
            .unwrap_or_default();
        let font_name = (1..)
            .map(|i| format!("TiakiF{i}").into_bytes())
            .find(|n| fonts.get(n).is_none())
            .unwrap_or_else(|| b"TiakiF".to_vec());
        fonts.set(&font_name, Obj::Ref(font, 0));
        resources.set(b"Font", Obj::Dict(fonts));
        dict.set(b"Resources", Obj::Dict(resources));

        let mut contents = vec![Obj::Ref(open, 0)];
        match dict.get(b"Contents") {
            Some(Obj::Array(items)) => contents.extend(items.iter().cloned()),
            Some(r @ Obj::Ref(n, _)) => match pdf.object(*n) {
                Some(Obj::Array(items)) => contents.extend(items),
                _ => contents.push(r.clone()),
            },
            _ => {}
        }
        contents.push(Obj::Ref(footer, 0));
        dict.set(b"Contents", Obj::Array(contents));

        let mut body = Vec::new();
        write_dict(&mut body, &dict);
        objects.push((page.num, page.generation, body));
        let text = footer_content(page.media_box, &String::from_utf8_lossy(&font_name), stamp);
        objects.push((footer, 0, stream_body(text.as_bytes())));
    }

    let (info_num, info_gen, mut info) = match pdf.trailer.get(b"Info") {
        Some(Obj::Ref(n, g)) => (
            *n,
            *g,
            pdf.object(*n)
                .and_then(|o| o.as_dict().cloned())
                .unwrap_or_default(),
        ),
        _ => (take(), 0, Dict::default()),
    };
    info.set(INFO_KEY, Obj::Str(stamp.reference.as_bytes().to_vec()));
    let mut body = Vec::new();
    write_dict(&mut body, &info);
    objects.push((info_num, info_gen, body));

    let mut out = Vec::with_capacity(data.len() + 4096 * (pages.len() + 1));
    out.extend_from_slice(data);
    if !matches!(data.last(), Some(b'\n' | b'\r')) {
        out.push(b'\n');
    }
    out.extend_from_slice(MARKER);
    out.extend_from_slice(format!("{}\n", data.len()).as_bytes());
    let mut offsets: Vec<(u32, u16, usize)> = Vec::with_capacity(objects.len() + 1);
    for (num, generation, body) in &objects {
        offsets.push((*num, *generation, out.len()));
        out.extend_from_slice(format!("{num} {generation} obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }

    let mut trailer = Dict::default();
    for key in [&b"Root"[..], b"ID"] {
        if let Some(v) = pdf.trailer.get(key) {
            trailer.set(key, v.clone());
        }
    }
    trailer.set(b"Info", Obj::Ref(info_num, info_gen));
    trailer.set(
        b"Prev",
        Obj::Int(i64::try_from(pdf.startxref).map_err(|_| PdfError::TooLarge)?),
    );
    let xref_at = if pdf.xref_is_stream {
        let own = take();
        let at = out.len();
        offsets.push((own, 0, at));
        write_xref_stream(&mut out, own, next, trailer, &mut offsets)?;
        at
    } else {
        let at = out.len();
        trailer.set(b"Size", Obj::Int(i64::from(next)));
        write_classic_xref(&mut out, trailer, &mut offsets);
        at
    };
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());

    self_check(&out, pages.len(), stamp.reference)?;
    Ok(out)
}

fn footer_content(media_box: [f64; 4], font: &str, stamp: &Stamp<'_>) -> String {
    let x = media_box[0] + 18.0;
    let y = media_box[1] + 8.0;
    let mut text = String::new();
    let _ = write!(
        text,
        "Q\nq BT /{font} 7 Tf 0.3 g 1 0 0 1 {x:.2} {y:.2} Tm ({}) Tj ET Q\n",
        escape(stamp.visible)
    );
    let _ = writeln!(
        text,
        "q BT 3 Tr /{font} 1 Tf 1 0 0 1 {x:.2} {:.2} Tm (tiaki-reference {}) Tj ET Q",
        y + 8.0,
        escape(stamp.reference)
    );
    text
}

/// A literal string's body: printable ASCII only, with `(`, `)` and `\` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

fn stream_body(data: &[u8]) -> Vec<u8> {
    let mut body = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

fn write_classic_xref(out: &mut Vec<u8>, trailer: Dict, offsets: &mut [(u32, u16, usize)]) {
    offsets.sort_by_key(|(n, _, _)| *n);
    out.extend_from_slice(b"xref\n");
    let mut i = 0;
    while let Some(&(first, _, _)) = offsets.get(i) {
        let mut run = 1;
        while offsets
            .get(i + run)
            .is_some_and(|(n, _, _)| u64::from(*n) == u64::from(first) + run as u64)
        {
            run += 1;
        }
        out.extend_from_slice(format!("{first} {run}\n").as_bytes());
        for (_, generation, at) in offsets.iter().skip(i).take(run) {
            out.extend_from_slice(format!("{at:010} {generation:05} n\r\n").as_bytes());
        }
        i += run;
    }
    out.extend_from_slice(b"trailer\n");
    write_dict(out, &trailer);
    out.push(b'\n');
}

fn write_xref_stream(
    out: &mut Vec<u8>,
    own: u32,
    size: u32,
    mut dict: Dict,
    offsets: &mut [(u32, u16, usize)],
) -> Result<(), MarkError> {
    offsets.sort_by_key(|(n, _, _)| *n);
    let mut index = Vec::new();
    let mut data = Vec::with_capacity(offsets.len() * 7);
    let mut i = 0;
    while let Some(&(first, _, _)) = offsets.get(i) {
        let mut run = 1;
        while offsets
            .get(i + run)
            .is_some_and(|(n, _, _)| u64::from(*n) == u64::from(first) + run as u64)
        {
            run += 1;
        }
        index.push(Obj::Int(i64::from(first)));
        index.push(Obj::Int(
            i64::try_from(run).map_err(|_| PdfError::TooLarge)?,
        ));
        for (_, generation, at) in offsets.iter().skip(i).take(run) {
            let at = u32::try_from(*at).map_err(|_| PdfError::TooLarge)?;
            data.push(1);
            data.extend_from_slice(&at.to_be_bytes());
            data.extend_from_slice(&generation.to_be_bytes());
        }
        i += run;
    }
    dict.set(b"Type", Obj::Name(b"XRef".to_vec()));
    dict.set(
        b"Size",
        Obj::Int(i64::from(size.max(own.saturating_add(1)))),
    );
    dict.set(
        b"W",
        Obj::Array(vec![Obj::Int(1), Obj::Int(4), Obj::Int(2)]),
    );
    dict.set(b"Index", Obj::Array(index));
    dict.set(
        b"Length",
        Obj::Int(i64::try_from(data.len()).map_err(|_| PdfError::TooLarge)?),
    );
    out.extend_from_slice(format!("{own} 0 obj\n").as_bytes());
    write_obj(out, &Obj::Dict(dict));
    out.extend_from_slice(b"\nstream\n");
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    Ok(())
}

/// Reads the marked file back: same number of pages, each drawing the reference.
fn self_check(marked: &[u8], pages: usize, reference: &str) -> Result<(), MarkError> {
    let pdf = PdfFile::parse(marked).map_err(|_| MarkError::SelfCheck)?;
    if pdf.recovered {
        return Err(MarkError::SelfCheck);
    }
    let read = pdf.pages().map_err(|_| MarkError::SelfCheck)?;
    if read.len() != pages {
        return Err(MarkError::SelfCheck);
    }
    for page in &read {
        let last = pdf
            .content_streams(page)
            .last()
            .copied()
            .ok_or(MarkError::SelfCheck)?;
        let (dict, raw) = pdf.stream(last).ok_or(MarkError::SelfCheck)?;
        let text = pdf.decode(&dict, raw).map_err(|_| MarkError::SelfCheck)?;
        if find(&text, reference.as_bytes()).is_none() {
            return Err(MarkError::SelfCheck);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::demo::{Line, render_pdf};

    const REF: &str = "TK1abcdefghjkmnpqrstvwxyz0123456789abcdefg";

    fn stamp() -> Stamp<'static> {
        Stamp {
            visible: "Downloaded by Aroha (clinician) - ref (x)",
            reference: REF,
        }
    }

    #[test]
    fn marking_keeps_the_original_as_a_prefix_and_marks_every_page() {
        let original = render_pdf(&[Line::Text("Hello".into())]);
        let marked = mark(&original, &stamp()).unwrap();
        assert!(marked.starts_with(&original));
        assert_eq!(original_of(&marked), Some(original.as_slice()));
        assert_eq!(original_of(&original), None);
        let pdf = PdfFile::parse(&marked).unwrap();
        assert!(!pdf.recovered && !pdf.xref_is_stream);
        let info = pdf
            .resolve(pdf.trailer.get(b"Info").unwrap())
            .unwrap()
            .as_dict()
            .unwrap()
            .clone();
        assert_eq!(info.get(INFO_KEY), Some(&Obj::Str(REF.as_bytes().to_vec())));
        // The original content is still drawn, between the save and restore.
        let page = &pdf.pages().unwrap()[0];
        assert_eq!(pdf.content_streams(page).len(), 3);
    }

    #[test]
    fn a_marked_copy_can_be_marked_again_and_still_names_its_original() {
        let original = render_pdf(&[Line::Text("Hello".into())]);
        let once = mark(&original, &stamp()).unwrap();
        let twice = mark(&once, &stamp()).unwrap();
        assert_eq!(original_of(&twice), Some(original.as_slice()));
    }

    #[test]
    fn encrypted_and_damaged_files_are_refused() {
        let original = render_pdf(&[Line::Text("Hello".into())]);
        let text = String::from_utf8(original.clone()).unwrap();
        let encrypted = text.replace("/Root 1 0 R", "/Root 1 0 R /Encrypt 9 0 R");
        assert_eq!(
            mark(encrypted.as_bytes(), &stamp()).unwrap_err().code(),
            "pdf_encrypted"
        );
        assert_eq!(
            mark(b"%PDF-1.4\ngarbage", &stamp()).unwrap_err().code(),
            "pdf_damaged"
        );
        assert_eq!(mark(b"hello", &stamp()).unwrap_err().code(), "pdf_not_pdf");
    }
}
