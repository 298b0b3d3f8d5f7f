"""Progress bars for every long loop: tqdm with a refresh rate that suits where the output goes.

On a terminal the bar refreshes up to 10 times a second; written to a file or a pipe (a log, CI) it
refreshes at most every `LOG_INTERVAL_S` seconds, so a 20,000-step run does not write 20,000 lines.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL_S = 5.0


def _is_terminal(stream) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError):
    return False


def progress_bar(iterable=None, *, file=None, **kwargs):
  """tqdm(iterable, **kwargs) writing to `file` (default stderr), throttled when it is not a terminal."""
  stream = sys.stderr if file is None else file
  terminal = _is_terminal(stream)
  kwargs.setdefault("mininterval", 0.1 if terminal else LOG_INTERVAL_S)
  kwargs.setdefault("dynamic_ncols", terminal)
  return tqdm(iterable, file=stream, **kwargs)
