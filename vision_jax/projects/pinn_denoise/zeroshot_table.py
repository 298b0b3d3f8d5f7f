"""The zero-shot table (study "zeroshot"): denoising without any clean image, per noise setting, on
the same noisy inputs and seeds, next to what a clean image buys.

For every setting in config.study.noises ("awgn:15", "poisson_gaussian", "speckle", ...) three
sub-runs on the same fixed noisy test images (eval.seed):
  * protocol=zeroshot: the zero-shot PINN fit of the network on each noisy image (SURE stop and SURE
    choice of K and tau; zeroshot.stop), the PDE prior itself tuned by SURE [zero-shot], the same
    prior with parameters chosen on the clean test image [ORACLE], and the baselines (BM3D, ...);
  * protocol=selfsup: the network trained by SURE on noisy training images only;
  * protocol=heldout: the same network trained supervised on the clean training images.
The table reports mean PSNR per method and setting, the SURE-vs-oracle gap of the prior (target
<= 0.3 dB at AWGN) and, for each zero-shot method, whether it beats the noisy input.
"""

from __future__ import annotations

import os

import numpy as np

from vision_jax import noise as noise_lib, report
from vision_jax.config_utils import split_names

TARGET_GAP_DB = 0.3


def parse_settings(text: str) -> list[tuple[str, dict]]:
  """[(tag, {dotted noise fields})] from 'awgn:15,awgn:25,poisson_gaussian,speckle,speckle_amplitude'."""
  out = []
  for item in split_names(text):
    kind, _, level = item.partition(":")
    if kind not in noise_lib.NOISE_MODELS:
      raise ValueError(f"study.noises item {item!r} is invalid; expected KIND[:SIGMA] with KIND in "
                       f"{', '.join(noise_lib.NOISE_MODELS)}")
    fields = {"noise.kind": kind}
    if level:
      if kind != "awgn":
        raise ValueError(f"study.noises item {item!r} is invalid; a level after ':' is the AWGN sigma")
      try:
        fields["noise.sigma"] = float(level)
      except ValueError:
        raise ValueError(f"study.noises item {item!r} is invalid; expected awgn:SIGMA with a number") from None
    out.append((item.replace(":", ""), fields))
  if not out:
    raise ValueError(f"study.noises={text!r} is empty; expected e.g. 'awgn:25,speckle'")
  return out


def _mean(r: dict) -> float:
  return float(np.mean(r["psnr"]))


def _role(method: str) -> str | None:
  if method == "noisy input":
    return "noisy input"
  if "tuned by SURE [zero-shot]" in method:
    return "PDE prior tuned by SURE [zero-shot]"
  if "[ORACLE]" in method:
    return "same prior, parameters chosen on the clean test image [ORACLE]"
  if "[zero-shot]" in method:
    return "network fitted to each noisy image (PINN, SURE stop) [zero-shot]"
  if "noisy training images only" in method:
    return "network trained on noisy images only (" + method.split("[")[1].split(",")[0] + ")"
  if "[held-out]" in method and "self-ensemble" not in method:
    return "network trained on clean images [held-out, supervised]"
  if method == "bm3d":
    return "BM3D (sigma known / equivalent)"
  return None


ZERO_SHOT_ROLES = ("PDE prior tuned by SURE [zero-shot]", "network fitted to each noisy image (PINN, SURE stop) [zero-shot]")


def run_table(config, workdir: str, sub_run) -> str:
  settings = parse_settings(config.study.noises)
  quiet = {"eval.baselines": "", "eval.classical_prior": ""}
  table: dict = {}  # role -> {tag: mean psnr}
  names: dict = {}
  for tag, fields in settings:
    runs = [sub_run(config, workdir, f"{tag}-zeroshot", protocol="zeroshot", **fields),
            sub_run(config, workdir, f"{tag}-selfsup", protocol="selfsup", **fields, **quiet),
            sub_run(config, workdir, f"{tag}-heldout", protocol="heldout", **fields, **quiet)]
    for r in runs:
      for method, res in r.items():
        role = _role(method) if method != "_info" else None
        if role is not None and (role != "noisy input" or tag not in table.get(role, {})):
          table.setdefault(role, {})[tag] = _mean(res)
          names.setdefault(role, method)
  tags = [t for t, _ in settings]
  order = ["noisy input", *ZERO_SHOT_ROLES] + [r for r in table if r.startswith("network trained on noisy")] + [
      "same prior, parameters chosen on the clean test image [ORACLE]", "network trained on clean images [held-out, supervised]",
      "BM3D (sigma known / equivalent)"]
  order = [r for r in dict.fromkeys(order) if r in table]
  rows = [[role] + [table[role].get(t, float("nan")) for t in tags] for role in order]
  noisy = table["noisy input"]
  zero_shot = [r for r in order if r in ZERO_SHOT_ROLES or r.startswith("network trained on noisy")]
  checks = []
  for role in zero_shot:
    below = [t for t in tags if not table[role].get(t, -np.inf) > noisy[t]]
    checks.append(f"- {role}: above the noisy input for {len(tags) - len(below)}/{len(tags)} settings"
                  + (f" (not for {', '.join(below)})" if below else ""))
  gaps = {}
  sure_row, oracle_row = "PDE prior tuned by SURE [zero-shot]", "same prior, parameters chosen on the clean test image [ORACLE]"
  if sure_row in table and oracle_row in table:
    gaps = {t: table[oracle_row][t] - table[sure_row][t] for t in tags}
    awgn = [t for t in tags if t.startswith("awgn")]
    if awgn:
      worst = max(gaps[t] for t in awgn)
      checks.append(f"- SURE-tuned prior vs its oracle-tuned self at AWGN: gaps {', '.join(f'{t} {gaps[t]:.2f} dB' for t in awgn)}"
                    f" (target <= {TARGET_GAP_DB} dB: {'met' if worst <= TARGET_GAP_DB else 'NOT met'})")
    other = [t for t in tags if not t.startswith("awgn")]
    if other:
      checks.append("- the same gap on the stabilised kinds: " + ", ".join(f"{t} {gaps[t]:.2f} dB" for t in other))
  report.write_json(os.path.join(workdir, "zeroshot.json"), {"settings": tags, "psnr": table, "methods": names,
                                                              "gaps": gaps})
  return "\n".join([
      "# Denoising without clean images (zero-shot table)", "",
      f"{config.backbone}-{config.prior}; test images `{config.eval.data_dir or config.data.test}` at "
      f"{config.data.max_size} px with fixed noise (seed {config.eval.seed}), the same noisy inputs for every row; "
      f"networks: {config.train.steps} training steps (selfsup / held-out), {config.zeroshot.steps} fitting steps per "
      "image (zero-shot). Mean PSNR (dB). ORACLE and held-out rows use clean images (the clean test image, the clean "
      "training images); the others never read one.", "",
      report.markdown_table(["method"] + tags, rows), "",
      *checks, "",
      "Non-AWGN kinds: the SURE rows work on the variance-stabilised image (generalized Anscombe transform with its "
      "exact unbiased inverse for Poisson-Gaussian; the log with its bias psi(L) - log L removed, then exp, for "
      "speckle, whose log noise is skewed log-Gamma, so SURE is an approximation there).", ""])
