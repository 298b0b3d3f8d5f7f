"""Result files of pv_soiling: results.md / results.json / per_seed.csv."""

from __future__ import annotations

import json
import os

from vision_jax import report as report_lib
from vision_jax.projects.pv_soiling import claims

NAMES = {"RF": "Random Forest (hand-crafted)", "CNN": "MobileNetV3-Small (from scratch, no ImageNet weights)",
         "OR": "OR-ensemble"}
COLUMNS = ("accuracy", "dusty_recall", "dusty_f1", "auc")


def cell(stat: dict, digits: int = 4) -> str:
  return f"{stat['mean']:.{digits}f} +- {stat['sd']:.{digits}f} [{stat['lo']:.{digits}f}-{stat['hi']:.{digits}f}]"


def stats_table(stats: dict) -> str:
  rows = [[NAMES[m]] + [cell(stats[m][k]) for k in COLUMNS] + [f"{stats[m]['specificity']['mean']:.3f}",
                                                              f"{stats[m]['fp']['mean']:.1f}", f"{stats[m]['fn']['mean']:.1f}"]
          for m in NAMES]
  return report_lib.markdown_table(["model", "accuracy", "dusty recall", "dusty F1", "AUC", "specificity",
                                    "FP / run", "FN / run"], rows)


def claims_tables() -> list[str]:
  t6 = [[NAMES[m].split(" (")[0]] + [f"{v[0]:.4f} +- {v[1]:.4f} [{v[2]:.4f}-{v[3]:.4f}]" for v in claims.TABLE6[m].values()]
        for m in claims.MODELS]
  t7 = [[NAMES[m].split(" (")[0], f"{100 * v[0]:.2f}", v[1], v[2]] for m, v in claims.TABLE7.items()]
  return [report_lib.markdown_table(["model", "accuracy", "dusty recall", "dusty F1", "AUC"], t6), "",
          "Table 7 (unseen set, 1493 clean / 1069 dusty):", "",
          report_lib.markdown_table(["model", "accuracy %", "dusty recall", "dusty F1"], t7)]


def audit_section(a: dict) -> list[str]:
  out = ["## Arithmetic audit of the paper's own tables", "",
         "An OR rule makes every false positive either member makes (FP_OR >= max(FP_RF, FP_CNN)), so "
         "accuracy_OR <= 1 - (max(FP_RF, FP_CNN) + max(0, FN_RF + FN_CNN - P)) / N. Counts implied by each row's "
         "accuracy and dusty recall (TP = recall P, FP = N_clean - (accuracy N - TP)); every printed figure is "
         "widened by half a unit of its last digit and the bound takes the most favourable end.", ""]
  for key in ("seen", "unseen"):
    t = a[key]
    rows = [[r["model"], r["accuracy"], r["dusty_recall"], r["implied_tp"], r["implied_fp"], r["implied_fn"]]
            + ([r["reported_f1"], f"{r['implied_f1_lo']:.3f}-{r['implied_f1_hi']:.3f}"] if "reported_f1" in r else [])
            for r in t["rows"]]
    header = ["row", "reported accuracy", "reported dusty recall", "implied TP", "implied FP", "implied FN"]
    header += ["reported F1", "F1 implied by accuracy + recall"] if "reported_f1" in t["rows"][0] else []
    out += [f"### {t['name']}: {t['n_dusty']} dusty / {t['n_clean']} clean", "",
            report_lib.markdown_table(header, rows, 4), "",
            f"Largest accuracy an OR of these members can reach: **{t['or_accuracy_bound']:.4f}** (needs >= "
            f"{t['min_or_false_positives']:.1f} false positives)."] + [f"- **Impossible:** {f}." for f in t["findings"]] + [""]
  ok = sum(c["matches"] for c in a["ci"])
  out += [f"Table 6 CIs recomputed as mean +- 2.262 sd / sqrt(10): {ok} of {len(a['ci'])} match the printed intervals "
          "(to 2e-4): the CI arithmetic is right, the ensemble rows are not.", "", a["si_identity"], ""]
  return out


def band_section(rows: list[dict], title: str) -> list[str]:
  table = [[r["band"], r["range"], r["panels"], r["true_clean"], r["true_dusty"], r["or_says_clean"]] for r in rows]
  light = next(r for r in rows if r["band"] == "light cleaning")
  return [f"### {title}", "", report_lib.markdown_table(
      ["band", "SI", "panels", "labelled clean", "labelled dusty", "OR rule says clean"], table), "",
      f"Light cleaning holds {light['true_clean']} clean-labelled panels, and {light['or_says_clean']} panels the OR "
      "rule itself calls clean (30 <= SI < 50).", ""]


def markdown(config, out: dict) -> str:
  d, seeds = out["data"], out["per_seed"]
  o, u = config.data.options, config.data.unseen_options
  held = out["protocols"].get("heldout", {}).get("stats")
  md = ["# PV soiling (seed 002 article 3): RF + MobileNetV3-Small OR-ensemble and the Soiling Index", "",
        f"Seen set `{d['source']}`: {d['seen_counts'][0]} clean / {d['seen_counts'][1]} dusty at {o.render_size} px "
        f"(test split {d['test_counts'][0]} / {d['test_counts'][1]}); unseen set `{d['unseen_source']}`: "
        f"{d['unseen_counts'][0]} clean / {d['unseen_counts'][1]} dusty ({u.render_size} px, other panel styles, "
        f"lighting and dust). Seeds {config.study.seeds}: each seed draws the stratified 70/15/15 split, the forest's "
        f"random_state and the CNN's initialisation and batches.",
        f"CNN: registry MobileNetV3-Small at {config.data.image_size} px, **no ImageNet weights (none offline): trained "
        f"from scratch**, {config.optim.name} lr {config.optim.lr} wd {config.optim.weight_decay}, batch "
        f"{config.data.batch_size}, at most {config.train.epochs} epochs, best validation accuracy kept; RF: "
        f"{config.rf.n_estimators} trees, balanced, on 15 features (rms_contrast duplicates std, eq. 10 = eq. 9). "
        f"Decisions at p(dusty) >= 0.5; OR = dusty if either branch is. Total {out['seconds']['total']:.0f} s.", "",
        f"## The paper's claims ({claims.SOURCE}; quoted, not measured)", "", "Table 6 (10 runs, seeds 100-109; "
        "mean +- sd [95 % CI]):", ""] + claims_tables() + [""] + [f"- {q}" for q in claims.QUOTES] + [""]
  md += audit_section(out["audit"])
  md += ["## Measured: 10-seed table, the paper's evaluation and the held-out one side by side", ""]
  for name, p in out["protocols"].items():
    md += [f"### {p['label']} (mean +- sd [t-based 95 % CI] over {len(seeds)} seeds)", "", stats_table(p["stats"]), ""]
  md += [f"### Unseen (domain-shifted) set, the same models (mean +- sd [95 % CI] over {len(seeds)} seeds)", "",
         stats_table(out["unseen"]), ""]
  if held:
    drops = ", ".join(f"{m} {held[m]['accuracy']['mean']:.3f} -> {out['unseen'][m]['accuracy']['mean']:.3f}"
                      for m in NAMES)
    md += [f"Domain shift, accuracy held-out test -> unseen: {drops}.", ""]
  checks = [(n, r["invariants"]) for r in seeds for n, r in
            [*((k, v) for k, v in r["protocols"].items()), ("unseen", r["unseen"])]]
  bad = [n for n, c in checks if not (c["recall_ge_members"] and c["fp_ge_members"]) or c["or_vs_si50_mismatches"]]
  ties = sum(c["rf_ties_at_half"] for _, c in checks)
  md += ["## OR identities on the measured predictions", "",
         f"Over {len(checks)} (seed, evaluation set) pairs: OR recall >= both members' and OR FP >= both members' in "
         f"every pair: {'yes' if not bad else 'NO: ' + ', '.join(bad)}; OR decision == (SI >= 50) image by image: "
         f"{sum(c['or_vs_si50_mismatches'] for _, c in checks)} mismatches ({ties} forest probabilities exactly 0.5, "
         "counted as dusty).", "", "## Soiling Index bands (pooled over seeds)", ""]
  md += band_section(out["bands_test"], "Held-out test panels") + band_section(out["bands_unseen"], "Unseen set")
  findings = [out["audit"][key]["name"].split(" (")[0] + " OR accuracy" for key in ("seen", "unseen")
              if any("exceeds the OR bound" in f for f in out["audit"][key]["findings"])]
  if held:
    v = claims.verdict(findings, held["OR"]["accuracy"]["mean"], max(held["RF"]["fp"]["mean"], held["CNN"]["fp"]["mean"]),
                       held["OR"]["fp"]["mean"], len(seeds))
    md += [f"**{v}**", ""]
  return "\n".join(md)


def per_seed_rows(out: dict) -> list[list]:
  rows = []
  for r in out["per_seed"]:
    for where, sc in [*((k, v["scores"]) for k, v in r["protocols"].items()), ("unseen", r["unseen"]["scores"])]:
      for m in NAMES:
        rows.append([r["seed"], where, m] + [sc[m][k] for k in ("accuracy", "dusty_recall", "dusty_f1", "auc",
                                                                  "specificity", "fp", "fn", "n")])
  return rows


def render(config, workdir: str, out: dict) -> str:
  report_lib.write_csv(os.path.join(workdir, "per_seed.csv"), ["seed", "evaluated_on", "model", "accuracy",
                       "dusty_recall", "dusty_f1", "auc", "specificity", "fp", "fn", "n"], per_seed_rows(out))
  text = markdown(config, out)
  report_lib.write_text_atomic(os.path.join(workdir, "results.md"), text)
  print(text)
  return text


def write(config, workdir: str, out: dict) -> str:
  report_lib.write_json(os.path.join(workdir, "results.json"), out)
  return render(config, workdir, out)


def rerender(config, workdir: str) -> str:
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist; run --mode=train first")
  with open(path) as f:
    return render(config, workdir, json.load(f))

