"""Writes fuzz/seeds/onnx/: the small operator models of the ONNX package's
backend tests (PyTorch exports of single layers and short graphs), converted to
opset 13 and to batch 1 (the first dimension of every graph input and output
of rank 2 or more; weights no longer listed among the inputs), so that AttoNet's ONNX reader goes past its opset and
batch checks on them and the fuzzer starts from real layer graphs.

Run with the design venv (`onnx` installed):
    .venv-design/bin/python fuzz/seeds/make_onnx_seeds.py
"""

import pathlib

import onnx
from onnx import version_converter

DATA = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data"
OUT = pathlib.Path(__file__).parent / "onnx"
PREFIX = {"pytorch-converted": "converted_", "pytorch-operator": "operator_", "simple": "simple_"}
MAX_BYTES = 16 * 1024


def main() -> None:
    OUT.mkdir(exist_ok=True)
    kept = failed = 0
    for family, prefix in PREFIX.items():
        for path in sorted((DATA / family).glob("*/model.onnx")):
            if path.stat().st_size > MAX_BYTES:
                continue
            name = prefix + path.parent.name.removeprefix("test_operator_").removeprefix("test_")
            try:
                model = version_converter.convert_version(onnx.load(str(path)), 13)
                # Old exports list the weights among the graph inputs too (IR
                # version 3 required it; 7 goes with opset 13 and does not).
                weights = {t.name for t in model.graph.initializer}
                inputs = [v for v in model.graph.input if v.name not in weights]
                model.ir_version = 7
                del model.graph.input[:]
                model.graph.input.extend(inputs)
                for v in list(model.graph.input) + list(model.graph.output):
                    dims = v.type.tensor_type.shape.dim
                    if len(dims) >= 2 and dims[0].HasField("dim_value"):
                        dims[0].dim_value = 1
                del model.graph.value_info[:]
                model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
                onnx.checker.check_model(model)
            except Exception as e:  # the converter refuses some old graphs
                print(f"skipped {name}: {type(e).__name__}")
                failed += 1
                continue
            (OUT / f"{name}.onnx").write_bytes(model.SerializeToString())
            kept += 1
    print(f"onnx {onnx.__version__}: {kept} seeds written to {OUT}, {failed} skipped")


if __name__ == "__main__":
    main()
