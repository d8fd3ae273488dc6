"""Every architecture the default spaces produce builds, with the counted parameters, and runs."""

from __future__ import annotations

import numpy as np
import pytest

from lts.controller.search.operators import sample
from lts.shared.models import build_model, module_param_counts
from lts.shared.params import count_params
from lts.shared.space import default_space

SPACES = [(b, h) for b in ("gpt2", "transxl") for h in (False, True)]


@pytest.mark.parametrize(("backbone", "homogeneous"), SPACES)
def test_a_thousand_samples_build_with_the_counted_parameters(backbone, homogeneous) -> None:
    space = default_space(backbone, homogeneous=homogeneous)
    rng = np.random.default_rng(2)
    for _ in range(1000):
        cfg = sample(space, rng)
        model = build_model(cfg, init="meta")  # the structure, without storage
        assert module_param_counts(model) == count_params(cfg).as_dict(), cfg.canonical_json()


@pytest.mark.parametrize(("backbone", "homogeneous"), SPACES)
def test_samples_run_a_forward_pass_on_cpu(backbone, homogeneous) -> None:
    import torch

    space = default_space(backbone, homogeneous=homogeneous)
    rng = np.random.default_rng(3)
    idx = torch.randint(0, space.n_token, (1, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        cfg = sample(space, rng)
        model = build_model(cfg, init="constant")
        with torch.inference_mode():
            logp = model(idx, output="last")
        assert logp.shape == (1, 1, cfg.n_token)
        assert torch.isfinite(logp).all()
        assert abs(logp.exp().sum().item() - 1.0) < 1e-3
