"""The zero-shot SURE tuning of a PDE prior (projects/pinn_denoise/zeroshot.py) and the zero-shot table
(study "zeroshot", zeroshot_table.py).

- Heat flow at AWGN 25: the flow is linear, so its trajectory, the exact Jacobian trace of every step
  and the exact SURE follow from the eigendecomposition of the Neumann Laplacian (NumPy); the SURE
  choice is checked against them and is within 0.3 dB of the oracle choice; the oracle is the true
  best step.
- Speckle: the stabilised image is the unbiased log (checked against scipy's digamma / trigamma,
  value and Monte-Carlo moments), its inverse maps the clean log image back exactly, the oracle's
  score is reproduced by re-running its setting, and the SURE-tuned prior beats the noisy input.
- prior_rows: the SURE row is the same whatever clean image is passed (it never reads one).
- The table: a tiny configs/pinn_denoise/zeroshot.py:small run; every cell is its sub-run's measured
  mean, the SURE-vs-oracle gaps and the check lines are computed from the cells, --mode=report
  rebuilds the same text without touching a sub-run and trains nothing.
"""

import json
import math
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from conftest import load_config
from vision_jax import noise_transforms
from vision_jax.pde import solvers
from vision_jax.projects.pinn_denoise import zeroshot
from vision_jax.tasks.denoise import evaluation, self_supervised


def _synthetic(n=40):
  y, x = np.mgrid[0:n, 0:n] / n
  im = 0.25 + 0.35 * x + 0.1 * np.sin(6 * y)
  im[(x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.05] = 0.85
  im[n // 4:n // 2, n // 8:n // 2 - 2] = 0.15
  return im.astype(np.float32)[..., None]


def _config(prior, noise, steps=40, grid_size=3):
  c = load_config("pinn_denoise", f"small,backbone=dncnn,prior={prior},noise={noise}")
  if noise == "awgn":
    c.noise.sigma = 25.0
  c.sure_tuning.steps = steps
  c.sure_tuning.grid_size = grid_size
  return c


def _psnr(u, clean):
  return float(10 * np.log10(1.0 / np.mean((np.clip(u, 0, 1) - clean) ** 2)))


def _neumann_laplacian(n):
  L = np.diag(np.full(n, -2.0)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
  L[0, 0] = L[-1, -1] = -1.0  # mirrored ghost cell: zero normal derivative
  return L


def test_heat_sure_choice_matches_the_exact_trace_and_is_within_0p3_db_of_the_oracle():
  cfg = _config("heat", "awgn", steps=40)
  grid, dt, fixed = zeroshot.grid_for(cfg)
  assert grid == {} and dt == pytest.approx(0.9 * 0.25)
  clean = _synthetic(40)
  noisy = evaluation.make_noisy([clean], cfg.noise, 3)[0]
  s = self_supervised.stabilize(noisy, cfg.noise)
  assert s.sigma == 25.0 and np.array_equal(np.asarray(s.image), noisy)  # AWGN: identity
  v = np.asarray(s.image, np.float32)
  y = v[..., 0].astype(np.float64)
  n, steps, s2 = y.size, 40, (25.0 / 255) ** 2
  # The explicit heat step is u <- (I + dt (Lx (+) Ly)) u; in the eigenbasis Q of the 1-D Laplacian it is diagonal.
  lam, Q = np.linalg.eigh(_neumann_laplacian(40))
  mult = 1.0 + dt * (lam[:, None] + lam[None, :])
  coef = Q.T @ y @ Q
  ks = np.arange(steps + 1)[:, None, None]
  traj = np.einsum("ip,kpq,jq->kij", Q, mult[None] ** ks * coef[None], Q)
  ours = np.asarray(solvers.solve(jnp.asarray(v[..., 0]), "heat", steps, dt, return_trajectory=True))
  np.testing.assert_allclose(ours, traj, atol=2e-5)  # the solver is this linear map
  trace = np.sum(mult[None] ** ks, axis=(1, 2))  # tr J of k steps, exactly
  diag = np.einsum("ip,kpq,jq->kij", Q**2, mult[None] ** ks, Q**2)  # diag of J_k (for the probe variance)
  frob = np.sum(mult[None] ** (2 * ks), axis=(1, 2))
  exact_sure = np.sum((traj - y) ** 2, axis=(1, 2)) / n - s2 + 2 * s2 * trace / n
  mse = np.mean((traj - clean[..., 0]) ** 2, axis=(1, 2))
  assert np.max(np.abs(exact_sure - mse)) < 0.1 * s2  # exact SURE tracks the true MSE on one image
  best = zeroshot.sure_setting(v, s.sigma, cfg, zeroshot.sure_key(cfg, 0))
  k = best["steps"]
  assert set(best) == {"steps", "score", "dt", "time"} and best["time"] == pytest.approx(k * dt)
  # Its SURE value is the Monte-Carlo estimate of the exact one: within 4 standard errors of 4 Rademacher probes.
  se = 2 * s2 / n * math.sqrt(2 * (frob[k] - np.sum(diag[k] ** 2)) / int(cfg.sure_tuning.probes))
  assert abs(best["score"] - exact_sure[k]) < 4 * se
  assert 1 <= k < steps  # an interior choice: the test is not decided by the grid's ends
  psnr_true = np.array([_psnr(u, clean[..., 0]) for u in traj])
  oracle = zeroshot.oracle_setting(v, clean, s.invert, cfg)
  assert oracle["steps"] == int(np.argmax(psnr_true)) and oracle["score"] == pytest.approx(psnr_true.max(), abs=1e-3)
  assert psnr_true[k] > psnr_true.max() - 0.3  # the target of issue 11
  assert psnr_true[k] > psnr_true[int(np.argmin(exact_sure))] - 0.1  # as good as the exact-trace SURE choice
  den = zeroshot.run_setting(v, best, cfg, s.invert)
  np.testing.assert_allclose(den[..., 0], traj[k], atol=2e-5)
  assert evaluation.score(den, clean)[0] == pytest.approx(psnr_true[k], abs=1e-3)
  # The zero-shot PINN gets the same choice as a diffusion time (tau = steps * dt, at least one step).
  ps = zeroshot.pinn_setting(v, s.sigma, cfg, 0)
  assert ps == {"tau": pytest.approx(max(k * dt, dt)), "steps": k}


def test_stabilised_speckle_is_the_unbiased_log_and_its_inverse_is_consistent():
  cfg = _config("zg", "speckle", steps=40)
  L = float(cfg.noise.looks)
  clean = _synthetic(48)
  noisy = evaluation.make_noisy([clean], cfg.noise, 5)[0]
  s = self_supervised.stabilize(noisy, cfg.noise)
  span = math.log(255.0)
  bias = special.digamma(L) - math.log(L)
  assert bias == pytest.approx(-0.1302, abs=1e-4)  # the known bias of log speckle at L = 4
  floor = noise_transforms.LOG_FLOOR * 1e-2
  np.testing.assert_allclose(np.asarray(s.image), 1 + (np.log(np.maximum(noisy, floor)) - bias) / span, atol=1e-5)
  assert s.sigma == pytest.approx(255 * math.sqrt(special.polygamma(1, L)) / span)
  # The inverse maps the clean image's stabilised value (log x, bias-free) back to x exactly.
  np.testing.assert_allclose(np.asarray(s.invert(jnp.asarray(1 + np.log(clean) / span))), clean, rtol=1e-5)
  # On a flat image the stabilised noise has mean 0 and the stated std (Monte Carlo, 16384 pixels).
  flat = np.full((128, 128, 1), 0.4, np.float32)
  w = np.asarray(self_supervised.stabilize(evaluation.make_noisy([flat], cfg.noise, 6)[0], cfg.noise).image, np.float64)
  sd = s.sigma / 255
  assert abs(w.mean() - (1 + math.log(0.4) / span)) < 4 * sd / math.sqrt(w.size)
  assert w.std() == pytest.approx(sd, rel=0.03)
  # Zero-shot on the stabilised image: step 0 is the bias-corrected noisy image mapped back; the oracle's
  # score is what re-running its setting gives; SURE beats the noisy input and cannot beat the oracle.
  v = np.asarray(s.image, np.float32)
  grid, dt, fixed = zeroshot.grid_for(cfg)
  assert list(grid) == ["K"] and np.allclose(grid["K"], np.geomspace(0.01, 0.4, 3))
  first = {"K": grid["K"][0], "steps": 0, "dt": dt}
  np.testing.assert_allclose(zeroshot.run_setting(v, first, cfg, s.invert)[..., 0], noisy[..., 0] * math.exp(-bias),
                             rtol=1e-4, atol=1e-6)
  oracle = zeroshot.oracle_setting(v, clean, s.invert, cfg)
  assert evaluation.score(zeroshot.run_setting(v, oracle, cfg, s.invert), clean)[0] == pytest.approx(oracle["score"], abs=1e-3)
  best = zeroshot.sure_setting(v, s.sigma, cfg, zeroshot.sure_key(cfg, 0))
  p_sure = evaluation.score(zeroshot.run_setting(v, best, cfg, s.invert), clean)[0]
  p_noisy = evaluation.score(noisy, clean)[0]
  assert best["K"] in grid["K"] and best["steps"] >= 1
  assert p_noisy + 5.0 < p_sure <= oracle["score"] + 1e-3
  assert p_sure > oracle["score"] - 1.5  # an approximation (log-Gamma noise), but not far off


@pytest.mark.parametrize("noise", ["poisson_gaussian", "speckle_amplitude"])
def test_sure_tuned_prior_beats_the_noisy_input_on_the_other_stabilised_kinds(noise):
  """Every noise kind the project supports: the SURE-tuned prior (on the same grid and shape as the
  speckle test, so compiled once) is well above the noisy input and never above its oracle."""
  cfg = _config("zg", noise, steps=40)
  clean = _synthetic(48)
  noisy = evaluation.make_noisy([clean], cfg.noise, 11)[0]
  s = self_supervised.stabilize(noisy, cfg.noise)
  v = np.asarray(s.image, np.float32)
  best = zeroshot.sure_setting(v, s.sigma, cfg, zeroshot.sure_key(cfg, 0))
  oracle = zeroshot.oracle_setting(v, clean, s.invert, cfg)
  p_sure = evaluation.score(zeroshot.run_setting(v, best, cfg, s.invert), clean)[0]
  p_noisy = evaluation.score(noisy, clean)[0]
  assert p_noisy + 3.0 < p_sure <= oracle["score"] + 1e-3
  assert p_sure > oracle["score"] - 1.0


def test_prior_rows_sure_row_never_reads_the_clean_image():
  cfg = _config("zg", "awgn", steps=40, grid_size=3)  # the speckle test's grid and shape: compiled once
  clean = _synthetic(48)
  test = evaluation.TestSet(["synthetic"], [clean], evaluation.make_noisy([clean], cfg.noise, 7))
  other = evaluation.TestSet(["synthetic"], [clean[::-1].copy()], test.noisys)  # another clean image, same input
  rows, settings = zeroshot.prior_rows(cfg, test)
  rows2, settings2 = zeroshot.prior_rows(cfg, other)
  sure_row = "pde:zg tuned by SURE [zero-shot]"
  oracle_row = "pde:zg, parameters chosen on the clean test image [ORACLE]"
  assert set(rows) == {sure_row, oracle_row}
  assert settings[sure_row] == settings2[sure_row]
  np.testing.assert_array_equal(rows[sure_row]["outputs"][0], rows2[sure_row]["outputs"][0])
  assert settings[oracle_row] != settings2[oracle_row]  # the oracle does read it (the control)
  assert rows[sure_row]["psnr"][0] == pytest.approx(evaluation.score(rows[sure_row]["outputs"][0], clean)[0])
  assert rows[sure_row]["psnr"][0] <= rows[oracle_row]["psnr"][0] + 1e-3


def test_tuning_grids_and_config_errors():
  for prior, (lo, hi) in [(p, r) for p, (name, r) in zeroshot.SWEEPS.items() if name]:
    cfg = _config(prior, "awgn", grid_size=4)
    grid, dt, fixed = zeroshot.grid_for(cfg)
    name = zeroshot.SWEEPS[prior][0]
    assert list(grid) == [name] and np.allclose(grid[name], np.geomspace(lo, hi, 4)) and name not in fixed
    limits = [0.9 * solvers.stability_limit(prior, **{**fixed, name: x}) for x in grid[name]]
    assert np.allclose(np.broadcast_to(dt, 4), limits)
    for x in grid[name]:
      assert zeroshot._dt_of(dt, grid, {name: x}) == pytest.approx(0.9 * solvers.stability_limit(prior, **{**fixed, name: x}))
  cfg = _config("zg", "awgn")
  for field, value, message in [("probes", 1, "probes=1 is invalid"), ("dt_fraction", 1.5, "dt_fraction=1.5 is invalid"),
                                ("steps", 0, "steps=0"), ("grid_size", 0, "grid_size=0")]:
    bad = _config("zg", "awgn")
    bad.sure_tuning[field] = value
    with pytest.raises(ValueError, match=re.escape(message)):
      zeroshot.check_tuning_config(bad)
  zeroshot.check_tuning_config(cfg)


# ----------------------------------------------------------------------------- the table
@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
  from vision_jax.projects.pinn_denoise import study
  cfg = load_config("pinn_denoise.zeroshot", "small")
  assert cfg.study.run == "zeroshot" and cfg.study.noises == "awgn:25,speckle"
  root = tmp_path_factory.mktemp("zeroshot_table")
  text = study.train(cfg, str(root))
  return cfg, root, text


def _subrun(folder, name):
  found = [p for p in folder.iterdir() if p.is_dir() and p.name.rsplit("-", 1)[0] == name]
  assert len(found) == 1, [p.name for p in folder.iterdir()]
  return json.loads((found[0] / "results.json").read_text())


def test_zeroshot_table_cells_are_the_sub_runs_measured_means(table_run):
  cfg, root, text = table_run
  folder = root / "zeroshot"
  data = json.loads((folder / "zeroshot.json").read_text())
  assert data["settings"] == ["awgn25", "speckle"]
  table, methods = data["psnr"], data["methods"]
  expected_roles = {"noisy input", "PDE prior tuned by SURE [zero-shot]",
                    "network fitted to each noisy image (PINN, SURE stop) [zero-shot]",
                    "network trained on noisy images only (SURE-trained)",
                    "same prior, parameters chosen on the clean test image [ORACLE]",
                    "network trained on clean images [held-out, supervised]"}
  assert set(table) == expected_roles  # no BM3D in the tiny baselines
  which = {"noisy input": "zeroshot", "PDE prior tuned by SURE [zero-shot]": "zeroshot",
           "network fitted to each noisy image (PINN, SURE stop) [zero-shot]": "zeroshot",
           "same prior, parameters chosen on the clean test image [ORACLE]": "zeroshot",
           "network trained on noisy images only (SURE-trained)": "selfsup",
           "network trained on clean images [held-out, supervised]": "heldout"}
  assert methods["network fitted to each noisy image (PINN, SURE stop) [zero-shot]"] == "dncnn-zg [zero-shot]"
  assert methods["network trained on noisy images only (SURE-trained)"] == \
      "dncnn-zg [SURE-trained, noisy training images only]"
  for tag in ("awgn25", "speckle"):
    subs = {p: _subrun(folder, f"{tag}-{p}") for p in ("zeroshot", "selfsup", "heldout")}
    for role, protocol in which.items():
      assert table[role][tag] == pytest.approx(np.mean(subs[protocol]["methods"][methods[role]]["psnr"]), abs=1e-9)
    # Every sub-run saw the same noisy inputs.
    noisy = [np.mean(s["methods"]["noisy input"]["psnr"]) for s in subs.values()]
    assert max(noisy) - min(noisy) < 1e-9
    assert subs["zeroshot"]["info"]["stop_rule"] == "sure" and subs["selfsup"]["info"]["clean_images_used"] == 0
    assert subs["selfsup"]["info"]["stabilized"] == ("no" if tag == "awgn25" else "yes")
  # The markdown table shows the same numbers.
  for role in expected_roles:
    line = next(l for l in text.splitlines() if l.startswith(f"| {role} |"))
    cells = [float(c) for c in line.strip("|").split("|")[1:]]
    assert cells == pytest.approx([table[role]["awgn25"], table[role]["speckle"]], abs=0.006)


def test_zeroshot_table_gap_and_check_lines_follow_from_the_cells(table_run):
  cfg, root, text = table_run
  data = json.loads((root / "zeroshot" / "zeroshot.json").read_text())
  table, gaps = data["psnr"], data["gaps"]
  sure, oracle = table["PDE prior tuned by SURE [zero-shot]"], table["same prior, parameters chosen on the clean test image [ORACLE]"]
  for tag in ("awgn25", "speckle"):
    assert gaps[tag] == pytest.approx(oracle[tag] - sure[tag], abs=1e-9)
    assert gaps[tag] >= -1e-3  # the oracle picks from the same grid: SURE cannot beat it
  verdict = "met" if gaps["awgn25"] <= 0.3 else "NOT met"
  assert (f"- SURE-tuned prior vs its oracle-tuned self at AWGN: gaps awgn25 {gaps['awgn25']:.2f} dB "
          f"(target <= 0.3 dB: {verdict})") in text
  assert f"- the same gap on the stabilised kinds: speckle {gaps['speckle']:.2f} dB" in text
  noisy = table["noisy input"]
  for role in ("PDE prior tuned by SURE [zero-shot]", "network fitted to each noisy image (PINN, SURE stop) [zero-shot]",
               "network trained on noisy images only (SURE-trained)"):
    above = [t for t in ("awgn25", "speckle") if table[role][t] > noisy[t]]
    line = next(l for l in text.splitlines() if l.startswith(f"- {role}: above the noisy input for "))
    assert line.startswith(f"- {role}: above the noisy input for {len(above)}/2 settings")
    below = [t for t in ("awgn25", "speckle") if t not in above]
    assert line.endswith(f"(not for {', '.join(below)})" if below else "2/2 settings")
  assert sure["awgn25"] > noisy["awgn25"] and sure["speckle"] > noisy["speckle"]  # even at the tiny budget


def test_zeroshot_report_mode_rebuilds_the_table_read_only(table_run):
  from vision_jax.projects.pinn_denoise import study
  cfg, root, text = table_run
  folder = root / "zeroshot"
  before = {p.name: os.stat(p / "results.json").st_mtime_ns for p in folder.iterdir() if p.is_dir()}
  assert len(before) == 6
  assert study.report_mode(cfg, str(root)) == text
  after = {p.name: os.stat(p / "results.json").st_mtime_ns for p in folder.iterdir() if p.is_dir()}
  assert after == before  # nothing retrained, no new sub-run
  other = load_config("pinn_denoise.zeroshot", "small")
  other.study.noises = "awgn:15"
  with pytest.raises(FileNotFoundError, match="has not finished"):
    study.report_mode(other, str(root))
  assert {p.name for p in folder.iterdir() if p.is_dir()} == set(before)
