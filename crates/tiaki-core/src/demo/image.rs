//! Demo images: a PNG "photo of a rash" style upload, drawn procedurally so every
//! patient's file differs.

/// Draws a `width`×`height` RGB PNG whose pattern depends on `seed`.
pub fn render_png(width: u32, height: u32, seed: u64) -> Result<Vec<u8>, png::EncodingError> {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    let (cx, cy) = (
        f64::from(width) * (0.3 + (seed % 5) as f64 / 12.0),
        f64::from(height) * (0.35 + (seed % 7) as f64 / 20.0),
    );
    let radius = f64::from(width.min(height)) * (0.18 + (seed % 3) as f64 / 20.0);
    for y in 0..height {
        for x in 0..width {
            let dx = f64::from(x) - cx;
            let dy = f64::from(y) - cy;
            let d = (dx * dx + dy * dy).sqrt() / radius;
            // Skin tone background with a soft reddish patch.
            let base = [224.0, 182.0, 150.0];
            let patch = (1.0 - d).clamp(0.0, 1.0);
            let grain =
                ((x.wrapping_mul(31) ^ y.wrapping_mul(17)).wrapping_add(seed as u32) % 9) as f64;
            pixels.push((base[0] - patch * 10.0 + grain).clamp(0.0, 255.0) as u8);
            pixels.push((base[1] - patch * 70.0 + grain).clamp(0.0, 255.0) as u8);
            pixels.push((base[2] - patch * 60.0 + grain).clamp(0.0, 255.0) as u8);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}
