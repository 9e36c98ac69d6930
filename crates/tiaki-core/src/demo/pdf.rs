//! A small, valid PDF writer for demo letters: one A4 page of Helvetica text. Real
//! enough for any PDF viewer, small enough to need no dependency.

use std::fmt::Write as _;

/// One line of a letter.
#[derive(Debug, Clone)]
pub enum Line {
    Heading(String),
    Text(String),
    Gap,
}

/// Renders lines onto one A4 page.
#[must_use]
pub fn render(lines: &[Line]) -> Vec<u8> {
    let mut content = String::from("BT\n");
    let mut y = 790;
    for line in lines {
        match line {
            Line::Heading(t) => {
                let _ = writeln!(content, "/F2 15 Tf 1 0 0 1 56 {y} Tm ({}) Tj", escape(t));
                y -= 24;
            }
            Line::Text(t) => {
                let _ = writeln!(content, "/F1 11 Tf 1 0 0 1 56 {y} Tm ({}) Tj", escape(t));
                y -= 16;
            }
            Line::Gap => y -= 12,
        }
        if y < 60 {
            break;
        }
    }
    content.push_str("ET\n");

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref_at = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
        objects.len() + 1
    );
    out.into_bytes()
}

/// PDF string escaping, with non-ASCII folded to ASCII (the standard fonts' encoding
/// has no macrons).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            'ā' | 'Ā' => out.push(if c == 'ā' { 'a' } else { 'A' }),
            'ē' | 'Ē' => out.push(if c == 'ē' { 'e' } else { 'E' }),
            'ī' | 'Ī' => out.push(if c == 'ī' { 'i' } else { 'I' }),
            'ō' | 'Ō' => out.push(if c == 'ō' { 'o' } else { 'O' }),
            'ū' | 'Ū' => out.push(if c == 'ū' { 'u' } else { 'U' }),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_parseable_pdf() {
        let pdf = render(&[
            Line::Heading("Discharge (summary)".into()),
            Line::Text("Tēnā koe".into()),
        ]);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        assert!(text.contains("Discharge \\(summary\\)"));
        assert!(text.contains("Tena koe"));
        // The xref offset points at the xref table.
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|s| s.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(text.get(start..).is_some_and(|t| t.starts_with("xref")));
    }
}
