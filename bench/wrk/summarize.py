"""Summarize wrk JSON lines (from post_form.lua) into per-label medians.

Usage: python bench/wrk/summarize.py RESULTS.jsonl [RSS.tsv]

RESULTS.jsonl: one JSON line per wrk run (post_form.lua with WRK_JSON_FILE).
RSS.tsv (optional): lines "label<TAB>run<TAB>pid<TAB>rss_kib<TAB>args", sampled
under load; the summary shows the median RSS per process role.

Each metric's median is taken independently across the runs of a label.
Prints a Markdown table and a JSON line per label (prefixed "SUMMARY ").
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from typing import Any


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with open(argv[1], encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("{"):
                rec = json.loads(line)
                runs[rec.get("label", "")].append(rec)

    rss: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    if len(argv) > 2:
        with open(argv[2], encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 5:
                    continue
                label, _run, _pid, kib, role = parts[:5]
                rss[label][role].append(int(kib))

    def med(values: list[Any]) -> Any:
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    print(
        "| label | runs | req/s | p50 ms | p90 ms | p99 ms | requests | non-2xx "
        "| RSS MiB per process (median under load) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    summaries = []
    for label, recs in runs.items():
        s = {
            "label": label,
            "runs": len(recs),
            "rps": med([r["rps"] for r in recs]),
            "p50_ms": med([r["latency_ms"]["p50"] for r in recs]),
            "p90_ms": med([r["latency_ms"]["p90"] for r in recs]),
            "p99_ms": med([r["latency_ms"]["p99"] for r in recs]),
            "requests": med([r["requests"] for r in recs]),
            "non_2xx": med(
                [r["non_2xx"] if r.get("non_2xx") is not None else r.get("status_errors") for r in recs]
            ),
            "rps_all": [r["rps"] for r in recs],
            "rss_mib": {role: round(med(v) / 1024, 1) for role, v in sorted(rss.get(label, {}).items())},
        }
        summaries.append(s)
        rss_txt = "; ".join(f"{role}: {mib}" for role, mib in s["rss_mib"].items()) or "-"
        print(
            f"| {label} | {s['runs']} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | "
            f"{s['p99_ms']:.2f} | {s['requests']:.0f} | {s['non_2xx']} | {rss_txt} |"
        )
    for s in summaries:
        print("SUMMARY " + json.dumps(s, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
