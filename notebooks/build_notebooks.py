"""Builds each notebooks/<name>.ipynb from its percent-format source notebooks/<name>.py, runs it and
stores its outputs (printed text, figures as PNG, the value of a cell's last expression) in the notebook.

The .py file is the source of truth (reviewable diffs); cells start at lines "# %%" (code) or
"# %% [markdown]" (markdown, lines prefixed by "# "). Regenerate after editing a source:

    python notebooks/build_notebooks.py                # every notebook, executed (run from the repository root)
    python notebooks/build_notebooks.py pde_priors_tour  # one notebook
    python notebooks/build_notebooks.py --no-execute   # cells only, outputs left empty

Execution needs no Jupyter: the code cells run in order in one namespace in this process (what "Run
all" does), with matplotlib on the Agg backend; each cell's stdout/stderr become stream outputs and
every figure still open at the end of a cell becomes an image/png display output (then closed).
Figures the notebook saves itself go to $VISION_JAX_FIGURES (set by the notebook's own default).
tests/test_notebooks.py checks that the committed cells match the sources and that the committed
notebooks carry outputs.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import glob
import io
import json
import os
import sys

EMBED_DPI = 72  # figures stored in the .ipynb (the notebook's own PNG files keep their dpi)


def cells_from_percent(text: str) -> list[dict]:
  """Splits percent-format source into notebook cells (markdown comments unwrapped), without outputs."""
  cells, kind, lines = [], None, []

  def flush():
    if kind is None:
      return
    body = "\n".join(lines).strip("\n")
    if kind == "markdown":
      body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.splitlines())
    cell = {"cell_type": kind, "metadata": {}, "source": body.splitlines(keepends=True)}
    if kind == "code":
      cell.update(execution_count=None, outputs=[])
    cells.append(cell)

  for line in text.splitlines():
    if line.startswith("# %%"):
      flush()
      kind, lines = ("markdown" if "[markdown]" in line else "code"), []
    elif kind is not None:
      lines.append(line)
  flush()
  return cells


def _stream(name: str, text: str) -> dict:
  return {"output_type": "stream", "name": name, "text": text.splitlines(keepends=True)}


def _figure_outputs() -> list[dict]:
  import matplotlib.pyplot as plt
  out = []
  for num in plt.get_fignums():
    fig = plt.figure(num)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=EMBED_DPI)
    w, h = fig.get_size_inches() * EMBED_DPI
    out.append({"output_type": "display_data", "metadata": {},
                "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                         "text/plain": [f"<Figure size {w:.0f}x{h:.0f} with {len(fig.axes)} Axes>"]}})
  plt.close("all")
  return out


def run_cells(cells: list[dict], name: str) -> list[dict]:
  """Executes the code cells in order in one namespace and returns the cells with their outputs.
  An exception in a cell stops the build (with the cell number)."""
  import matplotlib
  matplotlib.use("Agg")
  namespace = {"__name__": "__main__"}
  count = 0
  out_cells = []
  for cell in cells:
    cell = dict(cell)
    if cell["cell_type"] == "code":
      count += 1
      source = "".join(cell["source"])
      tree = ast.parse(source)
      last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
      stdout, stderr = io.StringIO(), io.StringIO()
      value = None
      with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
          exec(compile(tree, f"{name}[code cell {count}]", "exec"), namespace)
          if last is not None:
            value = eval(compile(ast.Expression(last.value), f"{name}[code cell {count}]", "eval"), namespace)
        except Exception as e:
          raise RuntimeError(f"{name}: code cell {count} failed: {type(e).__name__}: {e}") from e
      outputs = [_stream(k, v.getvalue()) for k, v in (("stdout", stdout), ("stderr", stderr)) if v.getvalue()]
      if value is not None:
        outputs.append({"output_type": "execute_result", "execution_count": count, "metadata": {},
                        "data": {"text/plain": repr(value).splitlines(keepends=True)}})
      outputs += _figure_outputs()
      cell.update(execution_count=count, outputs=outputs)
    out_cells.append(cell)
  return out_cells


def build(py_path: str, execute: bool = True) -> str:
  """Writes <name>.ipynb next to the source (executed unless execute=False); returns its path."""
  with open(py_path) as f:
    cells = cells_from_percent(f.read())
  name = os.path.splitext(os.path.basename(py_path))[0]
  if execute:
    cells = run_cells(cells, name)
  nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                     "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
  out = os.path.splitext(py_path)[0] + ".ipynb"
  with open(out, "w") as f:
    json.dump(nb, f, indent=1)
    f.write("\n")
  return out


def sources(here: str) -> list[str]:
  return sorted(p for p in glob.glob(os.path.join(here, "*.py")) if os.path.basename(p) != "build_notebooks.py")


if __name__ == "__main__":
  here = os.path.dirname(os.path.abspath(__file__))
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("names", nargs="*", help="notebook names (default: every source in notebooks/)")
  parser.add_argument("--no-execute", action="store_true", help="only rebuild the cells; outputs stay empty")
  args = parser.parse_args()
  paths = sources(here)
  if args.names:
    known = {os.path.splitext(os.path.basename(p))[0]: p for p in paths}
    unknown = [n for n in args.names if n not in known]
    if unknown:
      sys.exit(f"unknown notebook {unknown[0]!r}; valid: {', '.join(sorted(known))}")
    paths = [known[n] for n in args.names]
  for path in paths:
    print("wrote", build(path, execute=not args.no_execute))
