"""Builds each notebooks/<name>.ipynb from its percent-format source notebooks/<name>.py.

The .py file is the source of truth (reviewable diffs); cells start at lines "# %%" (code) or
"# %% [markdown]" (markdown, lines prefixed by "# "). Run: python notebooks/build_notebooks.py
"""

import glob
import json
import os


def cells_from_percent(text: str) -> list[dict]:
  """Splits percent-format source into notebook cells (markdown comments unwrapped)."""
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


def build(py_path: str) -> str:
  with open(py_path) as f:
    cells = cells_from_percent(f.read())
  nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                     "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
  out = os.path.splitext(py_path)[0] + ".ipynb"
  with open(out, "w") as f:
    json.dump(nb, f, indent=1)
    f.write("\n")
  return out


if __name__ == "__main__":
  here = os.path.dirname(os.path.abspath(__file__))
  for path in sorted(glob.glob(os.path.join(here, "*.py"))):
    if os.path.basename(path) != "build_notebooks.py":
      print("wrote", build(path))
