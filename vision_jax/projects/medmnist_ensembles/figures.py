"""Figures of the MedMNIST ensembles report: the Pareto scatter (wS against each cost complement,
fronts marked) and the 7-axis radar of the F' ensembles (Eq. 5 radii, area in the legend)."""

from __future__ import annotations

import numpy as np

from vision_jax.metrics import ensembles as ens

COLORS = {"CNN": "tab:blue", "DNN": "tab:orange", "HYB": "tab:green"}
COST_LABELS = {"size": "Size^C", "flops": "FLOPs^C", "time": "Time^C"}


def pareto_png(path: str, rows_by_category: dict, selection, title: str) -> None:
  """One panel per cost: every ensemble as (c^C, wS) coloured by category, per-category fronts as
  lines and Q members circled."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
  for ax, c in zip(axes, ens.COSTS):
    for cat, rows in rows_by_category.items():
      if not rows:
        continue
      ws = np.array([r["wS"] for r in rows])
      cc = ens.complement([r[c] for r in rows])
      ax.scatter(cc, ws, s=14, color=COLORS[cat], alpha=0.6, label=cat)
      front = ens.pareto_front(ws, cc)
      order = np.argsort(cc[front])
      ax.plot(cc[front][order], ws[front][order], color=COLORS[cat], lw=1)
      q = set(selection.stage1[cat]["Q"])
      for r, x, y in zip(rows, cc, ws):
        if r["name"] in q:
          ax.scatter([x], [y], s=80, facecolors="none", edgecolors="k")
          ax.annotate(r["name"], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{COST_LABELS[c]} = 1 - c / max c (within category)")
    ax.set_ylabel("wS")
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.suptitle(title + " (circled: Q = P1 & P2 & P3)", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def radar_png(path: str, rows: list[dict], areas: dict, categories: dict, title: str) -> None:
  """Radar polygons of `rows` on RADAR_AXES (cost axes as Eq. 5 complements over `rows`)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig = plt.figure(figsize=(7, 6.5))
  ax = fig.add_subplot(111, polar=True)
  if rows:
    radii = ens.radar_radii(rows)
    k = radii.shape[1]
    angles = 2 * np.pi * np.arange(k) / k
    for r, rad in zip(rows, radii):
      closed = np.append(rad, rad[0])
      ax.plot(np.append(angles, angles[0]), closed, color=COLORS.get(categories.get(r["name"]), "k"), lw=1.2,
              label=f"{r['name']} ({categories.get(r['name'])}): area {areas[r['name']]:.4f}")
    labels = [a if a not in ens.COSTS else f"{a}^C" for a in ens.RADAR_AXES]
    ax.set_xticks(angles, labels)
    ax.legend(fontsize=7, loc="upper right", bbox_to_anchor=(1.35, 1.12))
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
