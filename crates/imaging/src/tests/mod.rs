//! The upload rules, each against pictures made here in code (hostile ones byte by byte), so
//! that a test fails when a rule stops holding.

mod allocation;
mod webp_fixtures;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use sha2::{Digest, Sha256};

use super::*;
use allocation::peak_bytes_held_by;

// ---- fixtures ----

/// A smooth gradient with a bright corner top-left, so orientation and scaling are visible.
fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < 4 && y < 4 {
            Rgb([255, 255, 255])
        } else {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 100])
        }
    })
}

/// Pseudo-random pixels: they compress badly, so a file cut in half loses real image data.
fn noise(width: u32, height: u32) -> RgbImage {
    let mut state: u32 = 0x9E37_79B9;
    RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        Rgb([r, g, b])
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, 90))
        .unwrap();
    bytes
}

fn png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_with_encoder(PngEncoder::new(&mut bytes))
        .unwrap();
    bytes
}

fn lossless_webp(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_with_encoder(WebPEncoder::new_lossless(&mut bytes))
        .unwrap();
    bytes
}

fn decoded(picture: &EncodedPicture) -> DynamicImage {
    let format = picture.content_type.image_format();
    image::load_from_memory_with_format(&picture.bytes, format).unwrap()
}

fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// A big-endian TIFF block as found in a JPEG's APP1 or a PNG's eXIf: the orientation and a
/// description text that stands for anything private (GPS, camera serial).
fn exif_block(orientation: u16, secret: &[u8; 8]) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend(2u16.to_be_bytes()); // two entries
    // ImageDescription (0x010E), ASCII, 8 bytes, stored at offset 38 (after this IFD).
    tiff.extend([0x01, 0x0E, 0x00, 0x02, 0, 0, 0, 8, 0, 0, 0, 38]);
    // Orientation (0x0112), SHORT, one value, kept in the entry.
    tiff.extend([0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    tiff.extend([0, 0, 0, 0]); // no next IFD
    assert_eq!(tiff.len(), 38);
    tiff.extend(secret);
    tiff
}

/// `jpeg` with an APP1 EXIF segment spliced in right after its start-of-image marker.
fn with_exif_segment(jpeg: &[u8], exif: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(exif);
    let mut spliced = jpeg[..2].to_vec();
    spliced.extend([0xFF, 0xE1]);
    spliced.extend(u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    spliced.extend(payload);
    spliced.extend(&jpeg[2..]);
    spliced
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    chunk.extend(kind);
    chunk.extend(data);
    let mut checked = kind.to_vec();
    checked.extend(data);
    chunk.extend(crc32(&checked).to_be_bytes());
    chunk
}

/// A PNG whose IHDR claims `width`×`height` (with a valid CRC) followed by one row of image
/// data: what a hostile client sends to make a server allocate the claimed size.
fn png_claiming(width: u32, height: u32, bit_depth: u8, color_type: u8) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([bit_depth, color_type, 0, 0, 0]);
    // A zlib stream with one stored block of four zero bytes, and its Adler-32.
    let idat = [
        0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01,
    ];
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(png_chunk(b"IHDR", &header));
    bytes.extend(png_chunk(b"IDAT", &idat));
    bytes.extend(png_chunk(b"IEND", &[]));
    bytes
}

/// `png` with `chunk` inserted right after IHDR (which is 8 + 25 bytes from the start).
fn with_png_chunk(png: &[u8], chunk: &[u8]) -> Vec<u8> {
    let mut spliced = png[..33].to_vec();
    spliced.extend(chunk);
    spliced.extend(&png[33..]);
    spliced
}

/// The segment markers of a JPEG up to its first scan.
fn jpeg_header_markers(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
    let mut markers = Vec::new();
    let mut at = 2;
    loop {
        assert_eq!(jpeg[at], 0xFF);
        let marker = jpeg[at + 1];
        markers.push(marker);
        if marker == 0xDA {
            return markers;
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
}

fn png_chunk_kinds(png: &[u8]) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut at = 8;
    while at < png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        kinds.push(String::from_utf8_lossy(&png[at + 4..at + 8]).into_owned());
        at += 12 + length;
    }
    kinds
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

// ---- content types ----

#[test]
fn the_three_picture_types_are_read_from_content_type_ignoring_case_and_parameters() {
    for (header, expected) in [
        ("image/jpeg", PictureType::Jpeg),
        ("IMAGE/PNG", PictureType::Png),
        ("image/png; charset=binary", PictureType::Png),
        (" image/webp ", PictureType::WebP),
    ] {
        assert_eq!(
            PictureType::from_content_type(header),
            Ok(expected),
            "{header}"
        );
    }
}

#[test]
fn any_other_content_type_is_unsupported_before_the_body_is_looked_at() {
    let body = png(&DynamicImage::ImageRgb8(gradient(8, 8)));
    for header in [
        "image/gif",
        "image/jpg",
        "image/svg+xml",
        "application/octet-stream",
        "",
    ] {
        assert_eq!(
            process_upload(header, &body),
            Err(PictureError::Unsupported {
                content_type: header.to_owned()
            }),
            "{header}"
        );
    }
}

// ---- each type round-trips ----

#[test]
fn a_jpeg_is_stored_as_jpeg_at_its_own_size_looking_the_same() {
    let original = gradient(120, 80);
    let processed = process_upload("image/jpeg", &jpeg(&original)).unwrap();
    assert_eq!(processed.full.content_type, PictureType::Jpeg);
    assert_eq!((processed.full.width, processed.full.height), (120, 80));
    let stored = decoded(&processed.full).to_rgb8();
    assert!(mean_abs_difference(&stored, &original) < 3.0);
}

#[test]
fn a_png_is_stored_as_png_with_exactly_its_pixels_and_transparency() {
    let original = RgbaImage::from_fn(60, 40, |x, y| Rgba([x as u8 * 4, y as u8 * 6, 7, x as u8]));
    let processed = process_upload(
        "image/png",
        &png(&DynamicImage::ImageRgba8(original.clone())),
    )
    .unwrap();
    assert_eq!(processed.full.content_type, PictureType::Png);
    assert_eq!(decoded(&processed.full).to_rgba8(), original);
}

#[test]
fn a_sixteen_bit_png_keeps_its_depth() {
    let original = image::ImageBuffer::<Rgb<u16>, _>::from_fn(30, 20, |x, y| {
        Rgb([x as u16 * 2000, y as u16 * 3000, 12345])
    });
    let body = png(&DynamicImage::ImageRgb16(original.clone()));
    let processed = process_upload("image/png", &body).unwrap();
    assert_eq!(decoded(&processed.full).to_rgb16(), original);
}

#[test]
fn a_lossless_webp_is_stored_as_webp_with_exactly_its_pixels() {
    let original = DynamicImage::ImageRgb8(gradient(50, 30));
    let processed = process_upload("image/webp", &lossless_webp(&original)).unwrap();
    assert_eq!(processed.full.content_type, PictureType::WebP);
    assert_eq!(decoded(&processed.full).to_rgb8(), original.to_rgb8());
}

#[test]
fn a_lossy_webp_photo_is_stored_as_jpeg_looking_the_same() {
    let upload = image::load_from_memory_with_format(webp_fixtures::LOSSY_WEBP, ImageFormat::WebP)
        .unwrap()
        .to_rgb8();
    let processed = process_upload("image/webp", webp_fixtures::LOSSY_WEBP).unwrap();
    assert_eq!(processed.full.content_type, PictureType::Jpeg);
    assert_eq!((processed.full.width, processed.full.height), (48, 32));
    let stored = decoded(&processed.full).to_rgb8();
    assert!(mean_abs_difference(&stored, &upload) < 3.0);
}

#[test]
fn a_lossy_webp_with_transparency_stays_webp_and_keeps_it() {
    let processed = process_upload("image/webp", webp_fixtures::LOSSY_WEBP_WITH_ALPHA).unwrap();
    assert_eq!(processed.full.content_type, PictureType::WebP);
    let stored = decoded(&processed.full).to_rgba8();
    assert_eq!(stored.get_pixel(2, 16)[3], 255, "the left half is opaque");
    assert_eq!(
        stored.get_pixel(45, 16)[3],
        0,
        "the right half is transparent"
    );
}

#[test]
fn the_content_hash_is_the_sha256_of_the_stored_bytes_and_the_same_for_the_same_upload() {
    let body = png(&DynamicImage::ImageRgb8(gradient(400, 600)));
    let processed = process_upload("image/png", &body).unwrap();
    for picture in [&processed.full, &processed.thumbnail] {
        let expected: String = Sha256::digest(&picture.bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(picture.content_hash, expected);
    }
    assert_ne!(
        processed.full.content_hash,
        processed.thumbnail.content_hash
    );
    assert_eq!(process_upload("image/png", &body).unwrap(), processed);
}

// ---- metadata ----

#[test]
fn a_jpeg_is_stored_without_its_exif_segment_or_any_other_metadata() {
    let body = with_exif_segment(&jpeg(&gradient(64, 48)), &exif_block(1, b"GPS-HOME"));
    assert!(contains(&body, b"GPS-HOME"));
    let processed = process_upload("image/jpeg", &body).unwrap();
    for picture in [&processed.full, &processed.thumbnail] {
        assert!(!contains(&picture.bytes, b"Exif"));
        assert!(!contains(&picture.bytes, b"GPS-HOME"));
        // Only JFIF's APP0, tables, the frame and the scan; no APP1..APP15, no comment.
        for marker in jpeg_header_markers(&picture.bytes) {
            assert!(
                [0xE0, 0xDB, 0xC0, 0xC4, 0xDD, 0xDA].contains(&marker),
                "unexpected segment FF{marker:02X}"
            );
        }
    }
}

#[test]
fn a_png_is_stored_without_its_text_exif_or_colour_profile_chunks() {
    let plain = png(&DynamicImage::ImageRgb8(gradient(40, 30)));
    let mut body = with_png_chunk(&plain, &png_chunk(b"tEXt", b"Comment\0GPS-HOME"));
    body = with_png_chunk(&body, &png_chunk(b"eXIf", &exif_block(1, b"SERIAL-1")));
    let processed = process_upload("image/png", &body).unwrap();
    assert_eq!(
        png_chunk_kinds(&processed.full.bytes),
        ["IHDR", "IDAT", "IEND"]
    );
    assert!(!contains(&processed.full.bytes, b"GPS-HOME"));
    assert!(!contains(&processed.full.bytes, b"SERIAL-1"));
}

#[test]
fn a_webp_is_stored_as_a_single_image_chunk() {
    let processed = process_upload("image/webp", webp_fixtures::LOSSY_WEBP_WITH_ALPHA).unwrap();
    let bytes = &processed.full.bytes;
    assert_eq!(&bytes[12..16], b"VP8L");
    let chunk_length = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 20 + chunk_length + chunk_length % 2);
}

#[test]
fn a_phone_photo_turned_by_its_exif_orientation_is_stored_turned() {
    // Orientation 6: the camera was held on its side; viewers turn the picture 90° clockwise.
    let body = with_exif_segment(&jpeg(&gradient(80, 40)), &exif_block(6, b"anything"));
    let processed = process_upload("image/jpeg", &body).unwrap();
    assert_eq!((processed.full.width, processed.full.height), (40, 80));
    let stored = decoded(&processed.full).to_rgb8();
    // The white corner, top-left as encoded, is top-right once turned.
    assert!(
        stored
            .get_pixel(38, 1)
            .0
            .iter()
            .all(|&channel| channel > 200)
    );
    assert!(
        !stored
            .get_pixel(1, 1)
            .0
            .iter()
            .all(|&channel| channel > 200)
    );
}

// ---- size limits ----

#[test]
fn a_header_claiming_100000_by_100000_pixels_is_refused_without_allocating_them() {
    let body = png_claiming(100_000, 100_000, 8, 2);
    assert!(body.len() < 100);
    let (result, peak) = peak_bytes_held_by(|| process_upload("image/png", &body));
    assert_eq!(
        result,
        Err(PictureError::BadSize {
            width: 100_000,
            height: 100_000
        })
    );
    assert!(peak < 1024 * 1024, "{peak} bytes held at once");
}

#[test]
fn a_decompression_bomb_is_refused_by_its_header_before_it_is_inflated() {
    // 20000×20000 one-bit grey: 50 MB of pixel data deflated to a few tens of KB, 400 MB once
    // decoded to 8-bit grey.
    let mut body = Vec::new();
    let mut encoder = png::Encoder::new(&mut body, 20_000, 20_000);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let row = vec![0u8; 2_500];
    for _ in 0..20_000 {
        std::io::Write::write_all(&mut stream, &row).unwrap();
    }
    stream.finish().unwrap();
    writer.finish().unwrap();
    assert!(body.len() < 200 * 1024, "the bomb is {} bytes", body.len());

    let (result, peak) = peak_bytes_held_by(|| process_upload("image/png", &body));
    assert_eq!(
        result,
        Err(PictureError::BadSize {
            width: 20_000,
            height: 20_000
        })
    );
    assert!(peak < 1024 * 1024, "{peak} bytes held at once");
}

#[test]
fn a_colour_profile_that_inflates_to_32_mib_is_not_inflated_past_the_header_budget() {
    let mut info = png::Info::with_size(16, 16);
    info.color_type = png::ColorType::Grayscale;
    info.icc_profile = Some(vec![0u8; 32 * 1024 * 1024].into());
    let mut body = Vec::new();
    let mut writer = png::Encoder::with_info(&mut body, info)
        .unwrap()
        .write_header()
        .unwrap();
    writer.write_image_data(&[0u8; 16 * 16]).unwrap();
    writer.finish().unwrap();
    assert!(body.len() < 1024 * 1024, "the bomb is {} bytes", body.len());

    // The PNG decoder drops a profile over its budget and reads on; the picture is stored
    // without one, as every picture is.
    let (result, peak) = peak_bytes_held_by(|| process_upload("image/png", &body));
    let processed = result.unwrap();
    assert_eq!(
        png_chunk_kinds(&processed.full.bytes),
        ["IHDR", "IDAT", "IEND"]
    );
    assert!(peak < 24 * 1024 * 1024, "{peak} bytes held at once");
}

#[test]
fn a_side_over_8000_pixels_is_refused_whichever_side_it_is() {
    for (width, height) in [(8001, 1), (1, 8001)] {
        let body = png(&DynamicImage::ImageLuma8(GrayImage::new(width, height)));
        assert_eq!(
            process_upload("image/png", &body),
            Err(PictureError::BadSize { width, height })
        );
    }
    let message = PictureError::BadSize {
        width: 8001,
        height: 1,
    }
    .to_string();
    assert!(
        message.contains("8001×1") && message.contains("8000"),
        "{message}"
    );
}

#[test]
fn a_jpeg_over_8000_pixels_is_refused_by_its_header() {
    let body = jpeg(&RgbImage::new(8001, 8));
    assert_eq!(
        process_upload("image/jpeg", &body),
        Err(PictureError::BadSize {
            width: 8001,
            height: 8
        })
    );
}

#[test]
fn a_header_claiming_zero_pixels_is_refused() {
    let result = process_upload("image/png", &png_claiming(0, 10, 8, 2));
    assert!(
        matches!(
            result,
            Err(PictureError::BadSize { .. } | PictureError::Undecodable { .. })
        ),
        "{result:?}"
    );
}

#[test]
fn an_8000_pixel_square_of_one_colour_is_accepted_even_though_it_compresses_to_little() {
    let body = png(&DynamicImage::ImageLuma8(GrayImage::from_pixel(
        8000,
        8000,
        Luma([200]),
    )));
    assert!(body.len() < 1024 * 1024);
    let processed = process_upload("image/png", &body).unwrap();
    assert_eq!((processed.full.width, processed.full.height), (8000, 8000));
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (342, 342)
    );
    assert_eq!(
        decoded(&processed.thumbnail).to_luma8().get_pixel(100, 100),
        &Luma([200])
    );
}

#[test]
fn a_deep_colour_picture_that_would_decode_past_the_memory_bound_is_refused_unallocated() {
    // 8000×8000 RGBA at 16 bits a channel: 512 MB once decoded.
    let body = png_claiming(8000, 8000, 16, 6);
    let (result, peak) = peak_bytes_held_by(|| process_upload("image/png", &body));
    assert_eq!(
        result,
        Err(PictureError::TooMuchMemory {
            width: 8000,
            height: 8000,
            bytes_per_pixel: 8
        })
    );
    assert!(peak < 1024 * 1024, "{peak} bytes held at once");
}

// ---- bodies that are not what they claim ----

#[test]
fn jpeg_bytes_declared_as_png_are_refused_naming_both_types() {
    let result = process_upload("image/png", &jpeg(&gradient(16, 16)));
    assert_eq!(
        result,
        Err(PictureError::WrongType {
            declared: PictureType::Png,
            actual: "image/jpeg"
        })
    );
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("image/jpeg") && message.contains("image/png"),
        "{message}"
    );
}

#[test]
fn png_and_gif_bytes_declared_as_another_type_are_refused() {
    let body = png(&DynamicImage::ImageRgb8(gradient(16, 16)));
    assert_eq!(
        process_upload("image/webp", &body),
        Err(PictureError::WrongType {
            declared: PictureType::WebP,
            actual: "image/png"
        })
    );
    assert_eq!(
        process_upload("image/jpeg", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        Err(PictureError::WrongType {
            declared: PictureType::Jpeg,
            actual: "image/gif"
        })
    );
}

#[test]
fn bytes_that_are_no_image_at_all_are_undecodable_as_each_type() {
    for declared in ["image/jpeg", "image/png", "image/webp"] {
        for body in [&b""[..], b"this is a text file, not a picture"] {
            let result = process_upload(declared, body);
            assert!(
                matches!(result, Err(PictureError::Undecodable { .. })),
                "{declared} {body:?}: {result:?}"
            );
        }
    }
}

#[test]
fn a_truncated_picture_of_each_type_is_undecodable() {
    let picture = noise(64, 48);
    let bodies = [
        ("image/jpeg", jpeg(&picture)),
        ("image/png", png(&DynamicImage::ImageRgb8(picture.clone()))),
        (
            "image/webp",
            lossless_webp(&DynamicImage::ImageRgb8(picture)),
        ),
        ("image/webp", webp_fixtures::LOSSY_WEBP.to_vec()),
    ];
    let mut accepted = Vec::new();
    for (declared, body) in bodies {
        assert!(process_upload(declared, &body).is_ok());
        for cut in [body.len() / 2, body.len() - 2, 20] {
            let result = process_upload(declared, &body[..cut]);
            if !matches!(result, Err(PictureError::Undecodable { .. })) {
                accepted.push(format!(
                    "{declared} cut to {cut} of {}: {result:?}",
                    body.len()
                ));
            }
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
}

#[test]
fn a_jpeg_whose_exif_thumbnail_is_complete_but_whose_image_is_cut_is_undecodable() {
    // The EXIF block carries a whole small JPEG, end marker included, before the real image.
    let thumbnail = jpeg(&gradient(8, 8));
    let body = jpeg(&noise(64, 48));
    let with_thumbnail = with_exif_segment(&body, &thumbnail);
    assert!(process_upload("image/jpeg", &with_thumbnail).is_ok());
    let cut = &with_thumbnail[..with_thumbnail.len() - body.len() / 2];
    assert!(matches!(
        process_upload("image/jpeg", cut),
        Err(PictureError::Undecodable { .. })
    ));
}

// ---- thumbnails ----

#[test]
fn thumbnail_sizes_fit_the_box_and_keep_the_aspect_ratio() {
    for ((width, height), expected) in [
        ((4000, 1000), (342, 86)),  // wide: 85.5 rounds up
        ((1000, 4000), (128, 513)), // tall: 128.25 rounds down
        ((684, 1026), (342, 513)),  // the box's own shape
        ((343, 513), (342, 512)),   // just too wide: 511.5 rounds up
        ((8000, 1), (342, 1)),      // a line never becomes nothing
        ((1, 8000), (1, 513)),
        ((8000, 8000), (342, 342)),
    ] {
        assert_eq!(
            thumbnail::size(width, height),
            Some(expected),
            "{width}×{height}"
        );
    }
}

#[test]
fn a_picture_inside_the_box_is_never_upscaled() {
    for (width, height) in [(1, 1), (342, 513), (342, 1), (1, 513), (200, 100)] {
        assert_eq!(thumbnail::size(width, height), None, "{width}×{height}");
    }
}

#[test]
fn thumbnails_of_wide_and_tall_uploads_have_the_computed_size() {
    for ((width, height), expected) in [((1000, 200), (342, 68)), ((300, 900), (171, 513))] {
        let body = jpeg(&gradient(width, height));
        let processed = process_upload("image/jpeg", &body).unwrap();
        let thumbnail = &processed.thumbnail;
        assert_eq!((thumbnail.width, thumbnail.height), expected);
        assert_eq!(thumbnail.content_type, PictureType::Jpeg);
        let drawn = decoded(thumbnail);
        assert_eq!((drawn.width(), drawn.height()), expected);
        // Scaled, not cropped: the white corner is still there.
        assert!(
            drawn
                .to_rgb8()
                .get_pixel(0, 0)
                .0
                .iter()
                .all(|&channel| channel > 150)
        );
    }
}

#[test]
fn the_thumbnail_of_a_far_larger_picture_shows_the_same_picture() {
    // Shrunk first by the box filter, then by Lanczos3: the halves keep their colours and the
    // border between them stays in the middle.
    let halves = RgbImage::from_fn(2000, 3000, |x, _| {
        if x < 1000 {
            Rgb([200, 30, 30])
        } else {
            Rgb([30, 30, 200])
        }
    });
    let processed = process_upload("image/png", &png(&DynamicImage::ImageRgb8(halves))).unwrap();
    let thumbnail = decoded(&processed.thumbnail).to_rgb8();
    assert_eq!(thumbnail.dimensions(), (342, 513));
    let red = Rgb([200, 30, 30]);
    let blue = Rgb([30, 30, 200]);
    for (x, y, expected) in [
        (10, 250, red),
        (168, 250, red),
        (173, 250, blue),
        (331, 500, blue),
    ] {
        let pixel = thumbnail.get_pixel(x, y);
        let off = pixel
            .0
            .iter()
            .zip(expected.0)
            .map(|(a, b)| a.abs_diff(b))
            .max();
        assert!(
            off <= Some(3),
            "({x}, {y}) is {pixel:?}, not about {expected:?}"
        );
    }
}

#[test]
fn a_small_picture_is_its_own_thumbnail() {
    let processed = process_upload(
        "image/png",
        &png(&DynamicImage::ImageRgb8(gradient(20, 30))),
    )
    .unwrap();
    assert_eq!(processed.thumbnail, processed.full);
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (20, 30)
    );
}
