//! Thumbnails of image attachments: at most 320 × 320 pixels, aspect kept,
//! JPEG (transparency laid on white). Decoding is bounded (dimensions and
//! memory), so a small file that claims to be a huge image cannot exhaust the
//! server, and runs on the blocking pool.

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits, RgbImage};

use super::content::MimeType;

/// The longest side of a thumbnail, in pixels.
pub const MAX_SIDE: u32 = 320;
/// Images larger than this (bytes) get no thumbnail (they are still accepted).
pub const MAX_SOURCE_BYTES: u64 = 25 * 1024 * 1024;

/// A thumbnail, and the size of the image it was made from.
#[derive(Debug)]
pub struct Thumbnail {
    pub jpeg: Bytes,
    pub width: u32,
    pub height: u32,
}

/// Decodes `bytes` as `mime` and makes its thumbnail; an error means the
/// content is not a valid image of that type.
pub fn make(bytes: &[u8], mime: MimeType) -> Result<Thumbnail, String> {
    let format = match mime.as_str() {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::WebP,
        other => return Err(format!("no thumbnails for {other}")),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| format!("not a valid image: {e}"))?;
    let (width, height) = (image.width(), image.height());
    let small = image.thumbnail(MAX_SIDE, MAX_SIDE).to_rgba8();
    let mut flat = RgbImage::new(small.width(), small.height());
    for (x, y, pixel) in small.enumerate_pixels() {
        let [r, g, b, a] = pixel.0;
        let over_white =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        flat.put_pixel(
            x,
            y,
            image::Rgb([over_white(r), over_white(g), over_white(b)]),
        );
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&flat)
        .map_err(|e| format!("encoding the thumbnail: {e}"))?;
    Ok(Thumbnail {
        jpeg: Bytes::from(out),
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 10, 10, 128]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(image)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn thumbnails_keep_the_aspect_and_fit_the_box() {
        let thumb = make(&png(1000, 500), MimeType::parse("image/png").unwrap()).unwrap();
        assert_eq!((thumb.width, thumb.height), (1000, 500));
        let decoded = image::load_from_memory_with_format(&thumb.jpeg, ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
    }

    #[test]
    fn garbage_with_a_valid_signature_is_not_an_image() {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&[7; 100]);
        assert!(make(&bytes, MimeType::parse("image/png").unwrap()).is_err());
    }
}
