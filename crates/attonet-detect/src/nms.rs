//! Detections, IoU and the greedy-NMS suppression test.

/// One decoded object. Coordinates are input pixels, clipped to
/// `0..=input_w` and `0..=input_h`; `x0 <= x1`, `y0 <= y1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Class index, `0..classes`.
    pub class: u16,
    /// `sigmoid` of the dequantized heat logit, in `[score_threshold, 1]`.
    pub score: f32,
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
    /// Grid row of the cell the object was found in.
    pub row: u16,
    /// Grid column of the cell the object was found in.
    pub col: u16,
    /// The raw int8 heat code the score came from. The ranking uses it (a
    /// higher code is a higher score) because it stays exact where f32
    /// scores round to the same value (near 1).
    pub logit: i8,
}

impl Detection {
    /// Width times height (0 for an empty box).
    pub fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }
}

/// Intersection over union of two boxes, in `[0, 1]`. Returns 0 when the
/// union is empty or not a number (degenerate or non-finite boxes), so the
/// result is always finite.
pub fn iou(a: &Detection, b: &Detection) -> f32 {
    let iw = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let ih = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    let inter = iw * ih;
    let union = a.area() + b.area() - inter;
    if union > 0.0 {
        let r = inter / union;
        if r.is_finite() {
            return crate::quant::clamp(r, 0.0, 1.0);
        }
    }
    0.0
}

/// Whether `candidate` survives greedy NMS against the boxes already kept
/// (all of which rank above it): no kept box of the same class (any class
/// when `class_agnostic`) overlaps it with IoU greater than `iou_threshold`.
pub(crate) fn survives(
    kept: &[Detection],
    candidate: &Detection,
    iou_threshold: f32,
    class_agnostic: bool,
) -> bool {
    kept.iter().all(|k| {
        !((class_agnostic || k.class == candidate.class) && iou(k, candidate) > iou_threshold)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x0: f32, y0: f32, x1: f32, y1: f32) -> Detection {
        Detection {
            class: 0,
            score: 0.9,
            x0,
            y0,
            x1,
            y1,
            row: 0,
            col: 0,
            logit: 0,
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = bx(0.0, 0.0, 10.0, 10.0);
        assert_eq!(iou(&a, &a), 1.0);
        // Half overlap: inter 50, union 150.
        let b = bx(5.0, 0.0, 15.0, 10.0);
        assert!((iou(&a, &b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&a, &b), iou(&b, &a));
        // Touching edges and disjoint boxes.
        assert_eq!(iou(&a, &bx(10.0, 0.0, 20.0, 10.0)), 0.0);
        assert_eq!(iou(&a, &bx(30.0, 30.0, 40.0, 40.0)), 0.0);
        // Contained: 4 / 100.
        assert!((iou(&a, &bx(2.0, 2.0, 4.0, 4.0)) - 0.04).abs() < 1e-6);
        // Degenerate boxes give 0; non-finite ones a finite value in [0, 1],
        // never NaN.
        let empty = bx(3.0, 3.0, 3.0, 3.0);
        assert_eq!(iou(&empty, &empty), 0.0);
        let inf = bx(f32::NEG_INFINITY, 0.0, f32::INFINITY, 1.0);
        assert_eq!(iou(&inf, &inf), 0.0);
        for odd in [
            bx(f32::NAN, 0.0, 1.0, 1.0),
            bx(0.0, f32::NAN, f32::NAN, 1.0),
            inf,
            bx(f32::INFINITY, 0.0, f32::NEG_INFINITY, 1.0),
        ] {
            for other in [a, odd, empty] {
                let r = iou(&odd, &other);
                assert!((0.0..=1.0).contains(&r), "iou = {r}");
            }
        }
    }
}
