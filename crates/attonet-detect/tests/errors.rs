//! Bad layouts, configurations and tensors give the named error, never a
//! panic; extreme but valid parameters never give NaN boxes.

mod common;

use attonet_detect::heapless::Vec as HVec;
use attonet_detect::{DecodeConfig, Decoder, DetectError, Detection, HeadLayout, Quant};
use common::*;

fn good() -> HeadLayout {
    layout(
        (12, 12),
        2,
        8,
        (96, 96),
        Quant {
            scale: 0.1,
            zero_point: 0,
        },
        Quant {
            scale: 0.05,
            zero_point: -3,
        },
    )
}

fn err(layout: HeadLayout, cfg: DecodeConfig) -> DetectError {
    Decoder::new(layout, cfg).expect_err("must be rejected")
}

/// The error's message names the field and shows the value.
fn says(e: &DetectError, words: &[&str]) {
    let msg = e.to_string();
    for w in words {
        assert!(msg.contains(w), "{msg:?} should mention {w:?}");
    }
    let _: &dyn core::error::Error = e;
}

#[test]
fn wrong_output_length() {
    let decoder = Decoder::new(good(), DecodeConfig::default()).unwrap();
    assert_eq!(decoder.output_len(), 12 * 12 * 6);
    let mut out = HVec::<Detection, 4>::new();
    for len in [0, 1, 863, 865, 2000] {
        // `out` is emptied on error too.
        out.push(Detection {
            class: 0,
            score: 0.9,
            x0: 0.0,
            y0: 0.0,
            x1: 1.0,
            y1: 1.0,
            row: 0,
            col: 0,
            logit: 0,
        })
        .unwrap();
        let t = vec![0_i8; len];
        let e = decoder.decode(&t, &mut out).unwrap_err();
        assert_eq!(
            e,
            DetectError::OutputLength {
                expected: 864,
                found: len
            }
        );
        assert!(out.is_empty());
        says(&e, &["864", &len.to_string()]);
    }
}

#[test]
fn zero_dimensions() {
    type Setter = fn(&mut HeadLayout);
    let cases: [(&str, Setter); 6] = [
        ("grid_h", |l| l.grid_h = 0),
        ("grid_w", |l| l.grid_w = 0),
        ("classes", |l| l.classes = 0),
        ("stride", |l| l.stride = 0),
        ("input_h", |l| l.input_h = 0),
        ("input_w", |l| l.input_w = 0),
    ];
    for (field, set) in cases {
        let mut l = good();
        set(&mut l);
        let e = err(l, DecodeConfig::default());
        assert_eq!(e, DetectError::ZeroDimension { field });
        assert_eq!(l.validate(), Err(e));
        says(&e, &[field]);
    }
}

#[test]
fn bad_scales() {
    for scale in [f32::NAN, 0.0, -0.0, -0.1, f32::INFINITY, f32::NEG_INFINITY] {
        for (field, regression) in [("heat.scale", false), ("regression.scale", true)] {
            let mut l = good();
            if regression {
                l.regression.scale = scale;
            } else {
                l.heat.scale = scale;
            }
            match err(l, DecodeConfig::default()) {
                DetectError::InvalidScale { field: f, scale: s } => {
                    assert_eq!(f, field);
                    assert!(s.to_bits() == scale.to_bits());
                    says(
                        &DetectError::InvalidScale { field: f, scale: s },
                        &[field, &scale.to_string()],
                    );
                }
                other => panic!("{scale}: {other:?}"),
            }
        }
    }
}

#[test]
fn zero_points_out_of_range() {
    for zero_point in [128, -129, 255, i32::MAX, i32::MIN] {
        let mut l = good();
        l.heat.zero_point = zero_point;
        let e = err(l, DecodeConfig::default());
        assert_eq!(
            e,
            DetectError::InvalidZeroPoint {
                field: "heat.zero_point",
                zero_point
            }
        );
        says(&e, &["heat.zero_point", &zero_point.to_string()]);
        let mut l = good();
        l.regression.zero_point = zero_point;
        assert_eq!(
            err(l, DecodeConfig::default()),
            DetectError::InvalidZeroPoint {
                field: "regression.zero_point",
                zero_point
            }
        );
    }
    // The ends of the range are fine.
    for zero_point in [-128, 127] {
        let mut l = good();
        l.heat.zero_point = zero_point;
        l.regression.zero_point = zero_point;
        assert!(Decoder::new(l, DecodeConfig::default()).is_ok());
    }
}

#[test]
fn bad_thresholds() {
    for value in [
        f32::NAN,
        0.0,
        1.0,
        -0.1,
        1.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        for field in ["score_threshold", "iou_threshold"] {
            let mut cfg = DecodeConfig::default();
            if field == "score_threshold" {
                cfg.score_threshold = value;
            } else {
                cfg.iou_threshold = value;
            }
            match err(good(), cfg) {
                DetectError::InvalidThreshold { field: f, value: v } => {
                    assert_eq!(f, field);
                    assert_eq!(v.to_bits(), value.to_bits());
                    says(
                        &DetectError::InvalidThreshold { field: f, value: v },
                        &[field],
                    );
                }
                other => panic!("{field} = {value}: {other:?}"),
            }
            assert!(cfg.validate().is_err());
        }
    }
}

#[test]
fn even_peak_windows() {
    for peak_window in [0, 2, 4, 254] {
        let cfg = DecodeConfig {
            peak_window,
            ..DecodeConfig::default()
        };
        let e = err(good(), cfg);
        assert_eq!(e, DetectError::InvalidPeakWindow { peak_window });
        says(&e, &["peak_window", &peak_window.to_string()]);
    }
    // Any odd window is fine, even one far larger than the grid.
    let cfg = DecodeConfig {
        peak_window: 255,
        ..DecodeConfig::default()
    };
    let decoder = Decoder::new(good(), cfg).unwrap();
    let mut out = HVec::<Detection, 4>::new();
    let t = vec![50_i8; decoder.output_len()];
    let report = decoder.decode(&t, &mut out).unwrap();
    // All cells tie: the one with the lowest index per class wins.
    assert_eq!(report.candidates, 2);
}

#[test]
fn huge_dimensions_do_not_overflow() {
    let mut l = good();
    (l.grid_h, l.grid_w, l.classes) = (u16::MAX, u16::MAX, u16::MAX);
    let channels = u16::MAX as u32 + 4;
    let len = l.validate();
    if cfg!(target_pointer_width = "64") {
        // 2.8e14 elements: addressable in principle; any real slice is
        // rejected by length, without touching it.
        let expected = 65535_usize * 65535 * channels as usize;
        assert_eq!(len, Ok(expected));
        let decoder = Decoder::new(l, DecodeConfig::default()).unwrap();
        let mut out = HVec::<Detection, 4>::new();
        assert_eq!(
            decoder.decode(&[0; 16], &mut out),
            Err(DetectError::OutputLength {
                expected,
                found: 16
            })
        );
    } else {
        // On a 32-bit MCU the product does not fit; the layout module's
        // unit test covers this arithmetic on the host.
        let e = DetectError::TensorTooLarge {
            grid_h: u16::MAX,
            grid_w: u16::MAX,
            channels,
        };
        assert_eq!(len, Err(e));
    }
    says(
        &DetectError::TensorTooLarge {
            grid_h: u16::MAX,
            grid_w: u16::MAX,
            channels,
        },
        &["65535x65535x65539"],
    );
}

#[test]
fn extreme_valid_parameters_never_give_nan_boxes() {
    let mut rng = Rng::new(99);
    let scales = [f32::MIN_POSITIVE, 1e-30, 1e-6, 1.0, 100.0, 1e30, f32::MAX];
    for &hs in &scales {
        for &rs in &scales {
            for stride in [1, 8, u16::MAX] {
                for input in [1, 96, u16::MAX] {
                    let l = layout(
                        (4, 5),
                        2,
                        stride,
                        (input, input),
                        Quant {
                            scale: hs,
                            zero_point: -128,
                        },
                        Quant {
                            scale: rs,
                            zero_point: 127,
                        },
                    );
                    let cfg = DecodeConfig {
                        score_threshold: 1e-6,
                        iou_threshold: 0.5,
                        peak_window: 1,
                        class_agnostic_nms: false,
                    };
                    let decoder = Decoder::new(l, cfg).unwrap();
                    let t: Vec<i8> = (0..decoder.output_len())
                        .map(|_| rng.code(-128, 127))
                        .collect();
                    let mut out = HVec::<Detection, 64>::new();
                    decoder.decode(&t, &mut out).unwrap();
                    for d in &out {
                        let v = [d.score, d.x0, d.y0, d.x1, d.y1];
                        assert!(v.iter().all(|x| x.is_finite()), "{d:?}");
                        assert!(d.score >= 1e-6 && d.score <= 1.0);
                        let inp = input as f32;
                        assert!(0.0 <= d.x0 && d.x0 <= d.x1 && d.x1 <= inp, "{d:?}");
                        assert!(0.0 <= d.y0 && d.y0 <= d.y1 && d.y1 <= inp, "{d:?}");
                    }
                }
            }
        }
    }
}
