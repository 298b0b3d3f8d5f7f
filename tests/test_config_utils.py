"""Config helpers: argument parsing, comma lists and dotted overrides."""

import ml_collections
import pytest

from vision_jax.config_utils import parse_arg, split_names, with_overrides


def test_parse_arg_converts_types_and_rejects_unknown_keys():
  assert parse_arg("b=unet,small,n=3,x=0.5", b="resu2net", small=False, n=1, x=1.0) == \
      {"b": "unet", "small": True, "n": 3, "x": 0.5}
  with pytest.raises(ValueError, match="unknown config argument 'bb'"):
    parse_arg("bb=1", b="x")


def test_split_names_and_with_overrides_leave_the_original_untouched():
  assert split_names(" heat, zg,,tv ") == ["heat", "zg", "tv"]
  c = ml_collections.ConfigDict({"noise": {"sigma": 25.0, "kind": "awgn"}, "backbone": "unet"})
  d = with_overrides(c, **{"noise.sigma": 50.0, "backbone": "dncnn"})
  assert (d.noise.sigma, d.backbone, d.noise.kind) == (50.0, "dncnn", "awgn")
  assert (c.noise.sigma, c.backbone) == (25.0, "unet")
