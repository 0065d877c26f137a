//! The depth frame as a picture: the hand's range (the crop cube) in a colour map from warm
//! (near) to cool (far), everything else in dim greys, missing depth (0) black.

use eframe::egui::{Color32, ColorImage};

use crate::data::depth::DepthMap;
use crate::data::preview::depth_colour;

/// Colours `depth`, with the colour map spread over `near..=far` mm.
pub fn depth_image(depth: &DepthMap, near: f32, far: f32) -> ColorImage {
    let span = (far - near).max(1.0);
    // Greys for the rest of the scene, scaled to what a depth camera sees (up to ~4 m).
    let pixels = depth
        .values()
        .iter()
        .map(|&d| {
            if d <= 0.0 {
                Color32::BLACK
            } else if (near..=far).contains(&d) {
                let [r, g, b] = depth_colour((d - near) / span);
                Color32::from_rgb(r, g, b)
            } else {
                let t = (1.0 - (d / 4000.0).clamp(0.0, 1.0)) * 90.0 + 30.0;
                Color32::from_gray(t as u8)
            }
        })
        .collect();
    ColorImage::new([depth.width(), depth.height()], pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_range_is_coloured_the_rest_grey_and_holes_black() {
        let depth = DepthMap::new(3, 2, vec![0.0, 500.0, 700.0, 900.0, 2000.0, 0.0]).unwrap();
        let image = depth_image(&depth, 500.0, 900.0);
        assert_eq!(image.size, [3, 2]);
        let px = &image.pixels;
        assert_eq!(px[0], Color32::BLACK);
        let [r, g, b] = depth_colour(0.0);
        assert_eq!(px[1], Color32::from_rgb(r, g, b));
        let [r, g, b] = depth_colour(1.0);
        assert_eq!(px[3], Color32::from_rgb(r, g, b));
        assert_ne!(px[1], px[2]);
        assert_eq!(px[4].r(), px[4].g(), "outside the hand's range is grey");
        assert_eq!(px[5], Color32::BLACK);
    }
}
