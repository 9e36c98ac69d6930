//! Marks on served copies, per format, and how to take them off again (a leaked copy
//! with its mark removed is the original, byte for byte, so it matches the whole-file
//! fingerprint kept at upload).
//!
//! - PDF: an incremental update (see [`super::pdf::mark`]): a visible footer and an
//!   invisible reference on every page, and the reference in the Info dictionary.
//! - PNG: a `tEXt` chunk after `IHDR`. JPEG: a `COM` segment after the `APPn` headers.
//! - Plain text: a last line naming who downloaded it, with the reference.

use super::pdf::mark::{self as pdf_mark, Stamp};
use tiaki_domain::ContentType;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const PNG_KEYWORD: &[u8] = b"Tiaki-Reference\0";
const JPEG_PREFIX: &[u8] = b"Tiaki-Reference: ";
const TEXT_PREFIX: &str = "-- Downloaded from Tiaki by ";
/// Most chunks or segments walked in an image header.
const MAX_SEGMENTS: usize = 100_000;

/// Who a copy was served to, and its reference.
#[derive(Debug, Clone)]
pub struct Label {
    /// The reader's display name.
    pub name: String,
    /// Their role (`clinician`, `patient`, …).
    pub role: String,
    /// When, as `YYYY-MM-DD HH:MM UTC`.
    pub at: String,
    /// The reference (`TK1…`).
    pub reference: String,
}

impl Label {
    /// One line for people: who, when, and the reference.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "Downloaded by {} ({}) {} - Tiaki reference {}",
            self.name, self.role, self.at, self.reference
        )
    }
}

/// Why a copy went out unmarked (a machine code for the audit log).
pub type Unmarkable = &'static str;

/// The marked copy of `data`, or why it cannot be marked safely.
pub fn mark(content_type: ContentType, data: &[u8], label: &Label) -> Result<Vec<u8>, Unmarkable> {
    match content_type {
        ContentType::Pdf => {
            let visible = ascii(&label.line());
            pdf_mark::mark(
                data,
                &Stamp {
                    visible: &visible,
                    reference: &label.reference,
                },
            )
            .map_err(pdf_mark::MarkError::code)
        }
        ContentType::Png => mark_png(data, &label.reference).ok_or("png_damaged"),
        ContentType::Jpeg => mark_jpeg(data, &label.reference).ok_or("jpeg_damaged"),
        ContentType::Text => Ok(mark_text(data, label)),
    }
}

/// What `data` was before a mark of ours was put on it: the candidates to fingerprint
/// (none if it carries no mark of ours).
#[must_use]
pub fn originals(data: &[u8]) -> Vec<Vec<u8>> {
    if let Some(original) = pdf_mark::original_of(data) {
        return vec![original.to_vec()];
    }
    if data.starts_with(PNG_SIGNATURE) {
        return unmark_png(data).into_iter().collect();
    }
    if data.starts_with(b"\xff\xd8") {
        return unmark_jpeg(data).into_iter().collect();
    }
    unmark_text(data)
}

/// Printable ASCII for a PDF standard font: macrons dropped, anything else `?`.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'ā' | 'Ā' | 'ē' | 'Ē' | 'ī' | 'Ī' | 'ō' | 'Ō' | 'ū' | 'Ū' => {
                let base = match c.to_lowercase().next().unwrap_or('?') {
                    'ā' => 'a',
                    'ē' => 'e',
                    'ī' => 'i',
                    'ō' => 'o',
                    _ => 'u',
                };
                if c.is_uppercase() {
                    base.to_ascii_uppercase()
                } else {
                    base
                }
            }
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

fn mark_text(data: &[u8], label: &Label) -> Vec<u8> {
    let mut out = data.to_vec();
    if !matches!(out.last(), None | Some(b'\n')) {
        out.push(b'\n');
    }
    out.extend_from_slice(
        format!(
            "{TEXT_PREFIX}{} ({}) {}. Reference: {}\n",
            label.name, label.role, label.at, label.reference
        )
        .as_bytes(),
    );
    out
}

fn unmark_text(data: &[u8]) -> Vec<Vec<u8>> {
    let Some(body) = data.strip_suffix(b"\n") else {
        return Vec::new();
    };
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let last = body.get(start..).unwrap_or_default();
    if !last.starts_with(TEXT_PREFIX.as_bytes())
        || super::pdf::find(last, b"Reference: TK1").is_none()
    {
        return Vec::new();
    }
    let rest = data.get(..start).unwrap_or_default();
    let mut candidates = vec![rest.to_vec()];
    // The newline the mark added to a file that did not end with one.
    if let Some(without) = rest.strip_suffix(b"\n") {
        candidates.push(without.to_vec());
    }
    candidates
}

/// A PNG's chunks: (offset, type, data range end incl. CRC). `None` if malformed.
fn png_chunks(data: &[u8]) -> Option<Vec<(usize, [u8; 4], usize)>> {
    let mut at = PNG_SIGNATURE.len();
    let mut chunks = Vec::new();
    while at < data.len() && chunks.len() < MAX_SEGMENTS {
        let len = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?);
        let kind: [u8; 4] = data.get(at + 4..at + 8)?.try_into().ok()?;
        let end = at
            .checked_add(12)?
            .checked_add(usize::try_from(len).ok()?)?;
        if end > data.len() {
            return None;
        }
        chunks.push((at, kind, end));
        at = end;
        if &kind == b"IEND" {
            break;
        }
    }
    Some(chunks)
}

fn mark_png(data: &[u8], reference: &str) -> Option<Vec<u8>> {
    if !data.starts_with(PNG_SIGNATURE) {
        return None;
    }
    let chunks = png_chunks(data)?;
    let &(_, kind, ihdr_end) = chunks.first()?;
    if &kind != b"IHDR" || !chunks.iter().any(|(_, k, _)| k == b"IEND") {
        return None;
    }
    let mut body = PNG_KEYWORD.to_vec();
    body.extend_from_slice(reference.as_bytes());
    let mut chunk = Vec::with_capacity(body.len() + 12);
    chunk.extend_from_slice(&u32::try_from(body.len()).ok()?.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(b"tEXt");
    crc.update(&body);
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc.sum().to_be_bytes());
    let mut out = Vec::with_capacity(data.len() + chunk.len());
    out.extend_from_slice(data.get(..ihdr_end)?);
    out.extend_from_slice(&chunk);
    out.extend_from_slice(data.get(ihdr_end..)?);
    Some(out)
}

fn unmark_png(data: &[u8]) -> Option<Vec<u8>> {
    let chunks = png_chunks(data)?;
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut removed = false;
    let mut last_end = PNG_SIGNATURE.len();
    for (at, kind, end) in chunks {
        let ours = &kind == b"tEXt" && data.get(at + 8..end)?.starts_with(PNG_KEYWORD);
        if ours {
            removed = true;
        } else {
            out.extend_from_slice(data.get(at..end)?);
        }
        last_end = end;
    }
    out.extend_from_slice(data.get(last_end..)?);
    removed.then_some(out)
}

/// The offsets of a JPEG's header segments before the image data: (marker offset,
/// marker, end). `None` if malformed.
fn jpeg_segments(data: &[u8]) -> Option<Vec<(usize, u8, usize)>> {
    if !data.starts_with(b"\xff\xd8") {
        return None;
    }
    let mut at = 2;
    let mut segments = Vec::new();
    while segments.len() < MAX_SEGMENTS {
        if *data.get(at)? != 0xff {
            return None;
        }
        let marker = *data.get(at + 1)?;
        // Start of scan, or a marker without a length: the headers end here.
        if marker == 0xda || marker == 0xd9 || (0xd0..=0xd7).contains(&marker) {
            return Some(segments);
        }
        let len = usize::from(u16::from_be_bytes(
            data.get(at + 2..at + 4)?.try_into().ok()?,
        ));
        if len < 2 {
            return None;
        }
        let end = at + 2 + len;
        if end > data.len() {
            return None;
        }
        segments.push((at, marker, end));
        at = end;
    }
    None
}

fn mark_jpeg(data: &[u8], reference: &str) -> Option<Vec<u8>> {
    let segments = jpeg_segments(data)?;
    // After the APPn headers (JFIF, Exif), where viewers expect them first.
    let insert_at = segments
        .iter()
        .take_while(|(_, m, _)| (0xe0..=0xef).contains(m))
        .last()
        .map_or(2, |(_, _, end)| *end);
    let mut payload = JPEG_PREFIX.to_vec();
    payload.extend_from_slice(reference.as_bytes());
    let len = u16::try_from(payload.len() + 2).ok()?;
    let mut out = Vec::with_capacity(data.len() + payload.len() + 4);
    out.extend_from_slice(data.get(..insert_at)?);
    out.extend_from_slice(&[0xff, 0xfe]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(data.get(insert_at..)?);
    Some(out)
}

fn unmark_jpeg(data: &[u8]) -> Option<Vec<u8>> {
    let segments = jpeg_segments(data)?;
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(b"\xff\xd8");
    let mut removed = false;
    let mut last_end = 2;
    for (at, marker, end) in segments {
        if marker == 0xfe && data.get(at + 4..end)?.starts_with(JPEG_PREFIX) {
            removed = true;
        } else {
            out.extend_from_slice(data.get(at..end)?);
        }
        last_end = end;
    }
    out.extend_from_slice(data.get(last_end..)?);
    removed.then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn label() -> Label {
        Label {
            name: "Tāne Ōtaki".into(),
            role: "clinician".into(),
            at: "2026-01-02 03:04 UTC".into(),
            reference: format!("TK1{}", "a".repeat(39)),
        }
    }

    fn png() -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 3, 2);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[7u8; 18]).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn a_marked_png_still_decodes_to_the_same_pixels_and_unmarks_exactly() {
        let original = png();
        let marked = mark(ContentType::Png, &original, &label()).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&marked));
        let mut reader = decoder.read_info().unwrap();
        let texts: Vec<String> = reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .map(|t| format!("{}={}", t.keyword, t.text))
            .collect();
        assert_eq!(
            texts,
            vec![format!("Tiaki-Reference={}", label().reference)]
        );
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        assert_eq!(pixels, vec![7u8; 18]);
        assert_eq!(originals(&marked), vec![original.clone()]);
        assert!(originals(&original).is_empty());
    }

    #[test]
    fn a_marked_jpeg_keeps_its_headers_first_and_unmarks_exactly() {
        // SOI, APP0 (JFIF), DQT, SOS, data, EOI: the segment structure is what matters.
        let mut jpeg =
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
        jpeg.extend_from_slice(b"\xff\xdb\x00\x04\x00\x01\xff\xda\x00\x02\x12\x34\xff\xd9");
        let marked = mark(ContentType::Jpeg, &jpeg, &label()).unwrap();
        assert_eq!(&marked[2..4], b"\xff\xe0", "APP0 stays first");
        let segments = jpeg_segments(&marked).unwrap();
        assert_eq!(segments[1].1, 0xfe);
        assert_eq!(originals(&marked), vec![jpeg.clone()]);
        assert_eq!(
            mark(ContentType::Jpeg, b"\xff\xd8junk", &label()),
            Err("jpeg_damaged")
        );
    }

    #[test]
    fn text_gets_a_last_line_and_loses_it_again() {
        for original in [&b"line one\nline two\n"[..], b"no newline at the end"] {
            let marked = mark(ContentType::Text, original, &label()).unwrap();
            let text = String::from_utf8(marked.clone()).unwrap();
            assert!(text.ends_with(&format!("Reference: {}\n", label().reference)));
            assert!(text.contains("Tāne Ōtaki (clinician)"));
            assert!(originals(&marked).iter().any(|o| o == original));
        }
    }

    #[test]
    fn footers_are_plain_ascii() {
        assert_eq!(ascii("Tāne Ōtaki – x"), "Tane Otaki ? x");
    }
}
