"""The ``make bench`` report: one table of medians, the target ratios, and the results JSON.

Usage::

    python bench/wrk/report.py --results R.jsonl [R2.jsonl ...] --rss RSS.tsv [RSS2.tsv ...] \
        --cpu CPU.tsv [...] --meta META.json --out bench/results/<timestamp>.json

Inputs are the JSON lines of ``post_form.lua`` (wrk) and ``bench/signin_load.py`` (sign-ins, argon2id
bound), the ``ps`` RSS samples (label, run, pid, rss KiB, role) taken half-way through each run, and the
CPU time of the server's processes (and PostgreSQL's) around each run (label, run, server ticks, db ticks,
wall seconds, ticks per second).
Labels: ``cc-<backend>-w<W>``, ``signin-<backend>-w<W>``, ``argon2-p<P>``, ``bare_jwt-w<W>``,
``node-oidc-provider[-w2]``. Every figure is the median over the runs of its label, each metric taken
independently; error counts are totals over all runs. Exit status 1 when any run had a non-2xx response,
a socket error or a failed sign-in.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from typing import Any

BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
TARGET_BARE = 0.8
TARGET_NODE = 1.0
TARGET_ARGON2 = 0.9


def _median(values: list[Any]) -> Any:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def load_runs(paths: list[str]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("{"):
                    rec = json.loads(line)
                    runs[rec.get("label", "")].append(rec)
    return runs


def load_rss(paths: list[str]) -> dict[str, dict[str, list[int]]]:
    rss: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 5 and parts[3].isdigit():
                    rss[parts[0]][parts[4]].append(int(parts[3]))
    return rss


def load_cpu(paths: list[str]) -> dict[str, list[tuple[float, float, float]]]:
    """label -> [(server CPU s, database CPU s, wall s)] in run order."""
    cpu: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 6:
                    label, _run, server, db, wall, clk = parts[:6]
                    hz = float(clk) or 100.0
                    cpu[label].append((int(server) / hz, int(db) / hz, float(wall)))
    return cpu


def summarize(label: str, recs: list[dict[str, Any]], rss: dict[str, list[int]],
              cpu: list[tuple[float, float, float]] | None = None) -> dict[str, Any]:
    def lat(key: str) -> Any:
        return _median([(r.get("latency_ms") or {}).get(key) for r in recs])

    socket = sum(sum((r.get("socket_errors") or {}).values()) for r in recs)
    non_2xx = sum(int(r["non_2xx"] if r.get("non_2xx") is not None else r.get("status_errors") or 0)
                  for r in recs)
    out: dict[str, Any] = {
        "label": label, "runs": len(recs), "rate": _median([r["rps"] for r in recs]),
        "rate_each": [round(r["rps"], 1) for r in recs],
        "p50_ms": lat("p50"), "p90_ms": lat("p90"), "p99_ms": lat("p99"),
        "non_2xx_total": non_2xx, "socket_errors_total": socket,
        "rss_mib": {role: round(_median(v) / 1024, 1) for role, v in sorted(rss.items())},
    }
    if cpu:
        # Cores the server (and the database) kept busy, and CPU milliseconds per token or sign-in: less
        # sensitive to the machine's background load than the rate itself.
        pairs = [(c, r["rps"]) for c, r in zip(cpu, recs, strict=False) if c[2] > 0]
        out["server_cores"] = _median([c[0] / c[2] for c, _ in pairs])
        out["server_cpu_ms_per_op"] = _median([1000 * c[0] / c[2] / rate for c, rate in pairs if rate])
        if any(c[1] for c, _ in pairs):
            out["db_cores"] = _median([c[1] / c[2] for c, _ in pairs])
            out["db_cpu_ms_per_op"] = _median([1000 * c[1] / c[2] / rate for c, rate in pairs if rate])
    if any("failure_stages" in r for r in recs):
        stages: dict[str, int] = defaultdict(int)
        for r in recs:
            for stage, n in (r.get("failure_stages") or {}).items():
                stages[stage] += n
        out["failure_stages"] = dict(stages)
        out["loadgen_cpu_s_per_s"] = _median([r.get("loadgen_cpu_s_per_s") for r in recs])
    if any("params" in r for r in recs):  # the argon2id bound
        out["params"] = recs[0]["params"]
        out["server_cpu_ms_per_op"] = _median([r.get("cpu_ms_per_op") for r in recs])
        out["server_cores"] = _median([r.get("cores") for r in recs])
    return out


def _describe(label: str) -> tuple[int, str, str]:
    """(sort key, what, configuration) for a label."""
    m = re.fullmatch(r"(cc|signin)-(\w+)-w(\d+)", label)
    if m:
        kind, backend, w = m.groups()
        what = "Consentry client credentials" if kind == "cc" else "Consentry sign-ins (code + PKCE)"
        order = (0 if kind == "cc" else 2) * 100 + (0 if backend == "sqlite" else 10) + int(w)
        return order, what, f"{BACKEND_NAMES.get(backend, backend)}, {w} worker{'s' if w != '1' else ''}"
    m = re.fullmatch(r"argon2-p(\d+)", label)
    if m:
        return 300 + int(m.group(1)), "argon2id bound (verifications)", f"{m.group(1)} process(es)"
    m = re.fullmatch(r"bare_jwt-w(\d+)", label)
    if m:
        return 100 + int(m.group(1)), "baseline: bare RS256 endpoint", f"{m.group(1)} worker(s)"
    if label.startswith("node-oidc-provider"):
        w = "2 workers (cluster)" if label.endswith("-w2") else "1 process"
        return 110 + (2 if label.endswith("-w2") else 1), "baseline: node-oidc-provider", w
    return 900, label, ""


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _rss_text(rss: dict[str, float]) -> str:
    if not rss:
        return "-"
    parts = [f"{rss['worker']} per worker"] if "worker" in rss else []
    parts += [f"{role} {mib}" for role, mib in rss.items() if role not in ("worker", "total")]
    return "; ".join(parts)


def ratios(s: dict[str, dict[str, Any]], workers: list[int]) -> list[dict[str, Any]]:
    """Ratios of the medians; ``per_round`` pairs the k-th run of each side (same round of the run)."""
    out: list[dict[str, Any]] = []

    def add(name: str, num: str, den: str, target: float) -> None:
        if num in s and den in s and s[num]["rate"] and s[den]["rate"]:
            value = s[num]["rate"] / s[den]["rate"]
            each = [round(a / b, 3) for a, b in zip(s[num]["rate_each"], s[den]["rate_each"], strict=False) if b]
            out.append({"ratio": name, "numerator": num, "denominator": den, "value": round(value, 3),
                        "per_round": each, "target": target, "met": value >= target})

    for backend, name in BACKEND_NAMES.items():
        add(f"CC {name} 2 workers / bare RS256 2 workers", f"cc-{backend}-w2", "bare_jwt-w2", TARGET_BARE)
        add(f"CC {name} 2 workers / node-oidc-provider", f"cc-{backend}-w2", "node-oidc-provider", TARGET_NODE)
    for backend, name in BACKEND_NAMES.items():
        for w in workers:
            add(f"sign-ins {name} {w} worker(s) / argon2id bound ({w} process(es))",
                f"signin-{backend}-w{w}", f"argon2-p{w}", TARGET_ARGON2)
    # Informational, and much less sensitive to other load on the machine: the same comparisons made with
    # the CPU time each token or sign-in costs the server (and PostgreSQL) instead of the rate.
    def add_cpu(name: str, num: str, den: str) -> None:
        if num in s and den in s and s[num].get("server_cpu_ms_per_op") and s[den].get("server_cpu_ms_per_op"):
            cost = s[num]["server_cpu_ms_per_op"] + (s[num].get("db_cpu_ms_per_op") or 0)
            value = s[den]["server_cpu_ms_per_op"] / cost
            out.append({"ratio": name, "numerator": num, "denominator": den, "value": round(value, 3),
                        "per_round": [], "target": None, "met": None, "basis": "cpu"})

    for backend, name in BACKEND_NAMES.items():
        add_cpu(f"CPU cost: bare RS256 / CC {name} 2 workers (info)", f"cc-{backend}-w2", "bare_jwt-w2")
        add_cpu(f"CPU cost: node-oidc-provider / CC {name} 2 workers (info)", f"cc-{backend}-w2",
                "node-oidc-provider")
        add_cpu(f"CPU cost: argon2id verification / sign-in, {name} 2 workers (info)", f"signin-{backend}-w2",
                "argon2-p2")
    for w in workers:  # informational: Consentry vs the bare endpoint at the same worker count
        for backend, name in BACKEND_NAMES.items():
            if w != 2:
                add(f"CC {name} {w} worker(s) / bare RS256 {w} worker(s) (info)", f"cc-{backend}-w{w}",
                    f"bare_jwt-w{w}", TARGET_BARE)
    return out


def render(meta: dict[str, Any], summaries: list[dict[str, Any]], rats: list[dict[str, Any]]) -> str:
    lines = []
    m = meta.get("machine", {})
    p = meta.get("params", {})
    lines.append(f"Consentry benchmark {meta.get('timestamp', '')} on {m.get('cpu', '?')}, "
                 f"{m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB; "
                 f"background CPU before/after: {meta.get('background_cpu_before', '?')}% / "
                 f"{meta.get('background_cpu_after', '?')}%")
    lines.append(f"medians of {p.get('runs')} rounds x {p.get('duration_s')} s (warm-up {p.get('warmup_s')} s); "
                 f"wrk -t{p.get('wrk_threads')} -c{p.get('wrk_connections')}; sign-in virtual users: "
                 f"{p.get('signin_concurrency')}; argon2id t={p.get('argon2', {}).get('time_cost')} "
                 f"m={p.get('argon2', {}).get('memory_kib')} KiB p={p.get('argon2', {}).get('parallelism')}; "
                 "load generators on the same cores")
    lines.append("")
    lines.append("| measurement | configuration | per s | p50 ms | p99 ms | per round | errors "
                 "| CPU ms/op server (+db) | RSS MiB under load |")
    lines.append("|---|---|---:|---:|---:|---|---|---:|---|")
    for s in summaries:
        _, what, config = _describe(s["label"])
        errors = s["non_2xx_total"] + s["socket_errors_total"]
        err_text = "0" if not errors else (f"{s['non_2xx_total']} non-2xx/failed, "
                                           f"{s['socket_errors_total']} socket")
        cpu_text = _fmt(s.get("server_cpu_ms_per_op"), 2)
        if s.get("db_cpu_ms_per_op") is not None:
            cpu_text += f" (+{s['db_cpu_ms_per_op']:.2f})"
        digits = 1 if (s["rate"] or 0) < 100 else 0
        lines.append(f"| {what} | {config} | {_fmt(s['rate'], digits)} | {_fmt(s['p50_ms'], 1)} "
                     f"| {_fmt(s['p99_ms'], 1)} | {', '.join(_fmt(x, digits) for x in s['rate_each'])} | {err_text} "
                     f"| {cpu_text} | {_rss_text(s['rss_mib'])} |")
    lines.append("")
    lines.append("| ratio (same run, medians) | value | per round | target | met |")
    lines.append("|---|---:|---|---:|---|")
    for r in rats:
        info = r["ratio"].endswith("(info)")
        met = "-" if info else ("yes" if r["met"] else "NO")
        target = "-" if info else f">= {r['target']}"
        each = ", ".join(f"{x:.2f}" for x in r["per_round"])
        lines.append(f"| {r['ratio']} | {r['value']:.2f} | {each} | {target} | {met} |")
    return "\n".join(lines)


def brief(path: str) -> str:
    """One line about the last run in a results file, for the progress log."""
    with open(path, encoding="utf-8") as fh:
        lines = [line for line in fh if line.startswith("{")]
    if not lines:
        return "no result"
    r = json.loads(lines[-1])
    lat = r.get("latency_ms") or {}
    if r.get("kind") == "argon2":
        return f"{r['rps']:.1f} verifications/s, per process {r.get('per_process')}"
    text = f"{r['rps']:.1f}/s p50 {_fmt(lat.get('p50'), 1)} ms p99 {_fmt(lat.get('p99'), 1)} ms"
    if r.get("kind") == "signin":
        return text + f" failures {r['failures']} {r.get('failure_stages') or ''}"
    socket = sum((r.get("socket_errors") or {}).values())
    return text + f" non-2xx {r.get('non_2xx')} socket errors {socket}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brief", help="print one line about the last run in this results file, and exit")
    parser.add_argument("--results", nargs="+")
    parser.add_argument("--rss", nargs="*", default=[])
    parser.add_argument("--cpu", nargs="*", default=[])
    parser.add_argument("--meta")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.brief:
        print(brief(args.brief))
        return 0
    if not args.results:
        parser.error("--results is required")

    meta: dict[str, Any] = {}
    if args.meta:
        with open(args.meta, encoding="utf-8") as fh:
            meta = json.load(fh)
    runs = load_runs(args.results)
    rss = load_rss(args.rss)
    cpu = load_cpu(args.cpu)
    summaries = sorted((summarize(label, recs, rss.get(label, {}), cpu.get(label)) for label, recs in runs.items()),
                       key=lambda s: _describe(s["label"])[0])
    workers = sorted({int(m.group(1)) for label in runs if (m := re.fullmatch(r"(?:cc|signin)-\w+-w(\d+)", label))}
                     | {int(x) for x in meta.get("params", {}).get("workers", [])})
    rats = ratios({s["label"]: s for s in summaries}, workers)
    text = render(meta, summaries, rats)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({**meta, "summary": summaries, "ratios": rats, "table": text, "runs": runs}, fh, indent=2)
            fh.write("\n")
    bad = [s["label"] for s in summaries if s["non_2xx_total"] or s["socket_errors_total"]]
    if bad:
        print(f"\nERRORS in: {', '.join(bad)} (non-2xx responses, failed sign-ins or socket errors)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
