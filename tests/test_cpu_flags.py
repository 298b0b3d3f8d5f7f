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


CPUINFO = "processor\t: {i}\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma{extra}\n\n"


@pytest.mark.parametrize("extra, avx512", [
    (" avx512f avx512bw", True),
    (" avx512bw", False),  # avx512f is the foundation every 512-bit op needs
    ("", False),
])
def test_the_vector_width_flag_is_for_avx512_hosts_only(extra, avx512):
  text = "".join(CPUINFO.format(i=i, extra=extra) for i in range(2))
  assert cpu_flags.host_has_avx512(text) is avx512
  assert cpu_flags.default_flags(text) == [cpu_flags.CONV_FLAG] + [cpu_flags.VECTOR_FLAG] * avx512
  assert cpu_flags.host_has_avx512("model name : avx512f inside a name\n") is False  # only the flags line counts


def test_import_sets_the_flag_before_jax_starts_and_keeps_other_flags():
  ours = " ".join(cpu_flags.default_flags())
  assert _xla_flags_after_import({}) == ours
  # jax imported but no backend yet: XLA has not read XLA_FLAGS, so the flag still applies
  assert _xla_flags_after_import({}, "import jax") == ours
  kept = "--xla_force_host_platform_device_count=2"
  assert _xla_flags_after_import({"XLA_FLAGS": kept}) == f"{kept} {ours}"


_VECTOR = [cpu_flags.VECTOR_FLAG] * cpu_flags.host_has_avx512()


@pytest.mark.parametrize("env_extra, prelude, expected", [
    ({"XLA_FLAGS": f"{FLAG}=reduce"}, "", " ".join([f"{FLAG}=reduce"] + _VECTOR)),  # the user's own choice
    ({"XLA_FLAGS": "--xla_cpu_prefer_vector_width=256"}, "",
     f"--xla_cpu_prefer_vector_width=256 {cpu_flags.CONV_FLAG}"),  # each flag is kept separately
    ({cpu_flags.ENV_VAR: "0"}, "", ""),  # switched off
    ({}, "import jax; jax.devices()", ""),  # a backend already started: XLA_FLAGS is read, leave it
])
def test_import_leaves_xla_flags_alone_when_it_must(env_extra, prelude, expected):
  assert _xla_flags_after_import(env_extra, prelude) == expected
