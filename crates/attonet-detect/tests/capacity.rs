//! The bounded decoder against a brute-force reference (decode every cell,
//! sort, greedy NMS, all in f64 with std `Vec`s) on random tensors, for
//! capacities below and above the number of survivors.

mod common;

use attonet_detect::heapless::Vec as HVec;
use attonet_detect::{DecodeConfig, DecodeReport, Decoder, Detection, HeadLayout, Quant};
use common::*;

/// IoUs closer than this to the threshold may be decided either way by the
/// decoder's f32/micromath boxes; trials with such a pair are skipped.
const IOU_BAND: f64 = 0.01;
/// Scores closer than this to the threshold, likewise.
const SCORE_BAND: f64 = 1e-3;

#[derive(Debug, Clone)]
struct RefDet {
    class: u16,
    row: u16,
    col: u16,
    code: i8,
    score: f64,
    bbox: [f64; 4],
}

struct Reference {
    /// All candidates in ranking order.
    ranked: Vec<RefDet>,
    /// Greedy-NMS survivors in ranking order.
    kept: Vec<RefDet>,
    /// A score or IoU comparison was too close to call.
    ambiguous: bool,
}

fn heat_at(layout: &HeadLayout, t: &[i8], row: usize, col: usize, class: usize) -> i8 {
    t[(row * layout.grid_w as usize + col) * (layout.classes as usize + 4) + class]
}

/// Straightforward decode: every (cell, class), the float threshold, the
/// peak test written out, a full sort, textbook greedy NMS.
fn reference(layout: &HeadLayout, cfg: &DecodeConfig, t: &[i8]) -> Reference {
    let (gh, gw) = (layout.grid_h as usize, layout.grid_w as usize);
    let radius = (cfg.peak_window / 2) as i64;
    let thr = cfg.score_threshold as f64;
    let mut ambiguous = false;
    let mut ranked = Vec::new();
    for row in 0..gh {
        for col in 0..gw {
            for class in 0..layout.classes as usize {
                let code = heat_at(layout, t, row, col, class);
                let score = sigmoid(dequantize(code, layout.heat));
                ambiguous |= (score - thr).abs() < SCORE_BAND;
                if score < thr {
                    continue;
                }
                let key = |r: usize, c: usize| {
                    (
                        heat_at(layout, t, r, c, class),
                        std::cmp::Reverse(r * gw + c),
                    )
                };
                let mut peak = true;
                for r in (row as i64 - radius)..=(row as i64 + radius) {
                    for c in (col as i64 - radius)..=(col as i64 + radius) {
                        if r < 0
                            || c < 0
                            || r >= gh as i64
                            || c >= gw as i64
                            || (r as usize, c as usize) == (row, col)
                        {
                            continue;
                        }
                        if key(r as usize, c as usize) > key(row, col) {
                            peak = false;
                        }
                    }
                }
                if peak {
                    ranked.push(RefDet {
                        class: class as u16,
                        row: row as u16,
                        col: col as u16,
                        code,
                        score,
                        bbox: reference_box(layout, t, row as u16, col as u16),
                    });
                }
            }
        }
    }
    // Ranking: score (= code) descending, class, cell index.
    ranked.sort_by_key(|d| {
        (
            std::cmp::Reverse(d.code),
            d.class,
            d.row as usize * gw + d.col as usize,
        )
    });
    let overlaps = |a: &RefDet, b: &RefDet, ambiguous: &mut bool| {
        if !cfg.class_agnostic_nms && a.class != b.class {
            return false;
        }
        let v = iou64(&a.bbox, &b.bbox);
        *ambiguous |= (v - cfg.iou_threshold as f64).abs() < IOU_BAND;
        v > cfg.iou_threshold as f64
    };
    // Every pair whose IoU may be looked at, by either side.
    for (i, a) in ranked.iter().enumerate() {
        for b in &ranked[i + 1..] {
            overlaps(a, b, &mut ambiguous);
        }
    }
    let mut kept: Vec<RefDet> = Vec::new();
    for d in &ranked {
        if !kept.iter().any(|k| overlaps(k, d, &mut false)) {
            kept.push(d.clone());
        }
    }
    Reference {
        ranked,
        kept,
        ambiguous,
    }
}

/// What `truncated` must be for capacity `n`, by its definition: the
/// candidates ranked below the n-th survivor that none of the first n
/// survivors suppresses.
fn expected_truncated(r: &Reference, cfg: &DecodeConfig, n: usize) -> usize {
    if r.kept.len() <= n {
        return 0;
    }
    let top = &r.kept[..n];
    let start = match top.last() {
        Some(last) => {
            r.ranked
                .iter()
                .position(|d| (d.row, d.col, d.class) == (last.row, last.col, last.class))
                .unwrap()
                + 1
        }
        None => 0,
    };
    r.ranked[start..]
        .iter()
        .filter(|d| {
            !top.iter().any(|k| {
                (cfg.class_agnostic_nms || k.class == d.class)
                    && iou64(&k.bbox, &d.bbox) > cfg.iou_threshold as f64
            })
        })
        .count()
}

fn decode_n<const N: usize>(decoder: &Decoder, t: &[i8]) -> (Vec<Detection>, DecodeReport) {
    let mut out = HVec::<Detection, N>::new();
    let report = decoder.decode(t, &mut out).expect("decodes");
    assert_eq!(report.kept, out.len());
    (out.to_vec(), report)
}

fn check_against_reference(
    layout: &HeadLayout,
    cfg: &DecodeConfig,
    r: &Reference,
    got: &[Detection],
    report: &DecodeReport,
    n: usize,
) {
    assert_eq!(report.candidates, r.ranked.len());
    assert_eq!(got.len(), r.kept.len().min(n));
    for (d, want) in got.iter().zip(&r.kept) {
        assert_eq!(
            (d.class, d.row, d.col, d.logit),
            (want.class, want.row, want.col, want.code),
            "{d:?} vs {want:?}"
        );
        assert!((d.score as f64 - want.score).abs() < 1e-3);
        let tol = box_tolerance(layout, &want.bbox);
        let b = [d.x0, d.y0, d.x1, d.y1];
        for (got, want_k) in b.iter().zip(&want.bbox) {
            assert!((*got as f64 - want_k).abs() <= tol, "{d:?} vs {want:?}");
        }
    }
    let truncated = expected_truncated(r, cfg, n);
    assert_eq!(
        report.truncated,
        truncated,
        "n = {n}, survivors {}",
        r.kept.len()
    );
    // What `truncated` promises about the exact count of lost survivors.
    let lost = r.kept.len().saturating_sub(n);
    assert_eq!(report.truncated == 0, lost == 0);
    assert!(report.truncated >= lost);
}

/// A random layout, configuration and tensor with a fair share of
/// candidates and overlaps.
fn random_case(rng: &mut Rng) -> (HeadLayout, DecodeConfig, Vec<i8>) {
    let grid = (3 + rng.below(8) as u16, 3 + rng.below(8) as u16);
    let classes = 1 + rng.below(3) as u16;
    let stride = 8;
    let heat = Quant {
        scale: rng.range(0.02, 0.2) as f32,
        zero_point: rng.code(-40, 40) as i32,
    };
    let regression = Quant {
        scale: rng.range(0.01, 0.06) as f32,
        zero_point: rng.code(-20, 20) as i32,
    };
    let input = (grid.0 * stride - rng.below(4) as u16, grid.1 * stride);
    let layout = layout(grid, classes, stride, input, heat, regression);
    let cfg = DecodeConfig {
        score_threshold: [0.3, 0.5, 0.6][rng.below(3) as usize],
        iou_threshold: [0.2, 0.45, 0.7][rng.below(3) as usize],
        peak_window: [1, 1, 3, 5][rng.below(4) as usize],
        class_agnostic_nms: rng.below(3) == 0,
    };
    let channels = classes as usize + 4;
    let density = rng.range(0.05, 0.6);
    let mut t = vec![0_i8; grid.0 as usize * grid.1 as usize * channels];
    for cell in t.chunks_mut(channels) {
        for h in &mut cell[..classes as usize] {
            // Mostly background; some strong codes, with repeats (ties).
            let logit = if rng.range(0.0, 1.0) < density {
                rng.range(-1.0, 4.0)
            } else {
                rng.range(-8.0, -1.5)
            };
            *h = quantize(logit, heat);
            if rng.below(8) == 0 {
                *h = quantize(2.0, heat);
            }
        }
        let c = classes as usize;
        cell[c] = quantize(rng.range(-3.0, 3.0), regression);
        cell[c + 1] = quantize(rng.range(-3.0, 3.0), regression);
        // Sizes from half a cell to 5 cells, often overlapping neighbours.
        cell[c + 2] = quantize(rng.range(-0.7, 1.6), regression);
        cell[c + 3] = quantize(rng.range(-0.7, 1.6), regression);
    }
    (layout, cfg, t)
}

#[test]
fn bounded_decoder_matches_brute_force_for_every_capacity() {
    let mut rng = Rng::new(2024);
    let (mut compared, mut skipped, mut truncating) = (0, 0, 0);
    for _ in 0..3000 {
        let (layout, cfg, t) = random_case(&mut rng);
        let r = reference(&layout, &cfg, &t);
        let decoder = Decoder::new(layout, cfg).unwrap();
        let (big, big_report) = decode_n::<1024>(&decoder, &t);

        // Crate against itself: any capacity keeps a prefix of the
        // unbounded result, bit for bit. This needs no tolerance, so it is
        // checked on every trial.
        let mut check_prefix = |got: Vec<Detection>, report: DecodeReport, n: usize| {
            assert_eq!(got[..], big[..big.len().min(n)]);
            assert_eq!(report.candidates, big_report.candidates);
            assert_eq!(report.kept, big.len().min(n));
            assert_eq!(report.truncated == 0, big.len() <= n);
            assert!(report.truncated >= big.len().saturating_sub(n));
            if !r.ambiguous {
                check_against_reference(&layout, &cfg, &r, &got, &report, n);
            }
            if big.len() > n {
                truncating += 1;
            }
        };
        let (g, rep) = decode_n::<0>(&decoder, &t);
        check_prefix(g, rep, 0);
        let (g, rep) = decode_n::<1>(&decoder, &t);
        check_prefix(g, rep, 1);
        let (g, rep) = decode_n::<2>(&decoder, &t);
        check_prefix(g, rep, 2);
        let (g, rep) = decode_n::<3>(&decoder, &t);
        check_prefix(g, rep, 3);
        let (g, rep) = decode_n::<5>(&decoder, &t);
        check_prefix(g, rep, 5);
        let (g, rep) = decode_n::<8>(&decoder, &t);
        check_prefix(g, rep, 8);
        let (g, rep) = decode_n::<13>(&decoder, &t);
        check_prefix(g, rep, 13);

        assert_eq!(big_report.truncated, 0);
        if r.ambiguous {
            skipped += 1;
        } else {
            check_against_reference(&layout, &cfg, &r, &big, &big_report, 1024);
            compared += 1;
        }
    }
    println!("compared {compared}, skipped {skipped} (borderline IoU or score), truncating runs {truncating}");
    assert!(compared >= 1500, "compared {compared}, skipped {skipped}");
    assert!(truncating >= 3000, "truncating runs {truncating}");
}
