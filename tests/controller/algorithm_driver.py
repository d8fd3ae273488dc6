"""A search driven in its own process against a surrogate, persisting its state and told
history to a JSON file after every tell (for the resume-after-SIGKILL tests).

    python algorithm_driver.py ALGORITHM SEED ITERATIONS POPULATION BACKBONE STATE LOG
        [--kill-at ITERATION]

``STATE`` (JSON: ``{"state": ..., "history": [...]}``) is written atomically after each tell
and read at start if it exists (then the search resumes from it). ``LOG`` gets one line per
iteration asked: the iteration and its proposals' arch ids. ``--kill-at I`` sends SIGKILL to
this process right after iteration I is asked (between ask and tell: mid-iteration).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

from lts.controller.search.algorithms import Bounds, Outcome, Proposal, SearchParams, get_algorithm
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings
from lts.shared.space import default_space
from lts.shared.surrogate import Surrogate

MODEL = {"prefill": {"heads": 0.55, "linear_macs": 3.9e-8, "output_macs": 4.9e-7},
         "decode": {"const": 2.0, "heads": 0.05, "weight_bytes": 2e-9},
         "memory": {"weight_bytes": 1.01, "activation_bytes": 1.25}}  # fmt: skip
SIGMA = {"prefill": 0.1, "decode": 0.1, "memory": 0.02}
SURROGATE = Surrogate({"gpt2": MODEL, "transxl": MODEL}, {"gpt2": SIGMA, "transxl": SIGMA})


def outcome(cfg: ArchConfig, seed: int) -> Outcome | None:
    """The surrogate's noisy answer; every 7th architecture (by id) fails."""
    if int(cfg.arch_id, 16) % 7 == 0:
        return None
    v = SURROGATE.answer(cfg, MeasureSettings(seed=seed))
    return Outcome({"latency": v["prefill"], "memory": v["memory"]})


def main() -> None:
    args = sys.argv[1:]
    kill_at = int(args[args.index("--kill-at") + 1]) if "--kill-at" in args else None
    name, seed, iterations, population, backbone, state_path, log_path = args[:7]
    seed, iterations, population = int(seed), int(iterations), int(population)
    params = SearchParams(iterations=iterations, population=population,
                          parents=max(1, population // 5))  # fmt: skip
    search = get_algorithm(name)(default_space(backbone), params, np.random.default_rng(seed),
                                 bounds=Bounds(max_params=80_000_000))  # fmt: skip
    state_file = Path(state_path)
    history: list[dict] = []
    if state_file.exists():
        saved = json.loads(state_file.read_text())
        history = saved["history"]
        told = [(h["iteration"], Proposal(ArchConfig.from_dict(h["arch"]), h["origin"],
                 tuple(h["parents"])), None if h["values"] is None else Outcome(h["values"]))
                for h in history]  # fmt: skip
        search.load_state(saved["state"], told)
    with open(log_path, "a") as log:
        while not search.done:
            proposals = search.ask()
            log.write(json.dumps([search.iteration, [p.arch_id for p in proposals]]) + "\n")
            log.flush()
            if kill_at is not None and search.iteration == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            outcomes = {p.arch_id: outcome(p.cfg, seed) for p in proposals}
            i = search.iteration
            search.tell({k: v for k, v in outcomes.items() if v is not None})
            history += [{"iteration": i, "arch": p.cfg.to_dict(), "origin": p.origin,
                         "parents": list(p.parents),
                         "values": None if outcomes[p.arch_id] is None
                         else dict(outcomes[p.arch_id].values)} for p in proposals]  # fmt: skip
            tmp = state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"state": search.state_dict(), "history": history}))
            os.replace(tmp, state_file)


if __name__ == "__main__":
    main()
