"""Rule-based text explanations from an explicit rule table (the paper claims rule-based texts but prints
no rules or thresholds; only template outputs appear in its Fig. 13).

The rules (RULE_TABLE, checked in order; coverage in percent of Grad-CAM energy inside the lung mask,
the thresholds are config fields explain.rule_within = 60 and explain.rule_mixed = 40):

| rule | condition | text |
|---|---|---|
| within_lungs | coverage >= within | attention within the lungs |
| mixed | mixed <= coverage < within | mixed attention: inside and outside the lungs |
| outside | coverage < mixed | WARNING: attention mostly outside the lungs; the prediction may rest on non-lung cues |

and a decision rule: "COVID-19 suspected" when p >= threshold, else "no COVID-19 pattern", with
"borderline" added when |p - threshold| < BORDERLINE (0.1). A fallback lung mask (the Otsu mask's area
fraction out of range, pipeline.safe_lung_mask) adds a note that the coverage is 100 % by construction.
"""

from __future__ import annotations

import dataclasses

from vision_jax.projects.covid_cxr.evaluation import check_threshold

BORDERLINE = 0.1


@dataclasses.dataclass(frozen=True)
class Rule:
  name: str
  text: str


RULE_TABLE = (
    Rule("within_lungs", "attention within the lungs"),
    Rule("mixed", "mixed attention: inside and outside the lungs"),
    Rule("outside", "WARNING: attention mostly outside the lungs; the prediction may rest on non-lung cues"),
)


def check_rule_thresholds(within: float, mixed: float) -> None:
  if not 0.0 <= mixed <= within <= 100.0:
    raise ValueError(f"explain.rule_mixed={mixed!r}, explain.rule_within={within!r} are invalid; expected "
                     "0 <= rule_mixed <= rule_within <= 100 (percent)")


def attention_rule(coverage: float, within: float = 60.0, mixed: float = 40.0) -> Rule:
  """The rule of RULE_TABLE that a coverage percentage in [0, 100] falls under."""
  check_rule_thresholds(within, mixed)
  if not 0.0 <= coverage <= 100.0 + 1e-9:
    raise ValueError(f"coverage={coverage!r} is invalid; expected a percentage in [0, 100]")
  if coverage >= within:
    return RULE_TABLE[0]
  return RULE_TABLE[1] if coverage >= mixed else RULE_TABLE[2]


def decision_text(prob: float, threshold: float) -> str:
  check_threshold(threshold)
  verdict = "COVID-19 suspected" if prob >= threshold else "no COVID-19 pattern"
  return verdict + (" (borderline)" if abs(prob - threshold) < BORDERLINE else "")


def explanation(name: str, prob: float, threshold: float, coverage: float, *, coverage_true: float | None = None,
                fallback: str = "", within: float = 60.0, mixed: float = 40.0) -> str:
  """One example's text, in the layout of the paper's Fig. 13, e.g.

      Normal-7067: P(COVID) = 17.06 % at threshold 0.40 -> no COVID-19 pattern.
        Grad-CAM energy 50.7 % inside the lungs / 49.3 % outside (Otsu mask) -> mixed attention: ...
  """
  rule = attention_rule(coverage, within, mixed)
  lines = [f"{name}: P(COVID) = {100 * prob:.2f} % at threshold {threshold:.2f} -> {decision_text(prob, threshold)}.",
           f"  Grad-CAM energy {coverage:.1f} % inside the lungs / {100 - coverage:.1f} % outside (Otsu mask) -> "
           f"{rule.text} [rule {rule.name}]."]
  if coverage_true is not None:
    lines.append(f"  Against the true lung mask: {coverage_true:.1f} % inside "
                 f"-> {attention_rule(coverage_true, within, mixed).name}.")
  if fallback:
    lines.append(f"  Note: the Otsu lung mask fell back to the whole image ({fallback}); its coverage is 100 % by "
                 "construction and says nothing about attention.")
  return "\n".join(lines)


def rule_table_markdown(within: float, mixed: float) -> str:
  rows = [("within_lungs", f"coverage >= {within:g} %"), ("mixed", f"{mixed:g} % <= coverage < {within:g} %"),
          ("outside", f"coverage < {mixed:g} %")]
  lines = ["| rule | condition | text |", "|---|---|---|"]
  for (name, cond), rule in zip(rows, RULE_TABLE):
    lines.append(f"| {name} | {cond} | {rule.text} |")
  return "\n".join(lines)
