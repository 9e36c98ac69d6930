//! Test files made on the spot: real PNG images, minimal PDFs, plain text, and a small
//! seeded random generator (the seed is printed, so a failure can be replayed).

use sha2::{Digest as _, Sha256};

/// SplitMix64: tiny, fast, good enough to vary sizes, timings and contents.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Seeded from `var` if set, else from the clock; the seed is printed.
    #[must_use]
    pub fn from_env(var: &str) -> Self {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                u64::try_from(now.as_nanos() % u128::from(u64::MAX)).unwrap_or(7)
            });
        println!("{var}={seed}");
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A valid RGB PNG of the given size with noisy pixels (so it does not compress away).
#[must_use]
pub fn png(width: u32, height: u32, rng: &mut Rng) -> Vec<u8> {
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    rng.fill(&mut pixels);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&pixels).unwrap();
        writer.finish().unwrap();
    }
    out
}

/// A PNG of about `size` bytes: a real image header and pixels, then random filler in
/// an ancillary chunk after the image data (decoders skip it). Only its first bytes
/// matter to the server; its exact bytes matter to the test.
#[must_use]
pub fn png_of_size(size: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = png(8, 8, rng);
    let iend = out.split_off(out.len() - 12);
    let filler_len = size.saturating_sub(out.len() + iend.len() + 12).max(1);
    let mut filler = vec![0u8; filler_len];
    rng.fill(&mut filler);
    out.extend_from_slice(&u32::try_from(filler_len).unwrap().to_be_bytes());
    let mut chunk = b"teSt".to_vec();
    chunk.extend_from_slice(&filler);
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&iend);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Printable ASCII text of exactly `size` bytes, in lines, starting with a letter.
#[must_use]
pub fn text(size: usize, rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-";
    let mut raw = vec![0u8; size];
    rng.fill(&mut raw);
    let mut out: Vec<u8> = raw
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
        .collect();
    for (i, byte) in out.iter_mut().enumerate() {
        if i % 72 == 71 {
            *byte = b'\n';
        }
    }
    if let Some(first) = out.first_mut() {
        *first = b'T';
    }
    out
}

/// A minimal one-page PDF that says `line`, padded past the server's 512-byte sniff.
#[must_use]
pub fn pdf(line: &str) -> Vec<u8> {
    let stream = format!("BT /F1 18 Tf 72 720 Td ({line}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    out.extend_from_slice(
        format!("% {}\n", "Tiaki end-to-end test document. ".repeat(16)).as_bytes(),
    );
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Lower-case hex SHA-256.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short random tag for titles, so a test finds exactly what it added.
#[must_use]
pub fn nonce(rng: &mut Rng) -> String {
    format!("{:08x}", rng.next_u64() & 0xFFFF_FFFF)
}
