"""Small search spaces (as space-file dictionaries) whose models an agent builds and measures
in well under a second: for ``controller demo``, the tests and the benchmarks."""

from __future__ import annotations

from typing import Any

#: The demo's space: small models (1-4 layers, d_model 64-256, a 10k vocabulary) that an
#: agent builds and measures in well under a second each.
DEMO_SPACE: dict[str, Any] = {
    "backbone": "gpt2",
    "n_layer": {"min": 1, "max": 4},
    "d_model": {"min": 64, "max": 256, "step": 64},
    "d_embed": [64, 128],
    "div_val": [1, 2],
    "n_head": [2, 4],
    "d_inner": {"min": 128, "max": 1024, "step": 128},
    "n_token": 10000,
    "cutoffs": [2000, 5000],
}


#: Tiny GPT-2 models (1-3 layers, d_model 64-128, a 1k vocabulary), each measured in well under
#: a second: the tests' space and ``benchmarks/search_economy.py --space tiny``.
TINY_SPACE: dict[str, Any] = {
    "backbone": "gpt2",
    "n_layer": [1, 2, 3],
    "d_model": [64, 96, 128],
    "d_embed": [64],
    "div_val": [1],
    "n_head": [2, 4],
    "d_inner": {"min": 128, "max": 256, "step": 64},
    "n_token": 1000,
    "cutoffs": [200, 500],
}
