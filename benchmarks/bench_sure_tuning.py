"""How close SURE-tuned PDE priors get to their oracle-tuned (clean-image) selves, AWGN sigma 15/25/50.

For every bundled image, noise level and prior, one noisy image (vision_jax.noise.add_noise, fixed seed)
is denoised by the prior run from it over a parameter grid x every stopping step:
  * oracle: the (parameters, step) with the best PSNR against the clean image (pde.psnr_grid);
  * SURE:   the (parameters, step) with the smallest SURE (pde.sure_grid: noisy image and sigma only),
            then scored with the same clean-image PSNR (clipped to [0, 1], as the oracle).
Where the flow's Jacobian explodes (mpmc, or Perona-Malik with a small K run long: backward diffusion)
the Monte-Carlo divergence is astronomically variable and SURE goes negative; the SURE choice is
therefore pde.sure_best_setting: the minimum of SURE + z * its Monte-Carlo standard error (from the
spread of --probes probes), among entries whose standard error is below --max-rel-stderr of their SURE. The table reports PSNR (dB) of the noisy input, the oracle, the SURE choice and the gap oracle - SURE
(the issue's target: <= 0.3 dB), per prior and sigma averaged over the images, then per image. Only
library code is used: data.images.load_images, noise.add_noise, pde.psnr_grid / sure_grid / best_setting / sure_best_setting.

    python benchmarks/bench_sure_tuning.py                                   # 4 images x 3 sigmas x 5 priors
    python benchmarks/bench_sure_tuning.py --images camera --priors perona_malik --sigmas 25 --probes 4
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def prior_grids(name: str, pde):
  """(grid, dt per combination, fixed params) searched for each prior (dt = 0.9 of its stability limit)."""
  if name == "heat":
    return {}, 0.9 * pde.stability_limit("heat"), {}
  if name == "perona_malik":
    return {"K": np.geomspace(0.01, 0.4, 10).tolist()}, 0.2, {}
  if name == "mpmc":
    return {"K": np.geomspace(0.05, 2.0, 8).tolist()}, 0.2, {}
  if name == "zg":
    g = {"K": np.geomspace(0.01, 0.4, 8).tolist()}
    return g, 0.9 * pde.stability_limit("zg", lambda2=0.02), {"lambda2": 0.02}
  if name == "tv":
    eps = [0.02, 0.05, 0.1, 0.2, 0.4]
    return {"eps": eps}, np.array([0.9 * e / 4 for e in eps]), {}
  if name == "tensor":
    return {"K": np.geomspace(0.005, 0.1, 6).tolist()}, 0.2, {}
  raise ValueError(f"no grid for prior {name!r}")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--images", default="camera,coins,moon,astronaut")
  ap.add_argument("--sigmas", default="15,25,50")
  ap.add_argument("--priors", default="heat,perona_malik,mpmc,zg,tv")
  ap.add_argument("--steps", type=int, default=300, help="largest stopping step searched")
  ap.add_argument("--max-size", type=int, default=256)
  ap.add_argument("--probes", type=int, default=4, help="Monte-Carlo probes of the SURE divergence (>= 2)")
  ap.add_argument("--z", type=float, default=2.0, help="the SURE choice minimises SURE + z * its standard error")
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--max-rel-stderr", type=float, default=0.1,
                  help="SURE entries whose Monte-Carlo standard error exceeds this fraction of the SURE value are skipped")
  args = ap.parse_args()

  import jax
  import jax.numpy as jnp

  from vision_jax import noise, pde
  from vision_jax.data import images

  t0 = time.perf_counter()
  imgs = images.load_images("bundled:" + args.images, max_size=args.max_size)
  sigmas = [float(s) for s in args.sigmas.split(",")]
  priors = args.priors.split(",")
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}, load average {load:.2f}; "
        f"steps 0..{args.steps}, SURE probes {args.probes}, noise seed {args.seed}\n")
  rows = []
  for si, sigma in enumerate(sigmas):
    for ii, img in enumerate(imgs):
      clean = jnp.asarray(img.pixels[..., 0])
      key = jax.random.fold_in(jax.random.key(args.seed), 1000 * si + ii)
      noisy = noise.add_noise(key, clean, "awgn", sigma=sigma)
      noisy_psnr = float(10 * np.log10(1.0 / np.mean((np.clip(np.asarray(noisy), 0, 1) - np.asarray(clean)) ** 2)))
      for name in priors:
        grid, dt, fixed = prior_grids(name, pde)
        psnr = np.asarray(pde.psnr_grid(noisy, clean, name, args.steps, dt, grid=grid, **fixed))
        risk, err = pde.sure_grid(noisy, sigma, name, args.steps, dt, grid=grid, key=jax.random.fold_in(key, 7),
                                  probes=args.probes, return_stderr=True, **fixed)
        risk, err = np.asarray(risk), np.asarray(err)
        oracle = pde.best_setting(psnr, grid, "max")
        chosen = pde.sure_best_setting(risk, err, grid, z=args.z, max_rel_stderr=args.max_rel_stderr)
        idx = tuple(list(np.ravel(grid[n])).index(chosen[n]) for n in grid) + (chosen["steps"],)
        rows.append(dict(sigma=sigma, image=img.name, prior=name, noisy=noisy_psnr, oracle=oracle["score"],
                         sure=float(psnr[idx]), o_set=oracle, s_set=chosen))
        r = rows[-1]
        print(f"sigma {sigma:g} {img.name:10s} {name:13s} noisy {noisy_psnr:6.2f}  oracle {r['oracle']:6.2f}  "
              f"SURE {r['sure']:6.2f}  gap {r['oracle'] - r['sure']:5.2f} dB", flush=True)

  print("\n## Mean over images (PSNR dB; gap = oracle - SURE-tuned)\n")
  print("| prior | sigma | noisy | oracle-tuned | SURE-tuned | gap | max gap |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  for name in priors:
    for sigma in sigmas:
      sel = [r for r in rows if r["prior"] == name and r["sigma"] == sigma]
      gaps = [r["oracle"] - r["sure"] for r in sel]
      print(f"| {name} | {sigma:g} | {np.mean([r['noisy'] for r in sel]):.2f} | "
            f"{np.mean([r['oracle'] for r in sel]):.2f} | {np.mean([r['sure'] for r in sel]):.2f} | "
            f"{np.mean(gaps):.2f} | {np.max(gaps):.2f} |")
  print("\n## Per image: settings chosen (oracle | SURE)\n")
  print("| prior | sigma | image | oracle | SURE | gap | oracle setting | SURE setting |")
  print("|---|---:|---|---:|---:|---:|---|---|")
  fmt = lambda s: ", ".join(f"{k}={v:.3g}" for k, v in s.items() if k != "score")
  for r in rows:
    print(f"| {r['prior']} | {r['sigma']:g} | {r['image']} | {r['oracle']:.2f} | {r['sure']:.2f} | "
          f"{r['oracle'] - r['sure']:.2f} | {fmt(r['o_set'])} | {fmt(r['s_set'])} |")
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"\n{time.perf_counter() - t0:.0f} s in all; load average {load:.2f} at the end")


if __name__ == "__main__":
  main()
