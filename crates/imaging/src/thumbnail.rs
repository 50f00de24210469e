//! The thumbnail's size and how it is drawn.

use image::DynamicImage;
use image::imageops::FilterType;

/// The box a thumbnail fits inside (API.md, "Pictures"): a 2:3 poster shape.
pub const THUMBNAIL_MAX_WIDTH: u32 = 342;
pub const THUMBNAIL_MAX_HEIGHT: u32 = 513;

/// The thumbnail's size for a `width`×`height` picture, or `None` when the picture already fits
/// the box and is its own thumbnail (never upscaled). The side that meets the box is exact; the
/// other keeps the aspect ratio, rounded to the nearest pixel and at least one.
pub fn size(width: u32, height: u32) -> Option<(u32, u32)> {
    if width <= THUMBNAIL_MAX_WIDTH && height <= THUMBNAIL_MAX_HEIGHT {
        return None;
    }
    let (width, height) = (u64::from(width), u64::from(height));
    let (box_width, box_height) = (
        u64::from(THUMBNAIL_MAX_WIDTH),
        u64::from(THUMBNAIL_MAX_HEIGHT),
    );
    // Compared in integers: the picture is at least as wide, relative to the box, as it is tall.
    let scaled = if width * box_height >= height * box_width {
        (box_width, rounded_ratio(height * box_width, width))
    } else {
        (rounded_ratio(width * box_height, height), box_height)
    };
    // Both are at most the box's sides, so they fit in u32.
    Some((scaled.0 as u32, scaled.1 as u32))
}

/// `numerator / denominator` rounded half up, at least 1.
fn rounded_ratio(numerator: u64, denominator: u64) -> u64 {
    ((numerator + denominator / 2) / denominator).max(1)
}

/// Draws `image` at `width`×`height`. Lanczos3 keeps edges and text on posters sharp where a
/// box filter alone blurs them; but its cost grows with the source's size (about five seconds for
/// an 8000×8000 picture on one core), so a picture more than [`SHRINK_FIRST_FACTOR`] times the
/// thumbnail is first averaged down to twice the thumbnail's size by the box filter of
/// `DynamicImage::thumbnail_exact` (a fraction of a second, and at that ratio it loses no detail
/// the thumbnail could show), and Lanczos3 draws the last step.
pub fn resize(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let far_larger = image.width() > width.saturating_mul(SHRINK_FIRST_FACTOR)
        || image.height() > height.saturating_mul(SHRINK_FIRST_FACTOR);
    if far_larger {
        image.thumbnail_exact(width * 2, height * 2).resize_exact(
            width,
            height,
            FilterType::Lanczos3,
        )
    } else {
        image.resize_exact(width, height, FilterType::Lanczos3)
    }
}

/// How many times larger than its thumbnail a picture must be for the box filter to do the
/// first part of the shrinking.
const SHRINK_FIRST_FACTOR: u32 = 3;
