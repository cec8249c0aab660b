//! Hand-built tensors with known objects: boxes, classes and scores come
//! back within quantization error, in score order; peak picking and NMS
//! behave as documented.

mod common;

use attonet_detect::heapless::Vec as HVec;
use attonet_detect::{iou, DecodeConfig, Decoder, Detection, HeadLayout, Quant};
use common::*;

const HEAT: Quant = Quant {
    scale: 0.08,
    zero_point: -10,
};
const REG: Quant = Quant {
    scale: 0.04,
    zero_point: 3,
};

/// 96x96 input, 12x12 grid, stride 8.
fn layout96(classes: u16, heat: Quant, regression: Quant) -> HeadLayout {
    layout((12, 12), classes, 8, (96, 96), heat, regression)
}

fn config(peak_window: u8, iou_threshold: f32, class_agnostic_nms: bool) -> DecodeConfig {
    DecodeConfig {
        score_threshold: 0.5,
        iou_threshold,
        peak_window,
        class_agnostic_nms,
    }
}

fn decode<const N: usize>(
    layout: HeadLayout,
    cfg: DecodeConfig,
    t: &[i8],
) -> (HVec<Detection, N>, attonet_detect::DecodeReport) {
    let decoder = Decoder::new(layout, cfg).expect("valid layout");
    let mut out = HVec::new();
    let report = decoder.decode(t, &mut out).expect("decodes");
    (out, report)
}

/// Checks `d` against the object it came from: class, cell, the box the
/// quantized codes stand for (tight, only f32/micromath error) and the
/// original box (within quantization error).
fn check_recovered(layout: &HeadLayout, t: &[i8], d: &Detection, obj: &Obj) {
    let (row, col) = obj.cell(layout.stride);
    assert_eq!(
        (d.class, d.row, d.col),
        (obj.class, row, col),
        "{d:?} vs {obj:?}"
    );
    let got = [d.x0 as f64, d.y0 as f64, d.x1 as f64, d.y1 as f64];

    let want = reference_box(layout, t, row, col);
    let tol = box_tolerance(layout, &want);
    for k in 0..4 {
        assert!(
            (got[k] - want[k]).abs() <= tol,
            "coord {k}: {got:?} vs {want:?}"
        );
    }

    // Quantization error of the original box: a logit off by half a step
    // moves sigmoid by at most step/8, a log-size moves the size by a
    // factor e^(step/2).
    let s = layout.stride as f64;
    let step = layout.regression.scale as f64;
    let centre_err = s * step / 8.0;
    let (iw, ih) = (layout.input_w as f64, layout.input_h as f64);
    let orig = [
        (obj.cx - obj.w / 2.0).clamp(0.0, iw),
        (obj.cy - obj.h / 2.0).clamp(0.0, ih),
        (obj.cx + obj.w / 2.0).clamp(0.0, iw),
        (obj.cy + obj.h / 2.0).clamp(0.0, ih),
    ];
    let size_err = |size: f64| size / 2.0 * ((step / 2.0).exp() - 1.0);
    let tol_x = centre_err + size_err(obj.w) + tol;
    let tol_y = centre_err + size_err(obj.h) + tol;
    for k in 0..4 {
        let t = if k % 2 == 0 { tol_x } else { tol_y };
        assert!(
            (got[k] - orig[k]).abs() <= t,
            "coord {k}: {got:?} vs original {orig:?} (tol {t})"
        );
    }

    // Score: exactly the quantized logit's sigmoid (up to micromath), and
    // the intended score within half a heat step.
    let q = dequantize(d.logit, layout.heat);
    assert!((d.score as f64 - sigmoid(q)).abs() < 1e-3, "{d:?}");
    let heat_err = layout.heat.scale as f64 / 8.0 + 1e-3;
    assert!(
        (d.score as f64 - obj.score).abs() <= heat_err,
        "{d:?} vs {obj:?}"
    );
}

fn four_objects() -> [Obj; 4] {
    [
        // Deliberately not in score order, nor in raster order.
        Obj {
            class: 1,
            score: 0.80,
            cx: 20.0,
            cy: 70.0,
            w: 14.0,
            h: 22.0,
        },
        Obj {
            class: 0,
            score: 0.95,
            cx: 60.3,
            cy: 13.1,
            w: 20.0,
            h: 10.0,
        },
        Obj {
            class: 2,
            score: 0.70,
            cx: 83.0,
            cy: 83.0,
            w: 9.0,
            h: 30.0,
        },
        Obj {
            class: 0,
            score: 0.90,
            cx: 12.5,
            cy: 12.5,
            w: 16.0,
            h: 16.0,
        },
    ]
}

#[test]
fn recovers_hand_encoded_boxes_in_score_order() {
    for (heat, reg) in [
        (HEAT, REG),
        // One scale per tensor, as a plain TFLite export would have it.
        (
            Quant {
                scale: 0.05,
                zero_point: 0,
            },
            Quant {
                scale: 0.05,
                zero_point: 0,
            },
        ),
        (
            Quant {
                scale: 0.12,
                zero_point: 20,
            },
            Quant {
                scale: 0.02,
                zero_point: -40,
            },
        ),
    ] {
        let layout = layout96(3, heat, reg);
        let mut t = blank(&layout, 0.01);
        let objs = four_objects();
        for o in &objs {
            encode(&layout, &mut t, o);
        }
        for window in [1, 3, 5] {
            let (out, report) = decode::<8>(layout, config(window, 0.5, false), &t);
            assert_eq!(
                (report.candidates, report.kept, report.truncated),
                (4, 4, 0)
            );
            let order = [1, 3, 0, 2]; // objects by descending score
            for (d, &i) in out.iter().zip(&order) {
                check_recovered(&layout, &t, d, &objs[i]);
            }
            assert!(out.windows(2).all(|w| w[0].score > w[1].score));
        }
    }
}

#[test]
fn boxes_are_clipped_to_the_input() {
    let layout = layout96(1, HEAT, REG);
    let mut t = blank(&layout, 0.01);
    let corner = Obj {
        class: 0,
        score: 0.9,
        cx: 4.0,
        cy: 92.0,
        w: 30.0,
        h: 40.0,
    };
    encode(&layout, &mut t, &corner);
    let (out, _) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!(out.len(), 1);
    let d = out[0];
    assert_eq!((d.x0, d.y1), (0.0, 96.0));
    check_recovered(&layout, &t, &d, &corner);
}

#[test]
fn nothing_above_threshold_gives_nothing() {
    let layout = layout96(2, HEAT, REG);
    let t = blank(&layout, 0.3);
    let decoder = Decoder::new(layout, config(3, 0.5, false)).unwrap();
    let mut out = HVec::<Detection, 4>::new();
    // `out` is cleared even when it held something.
    out.push(Detection {
        class: 9,
        score: 1.0,
        x0: 0.0,
        y0: 0.0,
        x1: 1.0,
        y1: 1.0,
        row: 0,
        col: 0,
        logit: 0,
    })
    .unwrap();
    let report = decoder.decode(&t, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(
        (report.candidates, report.kept, report.truncated),
        (0, 0, 0)
    );

    // A threshold that no int8 code reaches: with scale 0.01, code 127 is
    // logit 1.27, score 0.78.
    let layout = layout96(
        2,
        Quant {
            scale: 0.01,
            zero_point: 0,
        },
        REG,
    );
    let cfg = DecodeConfig {
        score_threshold: 0.9,
        ..config(3, 0.5, false)
    };
    let decoder = Decoder::new(layout, cfg).unwrap();
    assert_eq!(decoder.heat_threshold(), None);
    let t = vec![127_i8; decoder.output_len()];
    assert_eq!(decoder.decode(&t, &mut out).unwrap().candidates, 0);
    assert!(out.is_empty());
}

/// A 3x3 blob around (6, 6) with the centre highest, plus a separate
/// object two cells away from the blob's edge.
fn blob(layout: &HeadLayout) -> Vec<i8> {
    let mut t = blank(layout, 0.01);
    for dr in -1..=1_i32 {
        for dc in -1..=1_i32 {
            let score = if dr == 0 && dc == 0 {
                0.95
            } else {
                0.8 - 0.02 * (dr + 2 * dc + 3) as f64
            };
            // Small boxes centred in their own cells, so that NMS alone
            // would not merge them.
            let (row, col) = ((6 + dr) as f64, (6 + dc) as f64);
            encode(
                layout,
                &mut t,
                &Obj {
                    class: 0,
                    score,
                    cx: col * 8.0 + 4.0,
                    cy: row * 8.0 + 4.0,
                    w: 6.0,
                    h: 6.0,
                },
            );
        }
    }
    encode(
        layout,
        &mut t,
        &Obj {
            class: 0,
            score: 0.6,
            cx: 76.0,
            cy: 52.0,
            w: 6.0,
            h: 6.0,
        },
    );
    t
}

#[test]
fn peak_window_keeps_one_detection_per_blob() {
    let layout = layout96(1, HEAT, REG);
    let t = blob(&layout);
    let (out, report) = decode::<16>(layout, config(1, 0.5, false), &t);
    assert_eq!((report.candidates, out.len()), (10, 10));

    let (out, report) = decode::<16>(layout, config(3, 0.5, false), &t);
    assert_eq!((report.candidates, out.len()), (2, 2));
    assert_eq!((out[0].row, out[0].col), (6, 6));
    assert_eq!((out[1].row, out[1].col), (6, 9));

    // A 7x7 window reaches from (6, 6) to (6, 9): only the blob's centre.
    let (out, _) = decode::<16>(layout, config(7, 0.5, false), &t);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].row, out[0].col), (6, 6));
}

#[test]
fn peak_window_is_per_class() {
    // The same cell neighbourhood, but the neighbours are another class.
    let layout = layout96(2, HEAT, REG);
    let mut t = blank(&layout, 0.01);
    encode(
        &layout,
        &mut t,
        &Obj {
            class: 0,
            score: 0.95,
            cx: 44.0,
            cy: 44.0,
            w: 6.0,
            h: 6.0,
        },
    );
    encode(
        &layout,
        &mut t,
        &Obj {
            class: 1,
            score: 0.70,
            cx: 52.0,
            cy: 44.0,
            w: 6.0,
            h: 6.0,
        },
    );
    let (out, _) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!(out.len(), 2);
}

#[test]
fn plateau_gives_one_peak_at_the_lowest_cell_index() {
    let layout = layout96(1, HEAT, REG);
    let mut t = blank(&layout, 0.01);
    for (row, col) in [(3, 4), (3, 5), (4, 4), (4, 5)] {
        encode(
            &layout,
            &mut t,
            &Obj {
                class: 0,
                score: 0.9,
                cx: col as f64 * 8.0 + 4.0,
                cy: row as f64 * 8.0 + 4.0,
                w: 4.0,
                h: 4.0,
            },
        );
    }
    let (out, report) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!((report.candidates, out.len()), (1, 1));
    assert_eq!((out[0].row, out[0].col), (3, 4));
}

/// Two 64-pixel-wide boxes centred 16 pixels apart (IoU 0.6) in cells
/// (5, 4) and (5, 6).
fn overlapping_pair(layout: &HeadLayout, classes: (u16, u16)) -> Vec<i8> {
    let mut t = blank(layout, 0.01);
    encode(
        layout,
        &mut t,
        &Obj {
            class: classes.0,
            score: 0.9,
            cx: 36.0,
            cy: 44.0,
            w: 64.0,
            h: 32.0,
        },
    );
    encode(
        layout,
        &mut t,
        &Obj {
            class: classes.1,
            score: 0.8,
            cx: 52.0,
            cy: 44.0,
            w: 64.0,
            h: 32.0,
        },
    );
    t
}

#[test]
fn nms_same_class_keeps_the_better_box() {
    let layout = layout96(2, HEAT, REG);
    let t = overlapping_pair(&layout, (1, 1));
    let (out, report) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!((report.candidates, out.len()), (2, 1));
    assert_eq!((out[0].class, out[0].row, out[0].col), (1, 5, 4));
    // The pair's IoU is about 0.6: a looser threshold keeps both.
    let (out, _) = decode::<4>(layout, config(3, 0.7, false), &t);
    assert_eq!(out.len(), 2);
    assert!((iou(&out[0], &out[1]) - 0.6).abs() < 0.02);
}

#[test]
fn nms_per_class_keeps_both_and_class_agnostic_keeps_one() {
    let layout = layout96(2, HEAT, REG);
    let t = overlapping_pair(&layout, (0, 1));
    let (out, _) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].class, out[1].class), (0, 1));
    let (out, _) = decode::<4>(layout, config(3, 0.5, true), &t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].class, 0);
}

/// A > B > C in score; A overlaps B, B overlaps C, A and C do not overlap
/// enough. In raster order C comes first and A last.
fn cascade(layout: &HeadLayout) -> Vec<i8> {
    let mut t = blank(layout, 0.01);
    for (score, col) in [(0.95, 9.0), (0.9, 7.0), (0.85, 5.0)] {
        encode(
            layout,
            &mut t,
            &Obj {
                class: 0,
                score,
                cx: col * 8.0 + 4.0,
                cy: 44.0,
                w: 64.0,
                h: 32.0,
            },
        );
    }
    t
}

#[test]
fn nms_is_exact_greedy_when_a_suppressed_box_would_have_suppressed_another() {
    // Greedy NMS: A kept, B suppressed by A, C kept (B no longer counts).
    // A decoder that let B suppress C before A arrives would return only A.
    let layout = layout96(1, HEAT, REG);
    let t = cascade(&layout);
    let (out, report) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!(report.candidates, 3);
    let cols: Vec<u16> = out.iter().map(|d| d.col).collect();
    assert_eq!(cols, [9, 5]);
    assert_eq!(report.truncated, 0);

    // Capacity 1: the best survivor, and C is reported as dropped.
    let (out, report) = decode::<1>(layout, config(3, 0.5, false), &t);
    assert_eq!((out.len(), out[0].col), (1, 9));
    assert_eq!((report.kept, report.truncated), (1, 1));

    // Capacity 0 is allowed: everything is truncated, nothing panics.
    let (out, report) = decode::<0>(layout, config(3, 0.5, false), &t);
    assert!(out.is_empty());
    assert_eq!((report.candidates, report.kept), (3, 0));
    // Nothing is kept, so nothing suppresses: all 3 are counted.
    assert_eq!(report.truncated, 3);
}

#[test]
fn ties_are_broken_by_class_then_cell_index() {
    let layout = layout96(3, HEAT, REG);
    let mut t = blank(&layout, 0.01);
    // Same score everywhere, far apart, small boxes.
    let cells = [(2, 1, 9), (0, 8, 2), (2, 0, 3), (1, 4, 4), (0, 2, 10)];
    for &(class, row, col) in &cells {
        encode(
            &layout,
            &mut t,
            &Obj {
                class,
                score: 0.9,
                cx: col as f64 * 8.0 + 4.0,
                cy: row as f64 * 8.0 + 4.0,
                w: 4.0,
                h: 4.0,
            },
        );
    }
    let (out, _) = decode::<8>(layout, config(3, 0.5, false), &t);
    let got: Vec<(u16, u16, u16)> = out.iter().map(|d| (d.class, d.row, d.col)).collect();
    assert_eq!(
        got,
        [(0, 2, 10), (0, 8, 2), (1, 4, 4), (2, 0, 3), (2, 1, 9)]
    );
    assert!(out.iter().all(|d| d.score == out[0].score));
}

#[test]
fn saturated_scores_still_rank_by_code() {
    // With a large heat scale, codes 100 and 120 both give sigmoid = 1.0 in
    // f32; the higher code still ranks first.
    let heat = Quant {
        scale: 1.0,
        zero_point: 0,
    };
    let layout = layout96(1, heat, REG);
    let mut t = blank(&layout, 0.01);
    let channels = 5;
    t[(2 * 12 + 2) * channels] = 100;
    t[(8 * 12 + 8) * channels] = 120;
    let (out, _) = decode::<4>(layout, config(3, 0.5, false), &t);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].score, out[1].score), (1.0, 1.0));
    assert_eq!((out[0].logit, out[1].logit), (120, 100));
}
