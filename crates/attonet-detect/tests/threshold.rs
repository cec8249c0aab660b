//! The int8-domain threshold equals the float rule on all 256 codes.

mod common;

use attonet_detect::heapless::Vec as HVec;
use attonet_detect::{DecodeConfig, Decoder, Detection, Quant};
use common::*;

const SCALES: [f32; 12] = [
    1e-4, 1e-3, 0.01, 0.03, 0.0625, 0.1, 0.2, 0.5, 1.0, 4.0, 50.0, 1e30,
];
const ZERO_POINTS: [i32; 7] = [-128, -64, -1, 0, 1, 37, 127];
const THRESHOLDS: [f32; 11] = [
    1e-30,
    1e-6,
    0.01,
    0.1,
    0.25,
    0.5,
    0.500_000_1,
    0.7,
    0.9,
    0.99,
    0.999_999,
];

/// A 1x1 grid with one class, so one decode scores one code.
fn one_cell_decoder(heat: Quant, score_threshold: f32) -> Decoder {
    let layout = layout(
        (1, 1),
        1,
        8,
        (8, 8),
        heat,
        Quant {
            scale: 0.1,
            zero_point: 0,
        },
    );
    let cfg = DecodeConfig {
        score_threshold,
        iou_threshold: 0.5,
        peak_window: 1,
        class_agnostic_nms: false,
    };
    Decoder::new(layout, cfg).expect("valid")
}

/// The score the decoder reports for `code`, if it reports one at all.
fn decoded(decoder: &Decoder, code: i8) -> Option<f32> {
    let mut out = HVec::<Detection, 1>::new();
    decoder
        .decode(&[code, 0, 0, 0, 0], &mut out)
        .expect("decodes");
    out.first().map(|d| d.score)
}

fn combinations() -> Vec<(f32, i32, f32)> {
    let mut all = Vec::new();
    for &s in &SCALES {
        for &zp in &ZERO_POINTS {
            for &t in &THRESHOLDS {
                all.push((s, zp, t));
            }
        }
    }
    let mut rng = Rng::new(7);
    for _ in 0..400 {
        let s = 10f64.powf(rng.range(-3.0, 1.0)) as f32;
        let zp = rng.code(-128, 127) as i32;
        let t = rng.range(0.001, 0.999) as f32;
        all.push((s, zp, t));
    }
    all
}

#[test]
fn int8_threshold_matches_the_float_rule_on_every_code() {
    let mut compared = 0_u64;
    let mut borderline = 0_u64;
    for (scale, zero_point, thr) in combinations() {
        let heat = Quant { scale, zero_point };
        let decoder = one_cell_decoder(heat, thr);
        let q_min = decoder.heat_threshold();
        for code in i8::MIN..=i8::MAX {
            let passes = q_min.is_some_and(|q| code >= q);
            // Independent f64 reference: sigmoid((q - zp) * scale) >= t.
            // micromath's sigmoid is within 6e-4 of it, so codes closer
            // than 1e-3 to the threshold may legitimately go either way.
            let exact = sigmoid(dequantize(code, heat));
            if (exact - thr as f64).abs() > 1e-3 {
                assert_eq!(
                    passes,
                    exact >= thr as f64,
                    "scale {scale} zp {zero_point} thr {thr} code {code}: exact score {exact}, q_min {q_min:?}"
                );
                compared += 1;
            } else {
                borderline += 1;
            }
        }
    }
    // The band is narrow: most codes are compared strictly (the borderline
    // ones come from the tiny scales, where all 256 codes score within a
    // few 1e-3 of 0.5).
    assert!(
        borderline * 10 < compared,
        "{borderline} borderline vs {compared}"
    );
}

#[test]
fn int8_threshold_agrees_exactly_with_the_reported_scores() {
    // The decoder's own scores (what a caller sees) against the threshold:
    // a code passes exactly when the score it reports is >= the threshold,
    // with no tolerance band at all.
    for (scale, zero_point, thr) in combinations() {
        let heat = Quant { scale, zero_point };
        let decoder = one_cell_decoder(heat, thr);
        let q_min = decoder.heat_threshold();
        // Scores of every code, read through a decoder that lets all
        // non-zero scores through.
        let all = one_cell_decoder(heat, f32::MIN_POSITIVE);
        let mut prev = 0.0_f32;
        for code in i8::MIN..=i8::MAX {
            let score = decoded(&all, code).unwrap_or(0.0);
            assert!(score >= prev, "scores must not decrease with the code");
            prev = score;
            let passes = q_min.is_some_and(|q| code >= q);
            assert_eq!(
                passes,
                score >= thr,
                "scale {scale} zp {zero_point} thr {thr} code {code}: score {score}"
            );
            // And the thresholded decoder reports exactly the passing codes.
            let got = decoded(&decoder, code);
            assert_eq!(got.is_some(), passes);
            if let Some(s) = got {
                assert_eq!(s, score);
                assert!(s >= thr);
            }
        }
    }
}
