"""ONNX: export npgrad models (`export`), and build npgrad modules from ONNX files (`load`).

Needs the optional extra ``pip install "npgrad[onnx]"`` (onnx and, to run the files,
onnxruntime); ``import npgrad`` never imports onnx, this package imports it when called.
"""

from __future__ import annotations

from npgrad.onnx._export import DEFAULT_OPSET, export, require_onnx
from npgrad.onnx._import import load

__all__ = ["DEFAULT_OPSET", "export", "load", "require_onnx"]
