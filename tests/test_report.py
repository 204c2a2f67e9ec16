"""``mcengine.report``: PNGs, a self-contained ``report.html``, and the ``mcengine-report`` CLI."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from synthetic_results import (  # noqa: E402
    SWEEP_X,
    SWEEP_Y,
    small_run,
    small_run_dir,
    small_sweep,
    small_sweep_dir,
)
from test_plot import assert_png  # noqa: E402

from mcengine import report  # noqa: E402

RUN_PNGS = {
    "fan_chart",
    "breakeven_curve",
    "npv_distribution",
    "waterfall",
    "tornado_npv",
    "tornado_p_recoup",
    "convergence",
}
SWEEP_PNGS = {"sweep_p_recoup", "sweep_npv_mean"}
DATA_URI = re.compile(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'")


def _embedded_images(html_text: str) -> list[np.ndarray]:
    return [
        mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png")
        for data in DATA_URI.findall(html_text)
    ]


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return report.write_report(small_run(), out, sweep=small_sweep())


def test_write_report_writes_pngs_and_html(full_report: Path) -> None:
    assert full_report.name == "report.html"
    pngs = {p.stem for p in full_report.parent.glob("*.png")}
    assert pngs == RUN_PNGS | SWEEP_PNGS
    for stem in pngs:
        assert_png(full_report.parent / f"{stem}.png")


def test_report_is_self_contained(full_report: Path) -> None:
    text = full_report.read_text(encoding="utf-8")
    images = _embedded_images(text)
    assert len(images) == len(RUN_PNGS | SWEEP_PNGS) == text.count("<img ")
    for image in images:
        assert image.shape[0] > 200 and image.shape[1] > 200 and image[..., :3].var() > 0
    # nothing fetched from elsewhere: no links, scripts, stylesheets or remote sources
    assert not re.search(r"(src|href)\s*=\s*['\"](?!data:)", text)
    assert "<script" not in text and "<link" not in text and "@import" not in text


def test_report_headline_numbers(full_report: Path) -> None:
    ds = small_run()
    text = full_report.read_text(encoding="utf-8")
    p, se = float(ds["p_recoup"]), float(ds["p_recoup_se"])
    assert f"{100 * p:.2f}% ± {100 * se:.2f}%" in text
    assert "Break-even month (discounted): median [P10, P90]" in text
    assert "NPV percentiles" in text
    for level in ds["quantile"].values:
        assert f"<th>P{100 * level:g}</th>" in text


def test_report_skips_missing_variables(tmp_path: Path) -> None:
    ds = small_run().drop_vars(["sens_p_recoup", "sens_npv_mean"])
    path = report.write_report(ds, tmp_path)
    assert {p.stem for p in tmp_path.glob("*.png")} == RUN_PNGS - {
        "tornado_npv",
        "tornado_p_recoup",
    }
    assert path.read_text(encoding="utf-8").count("<img ") == len(RUN_PNGS) - 2


def test_cli_on_results_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(small_run_dir(), run_dir)
    assert report.main([str(run_dir / "results.nc")]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").is_file()
    assert {p.stem for p in run_dir.glob("*.png")} == RUN_PNGS


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace ``write_report`` by a recorder, to test how the CLI resolves its PATH."""
    seen: list[tuple] = []

    def fake(ds, out_dir, sweep=None):
        seen.append((ds, Path(out_dir), sweep))
        return Path(out_dir) / "report.html"

    monkeypatch.setattr(report, "write_report", fake)
    return seen


def test_cli_on_run_dir(calls: list[tuple]) -> None:
    assert report.main([str(small_run_dir())]) == 0
    [(ds, out, sweep)] = calls
    assert out == small_run_dir() and sweep is None
    assert float(ds["npv_mean"]) == pytest.approx(float(small_run()["npv_mean"]))


def test_cli_on_sweep_dir(calls: list[tuple], tmp_path: Path) -> None:
    assert report.main([str(small_sweep_dir()), "--out-dir", str(tmp_path)]) == 0
    [(ds, out, sweep)] = calls
    assert out == tmp_path
    jobs = len(list(small_sweep_dir().glob("*/.hydra")))
    assert sweep is not None and sweep.sizes[SWEEP_X] * sweep.sizes[SWEEP_Y] == jobs
    assert not set(ds.dims) & {SWEEP_X, SWEEP_Y}  # one sweep point, as a single run
    assert "sweep point" in ds.attrs["mcengine_sweep_point"]
    assert "config" in ds.attrs and "config" not in ds.data_vars


@pytest.mark.parametrize("name", ["sweep.nc", "renamed.nc"])
def test_cli_on_sweep_file(name: str, calls: list[tuple], tmp_path: Path) -> None:
    """A file written by mcengine-sweep is a sweep, told by its attributes, not its name."""
    from mcengine.sweep import write_sweep

    path = write_sweep(small_sweep_dir(), tmp_path / name)
    assert report.main([str(path), "--out-dir", str(tmp_path / "out")]) == 0
    [(ds, out, sweep)] = calls
    assert out == tmp_path / "out"
    assert sweep is not None and sweep.attrs["sweep_dims"] == [SWEEP_X, SWEEP_Y]
    assert not set(ds.dims) & {SWEEP_X, SWEEP_Y}
    assert "sweep point" in ds.attrs["mcengine_sweep_point"]


def test_report_of_a_sweep_file_draws_the_sweep(tmp_path: Path) -> None:
    from mcengine.sweep import write_sweep

    path = write_sweep(small_sweep_dir(), tmp_path / "sweep.nc")
    ds, sweep, out = report.load_path(path)
    assert out == tmp_path and sweep is not None
    written = report.write_report(ds.drop_vars(["sens_npv_mean", "sens_p_recoup"]), out, sweep)
    assert {p.stem for p in tmp_path.glob("*.png")} == (RUN_PNGS | SWEEP_PNGS) - {
        "tornado_npv",
        "tornado_p_recoup",
    }
    assert written.is_file()


def test_cli_on_run_dir_with_custom_output(calls: list[tuple], tmp_path: Path) -> None:
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("output: foo.nc\n")
    shutil.copy(small_run_dir() / "results.nc", tmp_path / "foo.nc")
    assert report.main([str(tmp_path)]) == 0
    [(ds, out, sweep)] = calls
    assert out == tmp_path and sweep is None
    assert float(ds["npv_mean"]) == pytest.approx(float(small_run()["npv_mean"]))


def _one_line_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mcengine-report: error: ") and err.count("\n") == 1, err
    return err


def test_cli_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert report.main([str(tmp_path / "nope.nc")]) == 2
    assert "no such file or directory" in _one_line_error(capsys)
    assert report.main([str(tmp_path)]) == 2  # an empty directory
    err = _one_line_error(capsys)
    assert "neither a run directory" in err and "nor a multirun directory" in err
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("output: foo.nc\n")
    assert report.main([str(tmp_path)]) == 2  # a run that wrote no results
    assert f"no results in the run directory {tmp_path}: looked for foo.nc" in (
        _one_line_error(capsys)
    )
    (tmp_path / "foo.nc").write_text("not NetCDF")
    assert report.main([str(tmp_path / "foo.nc")]) == 1  # there, but unreadable
    assert f"cannot read {tmp_path / 'foo.nc'} as NetCDF results" in _one_line_error(capsys)
    assert report.main([str(tmp_path)]) == 1  # the same, given the run directory
    assert f"cannot read {tmp_path / 'foo.nc'} as NetCDF results" in _one_line_error(capsys)


# --- the report in a real browser -------------------------------------------------------------

# Appended to a copy of the report (the report itself has no scripts): after load, write each
# image's decoded size and any page errors into the DOM so that --dump-dom shows them.
_PROBE = """
<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const out = document.createElement('pre');
  out.id = 'probe';
  const sizes = Array.from(document.images)
    .map(i => `${i.id}:${i.naturalWidth}x${i.naturalHeight}`);
  out.textContent = JSON.stringify({sizes: sizes, errors: window.__errors});
  document.body.appendChild(out);
});
</script>
"""
_CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    profile = tmp_path / "chromium-profile"
    cmd = [exe, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_chromium(full_report: Path, tmp_path: Path) -> None:
    import json

    probed = tmp_path / "probed.html"
    text = full_report.read_text(encoding="utf-8")
    probed.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    result = _chromium(["--dump-dom", probed.as_uri()], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, "the probe did not run:\n" + result.stdout[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    sizes = dict(s.split(":") for s in probe["sizes"])
    assert set(sizes) == RUN_PNGS | SWEEP_PNGS
    for stem, size in sizes.items():
        width, height = (int(v) for v in size.split("x"))
        assert width > 200 and height > 200, f"{stem} not decoded: {size}"

    shot = tmp_path / "shot.png"
    result = _chromium(
        [f"--screenshot={shot}", "--window-size=1200,2400", full_report.as_uri()], tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert_png(shot, min_px=1000)
