"""``JointInputs``: all uncertain inputs of a scenario, correlated by a Gaussian copula."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..random import Seed, normals, stream_key
from .copula import PSD_TOL, cholesky_psd, min_eigenvalue, non_psd_subsets, spearman_to_pearson
from .families import Distribution
from .parse import from_spec
from .spec import as_float, fail, plain, suggest

__all__ = ["JointInputs"]

Group = tuple[tuple[int, ...], tuple[tuple[float, ...], ...]]  # input indices, Cholesky rows


@dataclass(frozen=True)
class JointInputs:
    """Uncertain inputs (sorted ``paths``), their constants and the copula factor per group.

    Input ``i`` of future ``j`` is ``dists[i].from_normal(z[i, j])``; ``z = L @ raw`` within each
    group of mutually correlated inputs, ``raw[i] = normals(stream_key(seed, paths[i]), j)``.
    """

    paths: tuple[str, ...]
    dists: tuple[Distribution, ...]
    constant_items: tuple[tuple[str, float], ...]
    correlations: tuple[tuple[str, str, float], ...]
    groups: tuple[Group, ...]

    @property
    def constants(self) -> dict[str, float]:
        return dict(self.constant_items)

    @property
    def distributions(self) -> dict[str, Distribution]:
        return dict(zip(self.paths, self.dists, strict=True))

    @classmethod
    def build(
        cls,
        specs: Mapping[str, Any],
        correlations: Sequence[Sequence[Any]] | None = None,
        correlations_path: str = "correlations",
        fixed: Sequence[str] = (),
    ) -> JointInputs:
        """Validate ``specs`` (path → spec) and rank ``correlations`` ``[[a, b, rho], ...]``.

        ``fixed``: names of other parameters given as plain numbers (for error messages)."""
        dists: dict[str, Distribution] = {}
        consts: dict[str, float] = {}
        for path in sorted(specs):
            d = from_spec(specs[path], str(path))
            if d.is_constant:
                consts[path] = float(d.mean)
            else:
                dists[path] = d
        paths = tuple(dists)
        fixed_names = {**dict.fromkeys(fixed, 0.0), **consts}
        pairs = _parse_correlations(
            plain(correlations) or [], correlations_path, paths, fixed_names
        )
        return cls(
            paths,
            tuple(dists.values()),
            tuple(consts.items()),
            pairs,
            _groups(paths, pairs, correlations_path),
        )

    def normal_scores(
        self, seed: Seed, index: jax.Array, dtype=jnp.float32, raw: jax.Array | None = None
    ) -> jax.Array:
        """Correlated standard-normal scores, shape ``(len(paths), *index.shape)``.

        ``raw`` (k, ...): uncorrelated scores to correlate instead of drawing them (e.g. from
        ``mcengine.sampling.raw_normal_scores`` for antithetic or Sobol' sampling).
        """
        index = jnp.asarray(index, jnp.uint32)
        if raw is None:
            raw = [normals(stream_key(seed, p), index, 0, 1, dtype)[0] for p in self.paths]
        else:
            raw = [jnp.asarray(raw[i], dtype) for i in range(len(self.paths))]
        z = list(raw)
        for members, rows in self.groups:
            for i, row in enumerate(rows):
                acc = None
                for j, c in enumerate(row[: i + 1]):
                    if c == 0.0:
                        continue
                    term = raw[members[j]] if c == 1.0 else jnp.asarray(c, dtype) * raw[members[j]]
                    acc = term if acc is None else acc + term
                z[members[i]] = acc if acc is not None else jnp.zeros_like(raw[members[i]])
        if not z:
            return jnp.zeros((0, *index.shape), dtype)
        return jnp.stack(z)

    def transform(self, z: jax.Array) -> dict[str, jax.Array]:
        """Map scores ``z`` (k, ...) to input values, path → array."""
        return {
            p: d.from_normal(z[i])
            for i, (p, d) in enumerate(zip(self.paths, self.dists, strict=True))
        }

    def sample(self, seed: Seed, index: jax.Array, dtype=jnp.float32) -> dict[str, jax.Array]:
        """Input values of futures ``index`` under run ``seed``, path → array."""
        return self.transform(self.normal_scores(seed, index, dtype))


def _parse_correlations(
    entries: Any, cpath: str, paths: tuple[str, ...], consts: Mapping[str, float]
) -> tuple[tuple[str, str, float], ...]:
    if not isinstance(entries, list):
        fail(
            cpath,
            f"expected a list of [path_a, path_b, rho] triples, got {entries!r}",
            "write correlations: [[market.price0, demand.utilization0, -0.4]]",
        )
    out: list[tuple[str, str, float]] = []
    seen: dict[frozenset[str], int] = {}
    for i, e in enumerate(entries):
        p = f"{cpath}[{i}]"
        if not isinstance(e, list) or len(e) != 3:
            fail(
                p,
                f"expected [path_a, path_b, rho], got {e!r}",
                "write e.g. [fleet.gpu_price, market.price0, 0.5]",
            )
        a, b, rho = e
        for name in (a, b):
            if not isinstance(name, str):
                fail(p, f"{name!r} is not a parameter path", "write e.g. market.price0")
            if name in consts:
                fail(
                    p,
                    f"'{name}' is a constant, not an uncertain input, so it cannot be correlated",
                    f"give {name} a distribution or remove this correlation (on the command "
                    f"line: correlations=[] drops them all)",
                )
            if name not in paths:
                fail(
                    p,
                    f"unknown input '{name}'",
                    suggest(str(name), paths) + "uncertain inputs: " + (", ".join(paths) or "none"),
                )
        if a == b:
            fail(p, f"correlates '{a}' with itself", "name two different inputs")
        r = as_float(rho)
        if r is None or not math.isfinite(r) or not -1.0 <= r <= 1.0:
            fail(
                p,
                f"rank correlation {rho!r} is not a number in [-1, 1]",
                "use a value between -1 and 1",
            )
        key = frozenset((a, b))
        if key in seen:
            fail(
                p,
                f"duplicate correlation for the pair ({a}, {b}), "
                f"already given at {cpath}[{seen[key]}]",
                "give each pair once",
            )
        seen[key] = i
        out.append((a, b, r))
    return tuple(out)


def _groups(
    paths: tuple[str, ...], pairs: tuple[tuple[str, str, float], ...], cpath: str
) -> tuple[Group, ...]:
    pos = {p: i for i, p in enumerate(paths)}
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b, _ in pairs:
        parent[root(pos[a])] = root(pos[b])
    comps: dict[int, list[int]] = {}
    for i in range(len(paths)):
        comps.setdefault(root(i), []).append(i)
    groups = []
    for members in sorted(comps.values()):
        if len(members) < 2:
            continue
        local = {m: k for k, m in enumerate(members)}
        r = np.eye(len(members))
        for a, b, rho in pairs:
            if pos[a] in local:
                ia, ib = local[pos[a]], local[pos[b]]
                r[ia, ib] = r[ib, ia] = spearman_to_pearson(rho)
        if min_eigenvalue(r) < -PSD_TOL:
            bad = non_psd_subsets(r)
            desc = (
                "; ".join("{" + ", ".join(paths[members[k]] for k in s) + "}" for s in bad)
                or "{" + ", ".join(paths[m] for m in members) + "}"
            )
            fail(
                cpath,
                "the correlation matrix is not positive semi-definite; these inputs have "
                f"mutually inconsistent correlations: {desc}",
                "weaken one of the correlations within each listed set (e.g. a strongly positive "
                "pair a-b and b-c with a strongly negative a-c cannot coexist)",
            )
        L = cholesky_psd(r)
        groups.append((tuple(members), tuple(tuple(float(x) for x in row) for row in L)))
    return tuple(groups)
