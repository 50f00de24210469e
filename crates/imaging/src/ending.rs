//! Whether an upload ends where its format says it ends. The decoders forgive a file cut short
//! when the pixels they need are all there (a PNG without its end chunk, a WebP shorter than its
//! RIFF header says), and the JPEG decoder even when they are not (the missing part comes out
//! grey). An upload cut short is a failed upload, so it is refused rather than stored damaged.

use crate::PictureType;

/// True when `body`, already accepted by the `declared` format's header reader, is whole.
pub fn is_complete(declared: PictureType, body: &[u8]) -> bool {
    match declared {
        PictureType::Jpeg => jpeg_is_complete(body),
        PictureType::Png => png_is_complete(body),
        PictureType::WebP => webp_is_complete(body),
    }
}

/// A complete JPEG has an end-of-image marker (FF D9) after its first scan; inside the
/// entropy-coded data a 0xFF byte is always followed by 00 or a restart marker, so FF D9 there
/// is the real end. Segments before the scan are skipped by their lengths, since an EXIF
/// thumbnail inside APP1 is a whole JPEG with its own markers.
fn jpeg_is_complete(body: &[u8]) -> bool {
    let Some(scan_start) = jpeg_first_scan(body) else {
        return false;
    };
    body.get(scan_start..)
        .is_some_and(|scan| scan.windows(2).any(|pair| pair == [0xFF, 0xD9]))
}

/// Where the entropy-coded data of the first scan (after the SOS segment) starts, found by
/// walking the segments from the start of the file.
fn jpeg_first_scan(body: &[u8]) -> Option<usize> {
    const START_OF_SCAN: u8 = 0xDA;
    let mut at = 2; // after the start-of-image marker, which the decoder has already checked
    loop {
        // Markers may be preceded by fill bytes (0xFF); the decoder also tolerates stray bytes
        // between segments, so skip to the next marker as it does.
        while *body.get(at)? != 0xFF {
            at += 1;
        }
        while *body.get(at)? == 0xFF {
            at += 1;
        }
        let marker = *body.get(at)?;
        at += 1;
        // Standalone markers (restart, TEM) have no length.
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        let length = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
        at += length;
        if marker == START_OF_SCAN {
            return Some(at);
        }
    }
}

/// A PNG ends with its IEND chunk: length 0, the type, and its fixed CRC. Looked for from the
/// end, where it is, rather than required to be last: a few writers append bytes after it.
fn png_is_complete(body: &[u8]) -> bool {
    const IEND_CHUNK: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];
    body.windows(IEND_CHUNK.len())
        .rev()
        .any(|window| window == IEND_CHUNK)
}

/// A WebP is a RIFF file, whose header gives the length of everything after its first 8 bytes.
fn webp_is_complete(body: &[u8]) -> bool {
    let Some(riff_length) = body.get(4..8) else {
        return false;
    };
    let riff_length = u32::from_le_bytes([
        riff_length[0],
        riff_length[1],
        riff_length[2],
        riff_length[3],
    ]);
    (body.len() as u64) >= 8 + u64::from(riff_length)
}
