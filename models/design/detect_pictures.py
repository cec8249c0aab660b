"""Detections drawn on test scenes: the float detector beside the int8 one.

    python -m models.design detect-pictures --model models/atto-det-a \
        --out models/atto-det-a/detections.png

For each of the first `--scenes` scenes of the detection test split (the
scenes `examples/qemu-detect` bundles: `scenes.generate(..., "test", n,
seed 0)`), two panels side by side: the float ONNX model's detections
(onnxruntime) and the int8 model's (`attonet run`: the converter's
quantization from the folder's calib.npy and the firmware's kernels on the
host), both decoded as `attonet-detect` does (`detect.decode`) at the card's
operating point. Ground-truth boxes are thin grey; a detection is green
where it matches a ground-truth digit of its class at IoU >= 0.5
(`detect.image_hits`, the matching of the card's mAP), red where it does not; each is labelled with its
class and score.
"""
import json
from pathlib import Path

import numpy as np

from . import detect as D
from . import scenes as S

SCALE = 3
TRUTH = (150, 150, 150)
HIT = (40, 220, 60)
FALSE = (240, 50, 50)


class PicturesError(ValueError):
    """Bad input to the pictures (a folder without the detector, a bad count)."""


def float_outputs(onnx_path, images_u8):
    """The float ONNX model's outputs [N, K + 4, gh, gw] on N x H x W x C
    uint8 images (raw pixels in, NCHW)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.ascontiguousarray(images_u8.transpose(0, 3, 1, 2)).astype(np.float32)
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def panel(image_u8, dets, boxes, classes, title):
    """One scene (H x W x 1 or 3 uint8), scaled by SCALE, with the ground
    truth and the detections drawn, a title above: a PIL image."""
    from PIL import Image, ImageDraw
    img = image_u8[:, :, 0] if image_u8.shape[2] == 1 else image_u8
    im = Image.fromarray(img).convert("RGB")
    im = im.resize((im.width * SCALE, im.height * SCALE), Image.NEAREST)
    out = Image.new("RGB", (im.width, im.height + 16), (255, 255, 255))
    out.paste(im, (0, 16))
    d = ImageDraw.Draw(out)
    d.text((4, 2), title, fill=(0, 0, 0))
    for b in boxes:
        x0, y0, x1, y1 = (int(v) * SCALE for v in b)
        d.rectangle([x0, y0 + 16, x1 - 1, y1 - 1 + 16], outline=TRUTH)
    for det, hit in zip(dets, D.image_hits(dets, boxes, classes)):
        colour = HIT if hit else FALSE
        x0, y0, x1, y1 = (v * SCALE for v in det.box)
        d.rectangle([x0, y0 + 16, x1 - 1, y1 - 1 + 16], outline=colour, width=2)
        # The label on black, above the box (inside it at the top edge).
        label = f"{det.cls} {det.score:.2f}"
        l, t, r, b = d.textbbox((0, 0), label)
        ty = max(16, y0 + 16 - (b - t) - 3)
        d.rectangle([x0, ty, x0 + (r - l) + 4, ty + (b - t) + 3], fill=(0, 0, 0))
        d.text((x0 + 2 - l, ty + 1 - t), label, fill=colour)
    return out


def sheet(model_dir, out_png, count=4, seed=0, mnist=None, attonet=None):
    """Draws `count` test scenes, float beside int8, into `out_png`; returns
    a summary (per model, detections and those that hit)."""
    from PIL import Image
    model_dir = Path(model_dir)
    onnx_path, calib, card_path = (model_dir / "detector.onnx", model_dir / "calib.npy",
                                   model_dir / "card.json")
    for f in (onnx_path, calib, card_path):
        if not f.is_file():
            raise PicturesError(f"{f}: missing (a detector folder has detector.onnx, "
                                "calib.npy and card.json)")
    if not 1 <= count <= 64:
        raise PicturesError(f"--scenes {count}: 1 to 64")
    card = json.loads(card_path.read_text())
    try:
        threshold = float(card["operating_point"]["score_threshold"])
        stride = int(card["head"]["stride"])
    except (KeyError, TypeError, ValueError) as e:
        raise PicturesError(f"{card_path}: no operating_point.score_threshold or "
                            f"head.stride ({e})") from e
    digits, labels = S.load_mnist(mnist or S.fetch_mnist())
    ss = S.generate(digits, labels, "test", count, seed, S.SceneConfig())
    hw = ss.images.shape[1:3]
    truth = D.scene_truth(ss)
    outputs = {"float (onnxruntime)": float_outputs(onnx_path, ss.images),
               "int8 (attonet run: the firmware's kernels)":
                   D.int8_outputs(onnx_path, calib, ss.images, attonet)}
    panels, summary = [], {}
    for name, outs in outputs.items():
        dets = D.decode_all(outs, stride, hw, threshold, 0.5, max_detections=32)
        hits = sum(sum(D.image_hits(d, b, c)) for d, b, c in zip(dets, *truth))
        summary[name] = {"detections": sum(map(len, dets)), "hits": hits}
        panels.append([panel(ss.images[i], dets[i], truth[0][i], truth[1][i],
                             f"scene {i}, {name.split(' ')[0]}: {len(dets[i])} found")
                       for i in range(count)])
    w, h = panels[0][0].size
    gap = 8
    out = Image.new("RGB", (2 * w + gap, count * (h + gap) - gap), (255, 255, 255))
    for col, column in enumerate(panels):
        for row, p in enumerate(column):
            out.paste(p, (col * (w + gap), row * (h + gap)))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out.save(out_png, "PNG", optimize=True)
    summary["truth"] = int(len(ss.cls))
    summary["score_threshold"] = threshold
    return summary


def cli(a):
    try:
        s = sheet(a.model, a.out, a.scenes, a.seed, a.mnist, a.attonet)
    except (PicturesError, D.DetectError, S.SceneError) as e:
        raise SystemExit(f"detect-pictures: {e}")
    print(f"[detect-pictures] {a.out}: {s['truth']} ground-truth digits, score >= "
          f"{s['score_threshold']}; " + "; ".join(
              f"{k}: {v['detections']} found, {v['hits']} hits" for k, v in s.items()
              if isinstance(v, dict)))
