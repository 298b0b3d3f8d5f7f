"""Progress bars refresh often on a terminal and at most every few seconds in a log file or pipe."""

import io
import time

from vision_jax import progress


class FakeTerminal(io.StringIO):
  def isatty(self):
    return True


def refreshes(stream) -> int:
  return stream.getvalue().count("\r")


def test_a_bar_written_to_a_file_refreshes_at_most_every_few_seconds():
  log = io.StringIO()
  t0 = time.perf_counter()
  for _ in progress.progress_bar(range(3000), file=log, desc="train"):
    time.sleep(0.0003)  # about a second of work in 3000 steps
  elapsed = time.perf_counter() - t0
  assert elapsed < progress.LOG_INTERVAL_S  # so at most the first and the final refresh may appear
  assert refreshes(log) <= 3, log.getvalue()
  assert "3000/3000" in log.getvalue()  # the final state is written


def test_a_bar_on_a_terminal_refreshes_continuously():
  term = FakeTerminal()
  for _ in progress.progress_bar(range(3000), file=term, desc="train"):
    time.sleep(0.0003)
  assert refreshes(term) >= 5
