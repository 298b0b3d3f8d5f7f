"""The data-scarcity study with statistics: does the PDE term reduce the dependence on clean
(labelled) training images?

For every training-set size n in config.study.counts and every seed s in config.study.seeds, the
same n images (a random subset of the pool, drawn with seed s) and the same initialisation and
patch stream (config.seed = s) train the network twice: with the PDE term (config.loss.weights.pde)
and without it (pde = 0); everything else is identical. The left end (config.study.selfsup) is the
network trained on NOISY images only (protocol selfsup: SURE or Noise2Self, zero clean images), on
the pool's noisy images, again with and without the PDE term. Every sub-run is evaluated on the same
fixed noisy held-out test images.

Statistics: per n and series, the mean +/- sample sd (ddof = 1) over seeds of each run's mean test
PSNR; per n a paired comparison over seeds of (with - without): paired t test (scipy.stats.ttest_rel,
two-sided) with its 95 % t interval of the mean difference, Holm-adjusted over the counts
(statsmodels multipletests), and the Wilcoxon signed-rank test (scipy.stats.wilcoxon, exact) where
there are >= 6 seeds (below 6 its smallest two-sided p is 2 / 2^n > 0.05, so it is not reported).
The seed is the unit: test images within one run are not independent replications of training.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from scipy import stats

from vision_jax import noise as noise_lib, report
from vision_jax.config_utils import split_names
from vision_jax.projects.pinn_denoise import claims

SERIES = ("with PDE term", "without PDE term")
MIN_WILCOXON = 6


def pool_key(pool) -> str:
  return hashlib.sha1("".join(im.name for im in pool).encode()
                      + b"".join(np.ascontiguousarray(im.pixels[::8, ::8]).tobytes() for im in pool)).hexdigest()[:8]


def subset_indices(pool_size: int, n: int, seed: int) -> np.ndarray:
  """The n pool indices of seed `seed` (sorted; all of them when n >= pool_size)."""
  if n >= pool_size:
    return np.arange(pool_size)
  return np.sort(np.random.default_rng([20260, int(seed), int(n)]).choice(pool_size, n, replace=False))


def write_subset(images, folder: str) -> None:
  """PNG copies of `images` in folder (8-bit, as the training folders are)."""
  from skimage import io
  tmp = folder + ".tmp"
  os.makedirs(tmp, exist_ok=True)
  for im in images:
    io.imsave(os.path.join(tmp, f"{im.name}.png"), (np.clip(im.pixels[..., 0], 0, 1) * 255).round().astype(np.uint8),
              check_contrast=False)
  os.replace(tmp, folder)


def paired(with_pde: list[float], without: list[float]) -> dict:
  """Paired statistics of with - without over seeds (see the module docstring)."""
  a, b = np.asarray(with_pde, float), np.asarray(without, float)
  d = a - b
  n = len(d)
  out = {"pairs": n, "mean_diff": float(d.mean()), "sd_diff": float(d.std(ddof=1)) if n > 1 else float("nan"),
         "t": float("nan"), "p_t": float("nan"), "ci95": [float("nan"), float("nan")], "p_wilcoxon": None}
  if n > 1 and np.any(d != d[0]):
    t = stats.ttest_rel(a, b)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)
    out.update(t=float(t.statistic), p_t=float(t.pvalue), ci95=[float(d.mean() - half), float(d.mean() + half)])
  elif n > 1:  # identical differences: zero variance
    out.update(p_t=0.0 if d[0] != 0 else 1.0, ci95=[float(d[0])] * 2)
  if n >= MIN_WILCOXON and np.any(d != 0):
    out["p_wilcoxon"] = float(stats.wilcoxon(a, b, method="exact").pvalue)
  return out


def holm(pvalues: list[float]) -> list[float]:
  """Holm-adjusted p values (NaN kept as NaN)."""
  from statsmodels.stats.multitest import multipletests
  p = np.asarray(pvalues, float)
  ok = np.isfinite(p)
  out = np.full_like(p, np.nan)
  if ok.any():
    out[ok] = multipletests(p[ok], method="holm")[1]
  return out.tolist()


def mean_sd(values: list[float]) -> tuple[float, float]:
  v = np.asarray(values, float)
  return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def run_study(config, workdir: str, sub_run) -> str:
  """Trains (or reads back) every cell; writes scarcity.json / .png; returns the markdown section."""
  from vision_jax.data import images as images_lib
  pool = images_lib.load_images(config.data.train_dir or config.data.train, config.data.get("train_max_size") or None)
  counts = sorted({n for n in (int(x) for x in split_names(config.study.counts)) if n <= len(pool)})
  if not counts:
    raise ValueError(f"study.counts={config.study.counts!r} all exceed the {len(pool)} training images available")
  seeds = [int(s) for s in split_names(config.study.seeds)]
  key = pool_key(pool)
  w_pde = float(config.loss.weights.pde)
  base = {"eval.baselines": "", "eval.classical_prior": "", "train.eval_every": 0, "protocol": "heldout"}
  cells: dict = {}  # (n or 0, series) -> [per-seed mean PSNR]
  seconds: list[float] = []
  noisy_psnr = None
  plan = [(s, n) for s in seeds for n in counts]  # seed-major: an interrupted study has whole curves first
  for s, n in plan:
    idx = subset_indices(len(pool), n, s)
    sub = os.path.join(workdir, "_subsets", f"n{n}-s{s}-{key}" if n < len(pool) else f"all{len(pool)}-{key}")
    if not os.path.isdir(sub):
      write_subset([pool[i] for i in idx], sub)
    for label, w in zip(SERIES, (w_pde, 0.0)):
      r = sub_run(config, workdir, f"n{n}-s{s}-pde{w:g}", **base, seed=s, **{"data.train_dir": sub, "loss.weights.pde": w})
      noisy_psnr, psnr, sec = _read(r)
      cells.setdefault((n, label), []).append(psnr)
      seconds.append(sec)
  if config.study.get("selfsup", True):
    sub = os.path.join(workdir, "_subsets", f"all{len(pool)}-{key}")
    if not os.path.isdir(sub):
      write_subset(pool, sub)
    for s in seeds:
      for label, w in zip(SERIES, (w_pde, 0.0)):
        r = sub_run(config, workdir, f"selfsup-s{s}-pde{w:g}", **{**base, "protocol": "selfsup"}, seed=s,
                    **{"data.train_dir": sub, "loss.weights.pde": w})
        noisy_psnr, psnr, sec = _read(r)
        cells.setdefault((0, label), []).append(psnr)
        seconds.append(sec)
  return _write(config, workdir, counts, seeds, cells, noisy_psnr, seconds, len(pool))


def _read(r: dict) -> tuple[float, float, float]:
  label = next(k for k in r if k not in ("_info", "noisy input"))
  info = r.get("_info", {})
  sec = info.get("train_cpu_seconds") or info.get("train_seconds") or 0.0
  return float(np.mean(r["noisy input"]["psnr"])), float(np.mean(r[label]["psnr"])), float(sec)


def summarize(counts, cells: dict) -> list[dict]:
  """One row per size (0 = the self-supervised left end first): means, sds, paired statistics."""
  sizes = ([0] if (0, SERIES[0]) in cells else []) + list(counts)
  rows = []
  for n in sizes:
    a, b = cells[(n, SERIES[0])], cells[(n, SERIES[1])]
    rows.append({"n": n, "with": mean_sd(a), "without": mean_sd(b), "with_values": a, "without_values": b,
                 **paired(a, b)})
  for r, p in zip(rows, holm([r["p_t"] for r in rows])):
    r["p_t_holm"] = p
  return rows


def _fmt_p(p) -> str:
  return "n/a" if p is None or not np.isfinite(p) else f"{p:.3g}"


def _write(config, workdir, counts, seeds, cells, noisy_psnr, seconds, pool_size) -> str:
  rows = summarize(counts, cells)
  verdict = claims.scarcity_verdict(rows)
  table = []
  for r in rows:
    name = f"0 (noisy images only, {config.selfsup.loss})" if r["n"] == 0 else str(r["n"])
    table.append([name, f"{r['with'][0]:.2f} ± {r['with'][1]:.2f}", f"{r['without'][0]:.2f} ± {r['without'][1]:.2f}",
                  f"{r['mean_diff']:+.2f} [{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]", _fmt_p(r["p_t"]),
                  _fmt_p(r["p_t_holm"]), _fmt_p(r["p_wilcoxon"])])
  _plot(os.path.join(workdir, "scarcity.png"), rows, noisy_psnr, config)
  report.write_json(os.path.join(workdir, "scarcity.json"),
                    {"counts": counts, "seeds": seeds, "noisy input": noisy_psnr, "rows": rows, "verdict": verdict,
                     "train_seconds_total": float(np.sum(seconds)), "pool_size": pool_size})
  lines = [
      "# Does the PDE term reduce the dependence on clean training images?", "",
      f"{config.backbone}-{config.prior}, {noise_lib.noise_label(config.noise)}, {config.train.steps} steps of "
      f"{config.data.batch_size} x {config.data.patch_size}^2 patches per run, seeds {', '.join(map(str, seeds))} "
      f"(subset of the {pool_size}-image pool and initialisation per seed; the same for both series). Held-out PSNR "
      f"(dB) on `{config.eval.data_dir or config.data.test}`, mean ± sd over seeds; noisy input {noisy_psnr:.2f} dB.",
      "", report.markdown_table(["clean training images", "with PDE term", "without PDE term",
                                 "with - without [95% t CI]", "paired t p", "Holm p", "Wilcoxon p"], table), "",
      f"Paired over seeds (same images and initialisation); Wilcoxon signed-rank only with >= {MIN_WILCOXON} seeds "
      "(its smallest two-sided p is 2/2^n). Training CPU time of all runs: "
      f"{np.sum(seconds) / 60:.1f} min. Figure: scarcity.png (mean ± sd).", "",
      f"**Claim ({claims.SCARCITY_SOURCE}): \"{claims.SCARCITY_CLAIM}\". Verdict: {verdict}**", ""]
  return "\n".join(lines)


def _plot(path: str, rows: list[dict], noisy_psnr: float, config) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  sized = [r for r in rows if r["n"] > 0]
  left = [r for r in rows if r["n"] == 0]
  xs = np.array([r["n"] for r in sized], float)
  x0 = xs.min() / 2.5 if len(xs) else 0.4
  for j, (label, key, color) in enumerate(((SERIES[0], "with", "C0"), (SERIES[1], "without", "C1"))):
    shift = 1.0 + 0.04 * (2 * j - 1)  # side by side on the log axis
    ax.errorbar(xs * shift, [r[key][0] for r in sized], yerr=[r[key][1] for r in sized], marker="o", capsize=3,
                color=color, label=label)
    if left:
      ax.errorbar([x0 * shift], [left[0][key][0]], yerr=[left[0][key][1]], marker="s", capsize=3, color=color,
                  ls="none")
  ax.axhline(noisy_psnr, color="gray", ls="--", lw=1, label="noisy input")
  ax.set_xscale("log")
  ticks = ([x0] if left else []) + list(xs)
  ax.set_xticks(ticks)
  ax.set_xticklabels((["0\n(noisy only)"] if left else []) + [f"{int(x)}" for x in xs])
  ax.set_xlabel("clean training images")
  ax.set_ylabel("held-out PSNR (dB), mean ± sd over seeds")
  ax.set_title(f"{config.backbone}-{config.prior}, {noise_lib.noise_label(config.noise)}", fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
