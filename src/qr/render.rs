//! QR codes: rendering a payload (qrcode) and reading codes back from a photo (rqrr). Images
//! are made and read in memory; nothing here touches a file.

use image::{ImageFormat, Luma};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode, Version};
use std::io::Cursor;

/// The error-correction level of every code we render: M, about 15% of the codewords can be
/// lost (a scuffed or partly covered label) while a two-line manifest token still fits a
/// version 9 code, a container code in URL form version 10 (FORMAT.md gives the measured versions).
pub const EC_LEVEL: EcLevel = EcLevel::M;

/// Width of an SVG module in user units (the SVG scales; this is only its default size).
const SVG_MODULE: u32 = 4;

/// A payload that no QR code can hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("QR code: cannot encode a payload of {len} bytes at error-correction level M: {reason}")]
pub struct RenderError {
    pub len: usize,
    pub reason: String,
}

fn code(payload: &str) -> Result<QrCode, RenderError> {
    // The encoder picks the densest mode per segment: a token (`WL` + base32) is all in QR's
    // alphanumeric set, so it is coded at 5.5 bits per character.
    QrCode::with_error_correction_level(payload.as_bytes(), EC_LEVEL).map_err(|e| RenderError {
        len: payload.len(),
        reason: e.to_string(),
    })
}

/// The QR version (1 to 40: 21 to 177 modules a side) that `payload` needs at level M.
pub fn qr_version(payload: &str) -> Result<i16, RenderError> {
    Ok(match code(payload)?.version() {
        Version::Normal(v) | Version::Micro(v) => v,
    })
}

/// The code as an SVG document: black on white, with a 4-module quiet zone.
pub fn svg(payload: &str) -> Result<String, RenderError> {
    Ok(code(payload)?
        .render::<svg::Color>()
        .quiet_zone(true)
        .module_dimensions(SVG_MODULE, SVG_MODULE)
        .build())
}

/// The code as text for a terminal: two modules a character (Unicode half blocks), with a
/// 4-module quiet zone, drawn for a dark background (a light module is a lit block), which is
/// what a phone's camera reads off a laptop screen at the roadside.
pub fn terminal(payload: &str) -> Result<String, RenderError> {
    use qrcode::render::unicode::Dense1x2;
    Ok(code(payload)?
        .render::<Dense1x2>()
        .quiet_zone(true)
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

/// The code as a greyscale PNG with `module_px` pixels a module (at least 1) and a 4-module
/// quiet zone.
pub fn png(payload: &str, module_px: u32) -> Result<Vec<u8>, RenderError> {
    let px = module_px.max(1);
    let img = code(payload)?
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(px, px)
        .build();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .expect("encoding a greyscale PNG in memory does not fail");
    Ok(out.into_inner())
}

/// Why no code could be read from an image.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("image: not a PNG or JPEG image this reader can decode ({0})")]
    NotAnImage(String),
    #[error("image: no QR code found ({width}x{height} pixels)")]
    NoCode { width: u32, height: u32 },
    #[error("image: {found} QR code(s) found but none could be read: {}", errors.join("; "))]
    Unreadable { found: usize, errors: Vec<String> },
}

/// Decode every QR code in a PNG or JPEG image (a rendered code or a photo of a label) and
/// return their contents, in the order found. Codes that cannot be read are skipped when at
/// least one can; when none can, the error says how many were seen and why they failed.
pub fn decode_image(bytes: &[u8]) -> Result<Vec<String>, ScanError> {
    let img = image::load_from_memory(bytes).map_err(|e| ScanError::NotAnImage(e.to_string()))?;
    let gray = img.to_luma8();
    let (width, height) = gray.dimensions();
    let mut prepared = rqrr::PreparedImage::prepare(gray);
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(ScanError::NoCode { width, height });
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for g in &grids {
        match g.decode() {
            Ok((_, content)) => found.push(content),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if found.is_empty() {
        return Err(ScanError::Unreadable {
            found: grids.len(),
            errors,
        });
    }
    Ok(found)
}
