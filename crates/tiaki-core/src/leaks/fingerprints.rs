//! Keyed content fingerprints: HMAC-SHA256 under a key derived from the keyring's MAC
//! key, so the table of fingerprints alone reveals nothing about any document (not
//! even whether two installations hold the same file).
//!
//! Kinds, from the strictest to the most forgiving:
//! - `file`: every byte of the file as uploaded;
//! - `pdf_stream`: each page content stream and image of a PDF, decoded, so a copy
//!   re-saved by another tool (recompressed, metadata stripped) still matches;
//! - `pixels`: a PNG's decoded pixels, so a re-encoded image still matches.

use super::pdf::{PdfFile, object::Obj};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use tiaki_crypto::MacKey;
use tiaki_domain::ContentType;
use zeroize::Zeroizing;

/// Streams shorter than this are not distinctive enough to fingerprint (an empty page,
/// a `q`/`Q` pair).
const MIN_STREAM: usize = 32;
/// Most stream fingerprints kept per file.
const MAX_STREAMS: usize = 10_000;
/// Most decoded PNG bytes fingerprinted.
const MAX_PIXEL_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    File,
    PdfStream,
    Pixels,
}

impl Kind {
    pub const ALL: [Self; 3] = [Self::File, Self::PdfStream, Self::Pixels];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::PdfStream => "pdf_stream",
            Self::Pixels => "pixels",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint {
    pub kind: Kind,
    pub digest: [u8; 32],
}

/// Makes fingerprints with this installation's key. Cheap to clone.
#[derive(Clone)]
pub struct Fingerprinter {
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter([redacted])")
    }
}

impl Fingerprinter {
    #[must_use]
    pub fn new(mac: &MacKey) -> Self {
        let key = Zeroizing::new(mac.tag("tiaki/leak-fingerprint-key/v1", b"hmac-sha256 key"));
        // HMAC takes a key of any length: this cannot fail.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_slice())
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        Self { keyed }
    }

    fn start(&self, kind: Kind) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(kind.as_str().as_bytes());
        mac.update(b"\0");
        mac
    }

    /// A fingerprint of one piece of data.
    #[must_use]
    pub fn of(&self, kind: Kind, data: &[u8]) -> Fingerprint {
        let mut mac = self.start(kind);
        mac.update(data);
        Fingerprint {
            kind,
            digest: mac.finalize().into_bytes().into(),
        }
    }

    /// A whole-file fingerprint made piece by piece, as an upload streams past.
    #[must_use]
    pub fn file_hasher(&self) -> FileHasher {
        FileHasher(self.start(Kind::File))
    }

    /// The fingerprints of a file's structure: what survives re-saving.
    #[must_use]
    pub fn structural(&self, content_type: ContentType, data: &[u8]) -> Vec<Fingerprint> {
        match content_type {
            ContentType::Pdf => self.pdf_streams(data),
            ContentType::Png => self.png_pixels(data).into_iter().collect(),
            ContentType::Jpeg | ContentType::Text => Vec::new(),
        }
    }

    /// Every fingerprint of a file: whole and structural, without repeats.
    #[must_use]
    pub fn all(&self, content_type: ContentType, data: &[u8]) -> Vec<Fingerprint> {
        let mut all = vec![self.of(Kind::File, data)];
        all.extend(self.structural(content_type, data));
        dedup(all)
    }

    /// What any file might match by: its whole bytes (and those of the original under a
    /// mark of ours), and the structure of whatever format it turns out to be.
    #[must_use]
    pub fn candidates(&self, data: &[u8]) -> Vec<Fingerprint> {
        let mut all = vec![self.of(Kind::File, data)];
        for original in super::marks::originals(data) {
            all.push(self.of(Kind::File, &original));
        }
        if let Some(content_type) = ContentType::ALL
            .into_iter()
            .filter(|c| *c != ContentType::Text)
            .find(|c| c.matches_head(data.get(..data.len().min(512)).unwrap_or_default()))
        {
            all.extend(self.structural(content_type, data));
        }
        dedup(all)
    }

    fn pdf_streams(&self, data: &[u8]) -> Vec<Fingerprint> {
        let Ok(pdf) = PdfFile::parse(data) else {
            return Vec::new();
        };
        let mut streams: Vec<u32> = Vec::new();
        if let Ok(pages) = pdf.pages() {
            for page in &pages {
                streams.extend(pdf.content_streams(page));
            }
        }
        for num in pdf.object_numbers() {
            if let Some(Obj::Dict(d)) = pdf.object(num)
                && d.name(b"Subtype") == Some(b"Image")
            {
                streams.push(num);
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for num in streams {
            if out.len() >= MAX_STREAMS || !seen.insert(num) {
                continue;
            }
            let Some((dict, raw)) = pdf.stream(num) else {
                continue;
            };
            if let Ok(decoded) = pdf.decode(&dict, raw)
                && decoded.len() >= MIN_STREAM
            {
                out.push(self.of(Kind::PdfStream, &decoded));
            }
        }
        dedup(out)
    }

    fn png_pixels(&self, data: &[u8]) -> Option<Fingerprint> {
        let mut decoder = png::Decoder::new_with_limits(
            std::io::Cursor::new(data),
            png::Limits {
                bytes: MAX_PIXEL_BYTES,
            },
        );
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().ok()?;
        let mut pixels = vec![0; reader.output_buffer_size()?];
        let frame = reader.next_frame(&mut pixels).ok()?;
        let mut mac = self.start(Kind::Pixels);
        mac.update(&frame.width.to_be_bytes());
        mac.update(&frame.height.to_be_bytes());
        mac.update(&[frame.color_type as u8, frame.bit_depth as u8]);
        mac.update(pixels.get(..frame.buffer_size())?);
        Some(Fingerprint {
            kind: Kind::Pixels,
            digest: mac.finalize().into_bytes().into(),
        })
    }
}

/// A whole-file fingerprint in the making.
#[derive(Clone)]
pub struct FileHasher(Hmac<Sha256>);

impl std::fmt::Debug for FileHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileHasher")
    }
}

impl FileHasher {
    pub fn update(&mut self, piece: &[u8]) {
        self.0.update(piece);
    }

    #[must_use]
    pub fn finish(self) -> Fingerprint {
        Fingerprint {
            kind: Kind::File,
            digest: self.0.finalize().into_bytes().into(),
        }
    }
}

fn dedup(mut all: Vec<Fingerprint>) -> Vec<Fingerprint> {
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::demo::{Line, render_pdf};
    use tiaki_crypto::Keyring;

    fn fingerprinter() -> Fingerprinter {
        let dir = tempfile::tempdir().unwrap();
        let (keyring, _) = Keyring::load_or_create(&dir.path().join("k.json")).unwrap();
        Fingerprinter::new(&keyring.mac_key())
    }

    #[test]
    fn streaming_and_whole_file_fingerprints_agree_and_depend_on_the_key() {
        let f = fingerprinter();
        let mut h = f.file_hasher();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish(), f.of(Kind::File, b"hello world"));
        assert_ne!(
            f.of(Kind::File, b"hello world"),
            fingerprinter().of(Kind::File, b"hello world"),
            "another keyring, another fingerprint"
        );
        assert_ne!(
            f.of(Kind::File, b"x").digest,
            f.of(Kind::PdfStream, b"x").digest
        );
    }

    #[test]
    fn a_pdf_keeps_its_stream_fingerprints_when_marked() {
        let f = fingerprinter();
        let original = render_pdf(&[Line::Text("A letter long enough to fingerprint".into())]);
        let streams = f.structural(ContentType::Pdf, &original);
        assert_eq!(streams.len(), 1);
        let stamp = crate::leaks::pdf::mark::Stamp {
            visible: "Downloaded by X",
            reference: "TK1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        };
        let marked = crate::leaks::pdf::mark::mark(&original, &stamp).unwrap();
        let candidates = f.candidates(&marked);
        assert!(candidates.contains(&streams[0]));
        assert!(candidates.contains(&f.of(Kind::File, &original)));
    }
}
