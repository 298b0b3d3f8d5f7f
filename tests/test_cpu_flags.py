"""vision_jax.cpu_flags: the XLA:CPU flag `import vision_jax` sets, and when it must leave XLA_FLAGS alone."""

import os
import subprocess
import sys

import pytest

from vision_jax import cpu_flags

FLAG = cpu_flags.FLAG


@pytest.mark.parametrize("flags, ynn", [
    ("", True),  # XLA's default list has YNNPACK convolutions
    ("--xla_force_host_platform_device_count=2", True),
    (cpu_flags.CONV_FLAG, False),
    (f"{FLAG}=", False),  # every YNN fusion off
    (f"{FLAG}=reduce", False),  # a plain list replaces the default
    (f"{FLAG}=individual_convolution,reduce", True),
    (f"{FLAG}=+reduce", True),  # '+' / '-' items edit the default
    (f"{FLAG}=+reduce,-individual_convolution", False),
    (f"{FLAG}=reduce {FLAG}=individual_convolution", True),  # the last occurrence wins
])
def test_ynn_convolution_reads_the_flag_as_xla_does(flags, ynn):
  assert cpu_flags.ynn_convolution(flags) is ynn


def _xla_flags_after_import(env_extra: dict, prelude: str = "") -> str:
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", cpu_flags.ENV_VAR)}
  env.update(env_extra, JAX_PLATFORMS="cpu")
  code = f"import os\n{prelude}\nimport vision_jax\nprint(os.environ.get('XLA_FLAGS', ''))"
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
  return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def test_import_sets_the_flag_before_jax_starts_and_keeps_other_flags():
  assert _xla_flags_after_import({}) == cpu_flags.CONV_FLAG
  # jax imported but no backend yet: XLA has not read XLA_FLAGS, so the flag still applies
  assert _xla_flags_after_import({}, "import jax") == cpu_flags.CONV_FLAG
  kept = "--xla_force_host_platform_device_count=2"
  assert _xla_flags_after_import({"XLA_FLAGS": kept}) == f"{kept} {cpu_flags.CONV_FLAG}"


@pytest.mark.parametrize("env_extra, prelude, expected", [
    ({"XLA_FLAGS": f"{FLAG}=reduce"}, "", f"{FLAG}=reduce"),  # the user's own choice
    ({cpu_flags.ENV_VAR: "0"}, "", ""),  # switched off
    ({}, "import jax; jax.devices()", ""),  # a backend already started: XLA_FLAGS is read, leave it
])
def test_import_leaves_xla_flags_alone_when_it_must(env_extra, prelude, expected):
  assert _xla_flags_after_import(env_extra, prelude) == expected
