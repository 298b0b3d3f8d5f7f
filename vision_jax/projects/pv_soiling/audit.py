"""Arithmetic audit of the paper's own tables (claims.TABLE6 / TABLE7): which reported ensemble figures
are impossible for an OR of its two members.

An OR rule flags a panel dusty when either member does, so on any evaluation set
  FP_OR >= max(FP_RF, FP_CNN)                 (every false alarm of a member is one of the ensemble's)
  FN_OR = |FN_RF intersect FN_CNN| >= max(0, FN_RF + FN_CNN - P)
  recall_OR >= max(recall_RF, recall_CNN)
hence accuracy_OR <= 1 - (max(FP_RF, FP_CNN) + max(0, FN_RF + FN_CNN - P)) / N.
A member's counts follow from its accuracy and dusty recall with P dusty and Nc clean panels:
TP = recall P, FP = Nc - (accuracy N - TP). Table 6 reports means over 10 runs on fixed split sizes
(Table 4: 28 dusty, 29 clean test panels), and every quantity above is linear in the counts or a
per-run inequality that survives averaging (max and max(0, .) are convex), so the bounds hold for
the means too. Every reported figure is treated as an interval of half a unit in its last printed
digit, and each verdict takes the most favourable end: "impossible" means impossible under any rounding.
"""

from __future__ import annotations

import dataclasses

from vision_jax.projects.pv_soiling import claims


@dataclasses.dataclass(frozen=True)
class Interval:
  lo: float
  hi: float

  @staticmethod
  def reported(value: float, decimals: int) -> "Interval":
    half = 0.5 * 10.0 ** -decimals
    return Interval(value - half, value + half)

  def __add__(self, o):
    o = o if isinstance(o, Interval) else Interval(o, o)
    return Interval(self.lo + o.lo, self.hi + o.hi)

  def __sub__(self, o):
    o = o if isinstance(o, Interval) else Interval(o, o)
    return Interval(self.lo - o.hi, self.hi - o.lo)

  def scale(self, k: float) -> "Interval":
    return Interval(min(k * self.lo, k * self.hi), max(k * self.lo, k * self.hi))

  @property
  def mid(self) -> float:
    return 0.5 * (self.lo + self.hi)


def implied_counts(accuracy: Interval, recall: Interval, n_dusty: int, n_clean: int) -> dict:
  """{"tp", "fp", "fn", "tn"} as Intervals from a member's accuracy and dusty recall."""
  n = n_dusty + n_clean
  tp = recall.scale(n_dusty)
  correct = accuracy.scale(n)
  fp = Interval(n_clean, n_clean) - (correct - tp)
  return {"tp": tp, "fp": fp, "fn": Interval(n_dusty, n_dusty) - tp, "tn": correct - tp}


def f1_of(accuracy: Interval, recall: Interval, n_dusty: int, n_clean: int) -> Interval:
  """Dusty F1 = 2 TP / (2 TP + FP + FN) implied by accuracy and recall (monotone in both, so the box
  corners give the extremes)."""
  n = n_dusty + n_clean

  def f1(a, r):
    tp = r * n_dusty
    fp = n_clean - (a * n - tp)
    return 2 * tp / (2 * tp + fp + (n_dusty - tp))

  vals = [f1(a, r) for a in (accuracy.lo, accuracy.hi) for r in (recall.lo, recall.hi)]
  return Interval(min(vals), max(vals))


def or_accuracy_bound(rf: dict, cnn: dict, n_dusty: int, n_clean: int) -> float:
  """The largest OR accuracy any pair of member predictions with these counts allows."""
  fp_min = max(rf["fp"].lo, cnn["fp"].lo)
  fn_min = max(0.0, rf["fn"].lo + cnn["fn"].lo - n_dusty)
  return 1.0 - (max(fp_min, 0.0) + fn_min) / (n_dusty + n_clean)


def audit_table(table: dict, decimals: tuple, n_dusty: int, n_clean: int, name: str, check_f1: bool) -> dict:
  """Audit of one table: {model: (accuracy, recall, f1)} values with their printed decimals. check_f1:
  compare the printed F1 with the one accuracy and recall imply (point values only: a mean of per-run
  F1 scores need not equal the F1 of the mean counts)."""
  iv = {m: [Interval.reported(v, d) for v, d in zip(vals, decimals)] for m, vals in table.items()}
  counts = {m: implied_counts(iv[m][0], iv[m][1], n_dusty, n_clean) for m in iv}
  bound = or_accuracy_bound(counts["RF"], counts["CNN"], n_dusty, n_clean)
  fp_needed = max(counts["RF"]["fp"].lo, counts["CNN"]["fp"].lo)
  rows = []
  for m in iv:
    row = {"model": m, "accuracy": table[m][0], "dusty_recall": table[m][1],
           "implied_tp": counts[m]["tp"].mid, "implied_fp": counts[m]["fp"].mid, "implied_fn": counts[m]["fn"].mid}
    if check_f1:
      f1 = f1_of(iv[m][0], iv[m][1], n_dusty, n_clean)
      row.update(reported_f1=table[m][2], implied_f1_lo=f1.lo, implied_f1_hi=f1.hi,
                 f1_consistent=bool(f1.lo - 0.5 * 10 ** -decimals[2] <= table[m][2] <= f1.hi + 0.5 * 10 ** -decimals[2]))
    rows.append(row)
  findings = []
  if iv["OR"][0].lo > bound:
    findings.append(f"{name}: OR accuracy {table['OR'][0]:.4f} exceeds the OR bound {bound:.4f} (the members imply "
                    f">= {fp_needed:.1f} false positives; the OR row implies {counts['OR']['fp'].mid:.1f})")
  if iv["OR"][1].hi < max(iv["RF"][1].lo, iv["CNN"][1].lo):
    findings.append(f"{name}: OR recall below a member's recall")
  or_row = rows[-1]
  if check_f1 and not or_row["f1_consistent"]:
    findings.append(f"{name}: OR F1 {table['OR'][2]:.2f} while its accuracy and recall imply "
                    f"{or_row['implied_f1_lo']:.3f}-{or_row['implied_f1_hi']:.3f}")
  return {"name": name, "n_dusty": n_dusty, "n_clean": n_clean, "or_accuracy_bound": bound,
          "min_or_false_positives": fp_needed, "rows": rows, "findings": findings}


def table6_ci_check() -> list[dict]:
  """Recomputes the paper's CIs mean -+ 2.262 sd / sqrt(10) from its means and sds."""
  from scipy import stats
  t = float(stats.t.ppf(0.975, 9))
  out = []
  for m, metrics in claims.TABLE6.items():
    for k, (mean, sd, lo, hi) in metrics.items():
      half = t * sd / 10 ** 0.5
      out.append({"model": m, "metric": k, "lo": mean - half, "hi": mean + half, "reported_lo": lo, "reported_hi": hi,
                  "matches": bool(abs(mean - half - lo) <= 2e-4 and abs(mean + half - hi) <= 2e-4)})
  return out


def run_audit() -> dict:
  """Both tables' audits, the CI recomputation and the SI / OR identity as statements."""
  n_clean, n_dusty = claims.TABLE4_SPLIT["test"]
  t6 = {m: (v["accuracy"][0], v["dusty_recall"][0], v["dusty_f1"][0]) for m, v in claims.TABLE6.items()}
  seen = audit_table(t6, (4, 4, 4), n_dusty, n_clean, "Table 6 (seen test split, means of 10 runs)",
                     check_f1=False)
  unseen = audit_table(claims.TABLE7, (4, 2, 2), claims.TABLE7_COUNTS[1], claims.TABLE7_COUNTS[0],
                       "Table 7 (unseen set)", check_f1=True)
  return {"seen": seen, "unseen": unseen, "ci": table6_ci_check(),
          "si_identity": ("With a 0.5 threshold on both branches, OR says dusty iff max(p_RF, p_CNN) >= 0.5 iff SI >= 50. "
                          "The light-cleaning band 30 <= SI < 60 therefore straddles the decision: panels with "
                          "30 <= SI < 50 are called clean by the OR rule yet sent to light cleaning, and panels with "
                          "50 <= SI < 60 are called dusty but only lightly cleaned.")}
