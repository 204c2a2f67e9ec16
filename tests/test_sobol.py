"""Sobol' indices: the estimators on the Ishigami function (known indices), agreement with SALib
on the same sample matrices, and a small run of the real model with ``sensitivity.sobol=true``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sensitivity_scenarios import config, linear_cash, recoup_given, spec

from mcengine import plot, report
from mcengine.api import simulate
from mcengine.sensitivity import saltelli_scores, sobol_estimates, sobol_indices
from mcengine.sobol_results import model_sobol

ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])
NAMES = ("x1", "x2", "x3")


def ishigami(x, a=7.0, b=0.1):
    return np.sin(x[0]) + a * np.sin(x[1]) ** 2 + b * x[2] ** 4 * np.sin(x[0])


def _design(n: int, seed: int = 1):
    """Ishigami outputs on Saltelli's A, B, AB_i drawn by mcengine's own design function."""
    with jax.enable_x64(True):
        A, B = saltelli_scores(NAMES, seed, n, jnp.float64)
        to_x = lambda z: -np.pi + 2 * np.pi * np.asarray(jax.scipy.special.ndtr(z))  # noqa: E731
        xa, xb = to_x(A), to_x(B)
    xab = [xa.copy() for _ in NAMES]
    for i in range(len(NAMES)):
        xab[i][i] = xb[i]
    return ishigami(xa), ishigami(xb), np.stack([ishigami(x) for x in xab])


@pytest.fixture(scope="module")
def ishigami_outputs():
    return _design(1 << 14)


def test_ishigami_known_indices(ishigami_outputs):
    conf = 0.99
    s = sobol_indices(*ishigami_outputs, n_boot=300, conf=conf, seed=3)
    z = stats.norm.ppf(0.5 + conf / 2)
    for kind, truth in (("first", ISHIGAMI_S1), ("total", ISHIGAMI_ST)):
        est, lo, hi = s[kind], s[f"{kind}_lo"], s[f"{kind}_hi"]
        assert np.all(lo <= est) and np.all(est <= hi)
        # the bootstrap interval's half-width is z SEs: the estimate is within 4 of them
        se = (hi - lo) / (2 * z)
        assert np.all(np.abs(est - truth) <= 4 * se), (kind, est, se)
        # and those SEs are the estimator's: N = 2^14 rows give SEs of about 0.003-0.011
        assert np.all(se < 0.02), (kind, se)


def test_estimator_agrees_with_salib(ishigami_outputs):
    from SALib.analyze import sobol as salib_sobol

    yA, yB, yAB = ishigami_outputs
    # SALib's ordering (calc_second_order=False): per row j, [A_j, AB_1j, ..., AB_kj, B_j]
    Y = np.column_stack([yA, *yAB, yB]).ravel()
    problem = {"num_vars": 3, "names": list(NAMES), "bounds": [[-np.pi, np.pi]] * 3}
    ref = salib_sobol.analyze(problem, Y, calc_second_order=False, num_resamples=10, seed=1)
    first, total = sobol_estimates(yA, yB, yAB)
    np.testing.assert_allclose(first, ref["S1"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(total, ref["ST"], rtol=1e-9, atol=1e-12)


def test_constant_output_gives_zero():
    first, total = sobol_estimates(np.ones(8), np.ones(8), np.ones((2, 8)))
    assert np.all(first == 0) and np.all(total == 0)


def _exact_indices(a, b, c, g_box, p_box) -> dict[str, np.ndarray]:
    """First and total indices of (gpu_price, price0) ~ independent uniforms for NPV = a_T +
    b_T g + c_T p (additive: first = total = share of variance) and for the recoup indicator
    1{p >= p*(g)} (integrals over the box on a midpoint grid)."""
    var = lambda box: (box[1] - box[0]) ** 2 / 12  # noqa: E731
    parts = np.array([b[-1] ** 2 * var(g_box), c[-1] ** 2 * var(p_box)])
    npv = parts / parts.sum()
    given_g, given_p = recoup_given(a, b, c, g_box, p_box)
    total_var = given_g.mean() * (1 - given_g.mean())
    first = np.array([given_g.var(), given_p.var()]) / total_var
    total = np.array([(given_p * (1 - given_p)).mean(), (given_g * (1 - given_g)).mean()])
    return {"npv": (npv, npv), "recoup": (first, total / total_var)}


def test_real_model_sobol_run(tmp_path):
    """Deterministic scenario, NPV and every month's cash linear in (gpu_price, price0) (tax
    off; hand model): the indices are known exactly (``_exact_indices``); the estimates must be
    within 4 SEs read off their bootstrap intervals."""
    g_box, p_box = (30_000.0, 44_000.0), (2.0, 5.0)
    cfg = config(
        {
            "fleet.gpu_price": spec("uniform", low=g_box[0], high=g_box[1]),
            "market.price0": spec("uniform", low=p_box[0], high=p_box[1]),
        },
        n_samples=1024,
        precision="float64",
        **{"sensitivity.sobol": "true", "sensitivity.sobol_samples": 2048},
    )
    ds = simulate(cfg)
    for name in ("sobol_first", "sobol_total"):
        for suffix in ("", "_lo", "_hi"):
            assert ds[name + suffix].dims == ("output", "input")
    assert list(ds.output.values) == ["npv", "recoup"]
    assert list(ds.input.values) == ["fleet.gpu_price", "market.price0"]
    assert ds.attrs["sobol_evaluations"] == 2048 * 4
    a, b, c = linear_cash(cfg, "fleet.gpu_price", g_box, "market.price0", p_box)
    z = stats.norm.ppf(0.5 + ds.attrs["sobol_conf_level"] / 2)
    for output, (first, total) in _exact_indices(a, b, c, g_box, p_box).items():
        for kind, want in (("first", first), ("total", total)):
            var = ds[f"sobol_{kind}"].sel(output=output)
            lo, hi = (ds[f"sobol_{kind}_{e}"].sel(output=output).values for e in ("lo", "hi"))
            assert np.all((lo <= var.values) & (var.values <= hi))
            se = (hi - lo) / (2 * z)
            assert np.all(np.abs(var.values - want) <= 4 * se), (output, kind, var.values, want)
    assert np.all(ds.sobol_group.values == -1)
    # a run with Sobol' indices is still a single run for the plots and the report
    assert plot.swept_dims(ds) == []
    report.write_report(ds, tmp_path)
    assert (tmp_path / "fan_chart.png").is_file() and (tmp_path / "report.html").is_file()


def test_correlated_inputs_share_group_indices():
    """Inputs tied by the copula are swapped together: each member reports the group's joint
    indices, labelled by ``sobol_group``; the uncorrelated input gets its own."""
    from mcengine.config import to_plain
    from mcengine.model.spec import ModelSpec

    cfg = config(
        {
            "fleet.gpu_price": spec("uniform", low=30_000, high=44_000),
            "market.price0": spec("uniform", low=2, high=5),
            "demand.utilization0": spec("uniform", low=0.5, high=0.8),
        },
        correlations="[[market.price0,demand.utilization0,0.5]]",
    )
    ds = model_sobol(ModelSpec.from_config(to_plain(cfg)), n=512, n_boot=50)
    assert ds.attrs["sobol_evaluations"] == 512 * 4  # A, B, one group swap, gpu_price swap
    group = ds.sobol_group.to_series()
    assert group["fleet.gpu_price"] == -1
    assert group["market.price0"] == group["demand.utilization0"] >= 0
    for name in ("sobol_first", "sobol_total"):
        np.testing.assert_array_equal(
            ds[name].sel(input="market.price0"), ds[name].sel(input="demand.utilization0")
        )
    npv = ds.sel(output="npv")
    assert float(npv.sobol_total.sel(input="market.price0")) > float(
        npv.sobol_total.sel(input="fleet.gpu_price")
    )


def test_first_order_index_excludes_interaction_with_the_monthly_shocks():
    """One uncertain input (price0) that interacts with the price shocks (volatility 0.4):
    ``sobol_first`` must be the classic main effect Var(E[NPV | price0]) / Var(NPV), checked
    against a nested Monte Carlo reference (64 stratified price0 values x 2,048 independent
    shock paths each); ``sobol_total`` also holds the interaction, so it is clearly larger."""
    from scipy.special import ndtri

    from mcengine.config import to_plain
    from mcengine.model.kernel import simulate as kernel_simulate
    from mcengine.model.spec import ModelSpec

    cfg = config(
        {"market.price0": spec("uniform", low=1.5, high=3.5)},
        **{"market.price_volatility": 0.4},
    )
    model = ModelSpec.from_config(to_plain(cfg))
    K, M = 64, 2048
    run = jax.jit(lambda s, i: kernel_simulate(model, 0, i, jnp.float32, None, scores=s)[0].npv)
    ys = []
    for k in range(K):  # price0 at the k-th stratum midpoint; shocks of futures 10^6 + k M + j
        index = jnp.arange(k * M, (k + 1) * M, dtype=jnp.uint32) + 10**6
        score = jnp.full((1, M), ndtri((k + 0.5) / K), jnp.float32)
        ys.append(np.asarray(run(score, index), np.float64))
    ys = np.stack(ys)
    means, inner = ys.mean(axis=1), ys.var(axis=1, ddof=1)
    V = ys.var()
    # price0 at fixed stratum midpoints: the variance of E[NPV | price0] over them (ddof=0), less
    # what the means' own noise adds to it on average
    ref = (means.var() - (K - 1) / K * inner.mean() / M) / V
    # error of the reference: the stratum means' sampling noise through the variance estimate
    ref_se = np.sqrt(np.sum(4 * (means - means.mean()) ** 2 * inner / M)) / K / V

    npv = model_sobol(model, n=1 << 14, n_boot=200).sel(output="npv", input="market.price0")
    first, total = float(npv.sobol_first), float(npv.sobol_total)
    first_se = float(npv.sobol_first_hi - npv.sobol_first_lo) / (2 * 1.96)
    total_se = float(npv.sobol_total_hi - npv.sobol_total_lo) / (2 * 1.96)
    assert abs(first - ref) <= 4 * np.hypot(first_se, ref_se)
    # the test has power: the interaction share (ST - S1 ~ 0.05, which the old design with
    # shared shocks put into S1) is clearly resolved
    assert total - ref > 4 * np.sqrt(first_se**2 + ref_se**2 + total_se**2)


def _imports(path):
    """(line, module) of every import in ``path``, relative imports as written (``..results``)."""
    import ast

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, "." * node.level + (node.module or "")


def test_kernel_packages_build_no_xarray():
    """Layers are one-way (docs/architecture.md): the kernel packages import neither xarray nor
    the I/O and app layers; the Sobol' Dataset is built in ``mcengine.sobol_results``."""
    from pathlib import Path

    import mcengine.sensitivity

    banned = {"xarray", "hydra", "omegaconf", "..results", "..sobol_results", "..api", "..cli"}
    banned |= {"..config", "..callbacks", "..plot", "..report", "..sweep"}
    root = Path(mcengine.sensitivity.__file__).parent.parent
    for package in ("sensitivity", "distributions"):
        for path in sorted((root / package).glob("*.py")):
            for line, module in _imports(path):
                assert not any(module == b or module.startswith(b + ".") for b in banned), (
                    f"{package}/{path.name}:{line} imports {module}"
                )
