"""Helpers for configs/<task>.py: parse the `:key=value,flag` argument of get_config."""

from __future__ import annotations


def parse_arg(arg: str | None, **defaults) -> dict:
  """Parses 'a=1,b=x,small' against defaults; a bare word sets that boolean default to True.

  Values are converted to the type of the default. An unknown key raises ValueError listing the valid
  ones, e.g. parse_arg("backbone=unet,small", backbone="resu2net", small=False).
  """
  out = dict(defaults)
  if not arg:
    return out
  for item in str(arg).split(","):
    item = item.strip()
    if not item:
      continue
    key, sep, value = item.partition("=")
    key = key.strip()
    if key not in defaults:
      raise ValueError(f"unknown config argument {key!r}; valid: {', '.join(sorted(defaults))}")
    if not sep:
      if not isinstance(defaults[key], bool):
        raise ValueError(f"config argument {key!r} needs a value ({key}=...)")
      out[key] = True
      continue
    out[key] = _convert(value.strip(), defaults[key], key)
  return out


def _convert(value: str, default, key: str):
  if isinstance(default, bool):
    if value.lower() in ("1", "true", "yes"):
      return True
    if value.lower() in ("0", "false", "no"):
      return False
    raise ValueError(f"config argument {key}={value!r}; expected true or false")
  if isinstance(default, int):
    return int(value)
  if isinstance(default, float):
    return float(value)
  return value


def split_names(text) -> list[str]:
  """'heat, zg,,tv' -> ['heat', 'zg', 'tv']: the comma lists used by config fields."""
  return [t.strip() for t in str(text).split(",") if t.strip()]


def with_overrides(config, **fields):
  """A deep copy of an ml_collections config with dotted fields replaced, e.g.
  with_overrides(c, **{"noise.sigma": 50.0, "backbone": "dncnn"}); the original is untouched."""
  import copy
  out = copy.deepcopy(config)
  for key, value in fields.items():
    target = out
    *parents, leaf = key.split(".")
    for p in parents:
      target = target[p]
    target[leaf] = value
  return out
