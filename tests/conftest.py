"""Shared test helpers: load a config module of configs/ the way the CLI does."""

import importlib
import os

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Many tests compile the same tiny programs; a persistent cache shared by the xdist workers of one
# run (and later runs) saves most of the XLA compile time on a 2-core machine.
jax.config.update("jax_compilation_cache_dir", os.path.join(ROOT, ".jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def load_config(name: str, arg: str | None = None):
  """get_config(arg) of configs/<name>/default.py ('pinn_denoise') or of a variant ('pinn_denoise.study')."""
  module = importlib.import_module(f"configs.{name}" if "." in name else f"configs.{name}.default")
  return module.get_config(arg)


@pytest.fixture
def config_loader():
  return load_config
