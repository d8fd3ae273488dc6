"""What a model costs to deploy, estimated from its parameter count before anything is built.

* ``weight_bytes``: its weights in float32, 4 bytes per parameter (every unique parameter: the
  embedding and softmax included, tied weights once). A "2.1M" decoder-parameter model of the
  default space is about 10.7M parameters in all (the 50,257-token embedding dominates), so
  about 43 MB.
* ``onnx_bytes``: the size of its ONNX file as ``controller export --format onnx`` writes it
  (fp32 initialisers and the graph, prefill, static input shape): the weights plus
  :data:`ONNX_EXTRA` of them, calibrated on real exports written by ``controller export
  --format onnx``: four random models of the default GPT-2 space, 3.7M to 42M parameters,
  were 99.98% to 100.6% of their weights, and a 0.19M-parameter model of the tests' tiny
  space 98.6% (tests/controller/test_exports.py checks it against the estimate); the
  estimate is within 2% of each. A ``.pt`` file is the same weights.
"""

from __future__ import annotations

#: Bytes per parameter of float32 weights.
BYTES_PER_PARAM = 4
#: What an ONNX file adds to its weights (the graph, names, shapes), as a fraction of them.
ONNX_EXTRA = 0.002


def weight_bytes(total_params: int) -> int:
    """The float32 weights of a model of ``total_params`` parameters, in bytes."""
    return BYTES_PER_PARAM * int(total_params)


def onnx_bytes(total_params: int) -> int:
    """The estimated size of its ONNX export, in bytes (see the module doc)."""
    return round(weight_bytes(total_params) * (1 + ONNX_EXTRA))
