"""Result files of a denoising comparison: results.json (the record), results.md / results.csv
rendered from it, and comparison.png. `--mode=report` re-renders the markdown and CSV from the
record alone, so a report can be rewritten without training or evaluating again."""

from __future__ import annotations

import json
import os

import numpy as np

from vision_jax import report as report_lib
from vision_jax.tasks.denoise import evaluation


def make_record(title: str, intro: str, test: evaluation.TestSet, results: dict, *, settings=None,
                lines=(), info=None, **extra) -> dict:
  """The JSON-able record of one comparison (no image arrays)."""
  return {"title": title, "intro": intro, "images": list(test.names), "methods": evaluation.summary(results),
          "settings": settings or {}, "lines": list(lines), "info": info or {}, **extra}


def _settings_lines(settings: dict) -> list[str]:
  out = []
  for name, s in settings.items():
    if "kwargs" in s:
      kw = ", ".join(f"{k}={v}" for k, v in s["kwargs"].items()) or "library defaults"
      out.append(f"- {name}: {kw} (validation PSNR {s['val_psnr']:.2f} dB)")
    else:
      out.append(f"- {name}: params {s['params']}, dt {s['dt']:.4g}, steps {s['steps']} "
                 f"(validation PSNR {s['val_psnr']:.2f} dB)")
  return out


def render_markdown(record: dict) -> tuple[str, list[str], list[list]]:
  """(markdown, csv header, csv rows) of a record."""
  methods = record["methods"]
  header = ["method"] + [f"{n} PSNR" for n in record["images"]] + ["mean PSNR", "mean SSIM", "s/image"]
  rows = [[m] + list(r["psnr"]) + [r["mean_psnr"], r["mean_ssim"], float(np.mean(r["seconds"]))]
          for m, r in methods.items()]
  md = [f"# {record['title']}", "", record["intro"], "", report_lib.markdown_table(header, rows), ""]
  md += [f"**{line}**" for line in record["lines"]] + ([""] if record["lines"] else [])
  if record["settings"]:
    md += ["## Settings tuned on the validation image", ""] + _settings_lines(record["settings"]) + [""]
  if record["info"]:
    md += ["## Run", ""] + [f"- {k}: {report_lib.format_value(v)}" for k, v in record["info"].items()] + [""]
  return "\n".join(md), header, rows


def write_results(workdir: str, record: dict, test: evaluation.TestSet | None = None, results: dict | None = None,
                  prefix: str = "") -> str:
  """Writes {prefix}results.json/.md/.csv (and comparison.png when test and results with outputs are
  given); returns the markdown."""
  md, header, rows = render_markdown(record)
  report_lib.write_json(os.path.join(workdir, f"{prefix}results.json"), record)
  report_lib.write_text_atomic(os.path.join(workdir, f"{prefix}results.md"), md)
  report_lib.write_csv(os.path.join(workdir, f"{prefix}results.csv"), header, rows)
  if test is not None and results is not None:
    report_lib.image_grid_figure(os.path.join(workdir, f"{prefix}comparison.png"),
                                 evaluation.comparison_panels(test, results), title=record.get("figure_title"))
  print(md)
  print(f"wrote {workdir}/{prefix}results.md, .json, .csv" + (", comparison.png" if results else ""))
  return md


def rerender(workdir: str, prefix: str = "") -> str:
  """--mode=report: rewrites {prefix}results.md/.csv from {prefix}results.json (nothing is recomputed)."""
  path = os.path.join(workdir, f"{prefix}results.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist; run --mode=train (or eval) first")
  with open(path) as f:
    record = json.load(f)
  return write_results(workdir, record, prefix=prefix)
