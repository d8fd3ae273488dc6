"""How well a proxy ranks trained models: Spearman rank correlation and the common ratio.

Both measures are oriented so that a better proxy scores higher:

* :func:`spearman` is the Spearman rank correlation coefficient (SRC) between the proxy and
  ``-valid_ppl`` (the score negated first when lower scores are better), so +1 means the proxy
  orders the models exactly as their perplexity does, best first.
* :func:`common_ratio` is the paper's CR for the top k%: of the ``ceil(k% of n)`` models with
  the lowest perplexity, the fraction that are also among the ``ceil(k% of n)`` best by the
  proxy. Ties are broken by row order (a stable sort), so the result is deterministic.

:func:`evaluate_proxy` computes one proxy for every row of a table and reports those
measures, the time spent and the rows that failed (with the reason), never dropping a row
silently. This module does not import torch; low-cost proxies import it when they run.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lts.controller.proxies import Proxy
from lts.controller.tables import TableRow

logger = logging.getLogger(__name__)

#: The top-k% levels the paper reports the common ratio at.
CR_LEVELS: tuple[int, ...] = tuple(range(10, 101, 10))


def _oriented(scores: Sequence[float], higher_is_better: bool) -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    return values if higher_is_better else -values


def _check_lengths(scores: Sequence[float], valid_ppl: Sequence[float]) -> None:
    if len(scores) != len(valid_ppl):
        raise ValueError(f"{len(scores)} scores but {len(valid_ppl)} perplexities")


def spearman(
    scores: Sequence[float], valid_ppl: Sequence[float], *, higher_is_better: bool = True
) -> float:
    """SRC of the proxy with ``-valid_ppl`` (a perfect proxy gives +1).

    NaN when fewer than two models are given or either side is constant.
    """
    from scipy.stats import spearmanr

    _check_lengths(scores, valid_ppl)
    if len(scores) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns nan
        rho = spearmanr(_oriented(scores, higher_is_better), -np.asarray(valid_ppl, float))[0]
    return float(rho)


def top_count(n: int, k_percent: int) -> int:
    """How many models the top ``k_percent``% of ``n`` holds: ``ceil(n * k / 100)``."""
    if not 0 < k_percent <= 100:
        raise ValueError(f"k must be in (0, 100], got {k_percent}")
    return -(-n * k_percent // 100)


def common_ratio(
    scores: Sequence[float],
    valid_ppl: Sequence[float],
    k_percent: int,
    *,
    higher_is_better: bool = True,
) -> float:
    """Fraction of the top-k% models by perplexity that are also top-k% by the proxy.

    Top by perplexity: lowest ``valid_ppl``; top by proxy: highest score (lowest when
    ``higher_is_better`` is false). NaN for an empty input.
    """
    _check_lengths(scores, valid_ppl)
    n = len(scores)
    if n == 0:
        return math.nan
    m = top_count(n, k_percent)
    by_truth = np.argsort(np.asarray(valid_ppl, dtype=float), kind="stable")[:m]
    by_proxy = np.argsort(-_oriented(scores, higher_is_better), kind="stable")[:m]
    return len(set(by_truth.tolist()) & set(by_proxy.tolist())) / m


def common_ratios(
    scores: Sequence[float],
    valid_ppl: Sequence[float],
    *,
    higher_is_better: bool = True,
    levels: Sequence[int] = CR_LEVELS,
) -> dict[int, float]:
    """:func:`common_ratio` at every level in ``levels`` (default k = 10, 20, ..., 100)."""
    return {
        k: common_ratio(scores, valid_ppl, k, higher_is_better=higher_is_better) for k in levels
    }


@dataclass
class ProxyEvaluation:
    """One proxy evaluated on one table.

    ``scores`` has one entry per table row (None where the row failed); ``failures`` lists
    ``(row id, reason)`` for each failed row; ``seconds`` is the wall time spent inside the
    proxy calls. ``spearman`` and ``common_ratio`` use the rows that did not fail.
    """

    name: str
    higher_is_better: bool
    scores: list[float | None]
    valid_ppl: list[float | None]
    seconds: float
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def _paired(self) -> tuple[list[float], list[float]]:
        pairs = [
            (s, p)
            for s, p in zip(self.scores, self.valid_ppl, strict=True)
            if s is not None and p is not None
        ]
        return [s for s, _ in pairs], [p for _, p in pairs]

    @property
    def spearman(self) -> float:
        scores, ppl = self._paired()
        return spearman(scores, ppl, higher_is_better=self.higher_is_better)

    @property
    def common_ratio(self) -> dict[int, float]:
        scores, ppl = self._paired()
        return common_ratios(scores, ppl, higher_is_better=self.higher_is_better)


def _row_problem(row: TableRow) -> str | None:
    """Why ``row`` cannot be scored at all, or None."""
    if row.arch is None:
        return f"invalid architecture: {row.error}"
    ppl = row.valid_ppl
    if not isinstance(ppl, int | float) or isinstance(ppl, bool) or not math.isfinite(ppl):
        return f"no finite valid_ppl (got {ppl!r})"
    return None


def evaluate_proxy(
    proxy: Proxy,
    rows: Sequence[TableRow],
    *,
    on_row: Callable[[], None] | None = None,
    **opts: object,
) -> ProxyEvaluation:
    """Score every row with ``proxy`` (``opts`` are passed on) and collect the failures.

    A row fails when its architecture is invalid, it has no finite ``valid_ppl``, the proxy
    raises, or the score is not finite; the reason is kept (and logged at INFO).
    """
    scores: list[float | None] = []
    ppls: list[float | None] = []
    failures: list[tuple[str, str]] = []
    seconds = 0.0
    for row in rows:
        score: float | None = None
        problem = _row_problem(row)
        if problem is None:
            assert row.arch is not None
            start = time.perf_counter()
            try:
                value = float(proxy.fn(row.arch, **opts))
            except Exception as exc:  # a proxy failing on one model must not stop the table
                problem = f"{proxy.name} failed: {type(exc).__name__}: {exc}"
            else:
                if math.isfinite(value):
                    score = value
                else:
                    problem = f"{proxy.name} gave a non-finite score ({value})"
            seconds += time.perf_counter() - start
        if problem is not None:
            logger.info("row %s (%s): %s", row.index, row.id, problem)
            failures.append((row.id, problem))
        scores.append(score)
        ppl = row.valid_ppl if score is not None else None  # set (and finite) where scored
        ppls.append(None if ppl is None else float(ppl))
        if on_row is not None:
            on_row()
    return ProxyEvaluation(proxy.name, proxy.higher_is_better, scores, ppls, seconds, failures)


def evaluation_dict(evaluation: ProxyEvaluation) -> dict[str, object]:
    """The JSON form used by ``controller proxy-eval --json`` (NaN becomes null)."""

    def num(x: float) -> float | None:
        return None if math.isnan(x) else round(x, 6)

    return {
        "spearman": num(evaluation.spearman),
        "common_ratio": {str(k): num(v) for k, v in evaluation.common_ratio.items()},
        "seconds": round(evaluation.seconds, 4),
        "failed": evaluation.failed,
    }
