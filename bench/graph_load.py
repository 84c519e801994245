"""The Graph paging benchmark's client side (``make bench``, phase ``graph``): token, walk, urls, report.

``bench/run.sh`` seeds a tenant with ``bench/graph_seed.py``, starts ``consentry serve --http --workers 1``
and then, with this script:

``token``
    gets the seeded administrator's access token for Microsoft Graph by a password (ROPC) request of the
    Microsoft Graph Command Line Tools client to ``/{tenant}/oauth2/v2.0/token`` (plain HTTP POST), retrying
    while the server starts; writes it to ``--out`` (mode 0600) after checking its ``scp``.
``walk``
    builds the URLs to measure and checks each once (status, item count, appId). The deep pages are found
    by following ``@odata.nextLink`` from the first page, as a client would: pages of ``$top=999`` with
    ``$select=id`` (checking that the ids only ever increase) up to the page before the target, then one
    ``$top=100`` page, whose ``@odata.nextLink`` — used verbatim — is the deep URL: page ``--depth`` of the
    list in pages of 100 (page 901 of 1,001 for 100,003 service principals). The walk stops early when
    ``--budget`` seconds run out; the deep page is then the deepest reached, and the targets file says so.
    When ``/v1.0/oauth2PermissionGrants`` does not answer, the per-client
    ``/servicePrincipals/{id}/oauth2PermissionGrants`` is not a substitute (ten grants per client here), so
    the grants targets are marked pending.
``urls``
    prints ``name<TAB>url path`` per target, for run.sh's loop (wrk with ``bench/wrk/get_bearer.lua``).
``report``
    the table (same columns as ``bench/wrk/report.py``'s) and the deep/first ratios, and a ``graph`` key
    added to the results JSON.

Labels of the JSON lines: ``graph-<backend>-<target>``, target one of ``sp-first``, ``sp-deep``,
``sp-filter``, ``grants-first``, ``grants-deep``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent / "wrk"))
from report import load_cpu, load_rss, load_runs, summarize

PAGE = 100
WALK_PAGE = 999  # Graph's largest $top
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
COLLECTIONS = {"sp": ("servicePrincipals", "service_principals"),
               "grants": ("oauth2PermissionGrants", "oauth2_permission_grants")}
TARGET_ORDER = ("sp-first", "sp-deep", "sp-filter", "grants-first", "grants-deep")
TARGET_DEEP_RATIO = 0.8  # deep page's rate / first page's rate


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def log(message: str) -> None:
    print(f"graph_load: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ token --
def cmd_token(args: argparse.Namespace) -> int:
    seed = _load(args.seed)
    url = f"{args.base_url}/{seed['tenant_id']}/oauth2/v2.0/token"
    form = {"client_id": seed["client_id"], "grant_type": "password", "username": seed["username"],
            "password": seed["password"], "scope": seed["scope"]}
    deadline = time.monotonic() + args.wait
    while True:
        try:
            response = httpx.post(url, data=form, timeout=10)
            break
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                log(f"the token endpoint {url} did not answer within {args.wait} s: {exc}")
                return 1
            time.sleep(0.2)
    if response.status_code != 200:
        log(f"token request answered {response.status_code}: {response.text[:300]}")
        return 1
    body = response.json()
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    scp = set(str(claims.get("scp", "")).split())
    if body.get("token_type") != "Bearer" or not set(seed["granted_scope"].split()) <= scp:
        log(f"unexpected token: token_type {body.get('token_type')}, scp {sorted(scp)}")
        return 1
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body["access_token"])
    return 0


# ------------------------------------------------------------------------------------------- walk --
class Walker:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120)

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        response = self.client.get(self.base_url + path)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"raw": response.text[:300]}

    @staticmethod
    def relative(link: str) -> str:
        parts = urlsplit(link)
        return f"{parts.path}?{parts.query}"

    @staticmethod
    def with_params(link: str, **params: str | None) -> str:
        """The path and query of ``link`` with the given query options set (or removed when None)."""
        parts = urlsplit(link)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        for name, value in params.items():
            if value is None:
                query.pop(f"${name}", None)
            else:
                query[f"${name}"] = value
        return f"{parts.path}?{urlencode(query, safe='$')}"

    def check(self, path: str, items: int, app_id: str | None = None) -> str | None:
        """None when ``path`` answers 200 with ``items`` items (and that appId); the problem otherwise."""
        status, body = self.get(path)
        if status != 200:
            return f"{path} answered {status}: {json.dumps(body)[:300]}"
        value = body.get("value") or []
        if len(value) != items:
            return f"{path} gave {len(value)} items instead of {items}"
        if app_id is not None and value[0].get("appId") != app_id:
            return f"{path} gave appId {value[0].get('appId')} instead of {app_id}"
        return None

    def deep_page(self, collection: str, total: int, depth: float, budget: float) -> dict[str, Any]:
        """Follow nextLinks to page ``depth`` (of ``ceil(total / 100)``) within ``budget`` seconds."""
        pages_total = -(-total // PAGE)
        wanted_page = max(2, min(pages_total, round(depth * pages_total)))
        before = (wanted_page - 2) * PAGE  # items before the page whose nextLink we keep
        started = time.monotonic()
        seen, requests, last_id = 0, 0, ""
        link = f"/v1.0/{collection}?$top={WALK_PAGE}&$select=id"
        complete = True
        while seen < before:
            if time.monotonic() - started > budget:
                complete = False
                break
            status, body = self.get(self.with_params(link, top=str(min(WALK_PAGE, before - seen))))
            requests += 1
            if status != 200:
                raise SystemExit(f"walking {collection}: {link} answered {status}: {json.dumps(body)[:300]}")
            ids = [item["id"] for item in body.get("value") or []]
            if not ids or ids != sorted(ids) or ids[0] <= last_id:
                raise SystemExit(f"walking {collection}: page {requests} is empty or out of order")
            last_id, seen = ids[-1], seen + len(ids)
            if "@odata.nextLink" not in body:
                raise SystemExit(f"walking {collection}: no nextLink after {seen} items of {total}")
            link = self.relative(body["@odata.nextLink"])
        # One ordinary page of 100 (the one before the target): its nextLink, verbatim, is the deep URL.
        last = self.with_params(link, top=str(PAGE), select=None) if seen else f"/v1.0/{collection}?$top={PAGE}"
        status, body = self.get(last)
        requests += 1
        if status != 200 or "@odata.nextLink" not in body:
            raise SystemExit(f"walking {collection}: {last} answered {status} without a nextLink")
        page = seen // PAGE + 2
        return {"path": self.relative(body["@odata.nextLink"]), "page": page, "pages_total": pages_total,
                "items_before": seen + PAGE, "wanted_page": wanted_page, "complete": complete,
                "requests": requests, "seconds": round(time.monotonic() - started, 1)}


def cmd_walk(args: argparse.Namespace) -> int:
    seed = _load(args.seed)
    token = Path(args.token_file).read_text().strip()
    walker = Walker(args.base_url, token)
    targets: list[dict[str, Any]] = []
    walks: dict[str, Any] = {}
    pending: dict[str, str] = {}
    problems: list[str] = []
    for key, (collection, table) in COLLECTIONS.items():
        first = f"/v1.0/{collection}?$top={PAGE}"
        status, _ = walker.get(first)
        if status in (404, 405) and key == "grants":
            pending[key] = f"GET /v1.0/{collection} answered {status}: not measured"
            log(pending[key])
            continue
        total = int(seed["counts"][table])
        targets.append({"name": f"{key}-first", "path": first, "items": PAGE, "page": 1,
                        "pages_total": -(-total // PAGE)})
        walk = walker.deep_page(collection, total, args.depth, args.budget)
        walks[key] = walk
        note = "" if walk["complete"] else f" (out of time before page {walk['wanted_page']})"
        log(f"{collection}: page {walk['page']} of {walk['pages_total']} reached in {walk['requests']} requests, "
            f"{walk['seconds']} s{note}")
        targets.append({"name": f"{key}-deep", "path": walk["path"], "items": PAGE, "page": walk["page"],
                        "pages_total": walk["pages_total"]})
        if key == "sp":
            expression = "appId eq '" + seed["filter_app_id"] + "'"
            path = f"/v1.0/servicePrincipals?$filter={quote(expression)}"
            targets.append({"name": "sp-filter", "path": path, "items": 1, "app_id": seed["filter_app_id"]})
    for target in targets:
        problem = walker.check(target["path"], target["items"], target.get("app_id"))
        if problem:
            problems.append(problem)
            log(f"ERROR: {problem}")
    Path(args.out).write_text(json.dumps({"targets": targets, "walks": walks, "pending": pending,
                                          "problems": problems}, indent=2))
    return 1 if problems or not targets else 0


def cmd_urls(args: argparse.Namespace) -> int:
    for target in _load(args.targets)["targets"]:
        print(f"{target['name']}\t{target['path']}")
    return 0


# ----------------------------------------------------------------------------------------- report --
def _fmt(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _what(target: dict[str, Any] | None, name: str) -> str:
    key, kind = name.split("-", 1)
    collection = COLLECTIONS[key][0]
    if kind == "filter":
        return "Graph servicePrincipals $filter=appId eq '…' (near the end)"
    if kind == "first" or target is None:
        return f"Graph {collection} $top=100, first page"
    return f"Graph {collection} $top=100, page {target['page']:,} of {target['pages_total']:,}"


def cmd_report(args: argparse.Namespace) -> int:
    meta: dict[str, Any] = _load(args.meta) if args.meta else {}
    runs = load_runs(args.results) if args.results else {}
    rss = load_rss(args.rss)
    cpu = load_cpu(args.cpu)
    runs = {label: recs for label, recs in runs.items() if label.startswith("graph-")}
    seeds: dict[str, Any] = {}
    for path in args.seeds:
        if not Path(path).exists():
            continue
        seed = _load(path)
        seeds[seed["backend"]] = {k: seed[k] for k in ("counts", "requested", "timings", "filter_app_id")}
    targets: dict[str, Any] = {}
    for path in args.targets:
        m = re.search(r"targets-(\w+)\.json$", path)
        if m and Path(path).exists():
            targets[m.group(1)] = _load(path)

    def sort_key(label: str) -> tuple[int, int]:
        backend, name = label[len("graph-"):].split("-", 1)
        order = TARGET_ORDER.index(name) if name in TARGET_ORDER else 99
        return (0 if backend == "sqlite" else 1, order)

    summaries = []
    for label in sorted(runs, key=sort_key):
        s = summarize(label, runs[label], rss.get(label, {}), cpu.get(label))
        backend, name = label[len("graph-"):].split("-", 1)
        target = next((t for t in targets.get(backend, {}).get("targets", []) if t["name"] == name), None)
        s.update(backend=backend, target=name, what=_what(target, name), path=target and target["path"],
                 page=target and target.get("page"), pages_total=target and target.get("pages_total"))
        summaries.append(s)
    by_label = {s["label"]: s for s in summaries}

    ratios = []
    for backend in BACKEND_NAMES:
        for key, (collection, _table) in COLLECTIONS.items():
            first, deep = by_label.get(f"graph-{backend}-{key}-first"), by_label.get(f"graph-{backend}-{key}-deep")
            if not first or not deep or not first["rate"]:
                continue
            value = deep["rate"] / first["rate"]
            each = [round(d / f, 3) for d, f in zip(deep["rate_each"], first["rate_each"], strict=False) if f]
            ratios.append({"ratio": f"{collection} {BACKEND_NAMES[backend]}: page {deep['page']:,} / first page, "
                                    "requests/s", "value": round(value, 3), "per_round": each,
                           "target": TARGET_DEEP_RATIO, "met": value >= TARGET_DEEP_RATIO})
            if first["p99_ms"] and deep["p99_ms"]:
                ratios.append({"ratio": f"{collection} {BACKEND_NAMES[backend]}: page {deep['page']:,} / first "
                                        "page, p99 (info)", "value": round(deep["p99_ms"] / first["p99_ms"], 3),
                               "per_round": [], "target": None, "met": None})

    m = meta.get("machine", {})
    lines = []
    lines.append(f"Consentry Graph paging benchmark {meta.get('timestamp', '')} on {m.get('cpu', '?')}, "
                 f"{m.get('cores', '?')} cores; background CPU before/after: "
                 f"{meta.get('background_cpu_before', '?')}% / {meta.get('background_cpu_after', '?')}%")
    lines.append(f"medians of {args.runs} rounds x {args.duration} s (warm-up {args.warmup} s); wrk -t{args.threads} "
                 f"-c{args.connections}; consentry serve --http --workers 1; load generator on the same cores")
    for backend, seed in seeds.items():
        c, tm = seed["counts"], seed["timings"]
        walks = targets.get(backend, {}).get("walks", {})
        walk_text = "; ".join(f"{COLLECTIONS[k][0]} page {w['page']:,} reached in {w['requests']} requests, "
                              f"{w['seconds']} s" + ("" if w["complete"] else " (walk budget ran out)")
                              for k, w in walks.items())
        lines.append(f"{BACKEND_NAMES.get(backend, backend)}: {c['service_principals']:,} service principals, "
                     f"{c['oauth2_permission_grants']:,} grants in the tenant, seeded in {tm['total_s']} s "
                     f"(service principals {tm['service_principals_s']} s, grants {tm['grants_s']} s); {walk_text}")
        if seed["requested"]["grants"] < 1_000_000 or seed["requested"]["service_principals"] < 100_000:
            lines.append(f"NOTE: {BACKEND_NAMES.get(backend, backend)} was seeded with fewer objects than the "
                         f"issue asks for (BENCH_GRAPH_SERVICE_PRINCIPALS / BENCH_GRAPH_GRANTS).")
        for key, reason in targets.get(backend, {}).get("pending", {}).items():
            lines.append(f"PENDING ({BACKEND_NAMES.get(backend, backend)}, {key}): {reason}")
    lines.append("")
    lines.append("| measurement | configuration | per s | p50 ms | p99 ms | per round | errors "
                 "| CPU ms/op server (+db) | RSS MiB under load |")
    lines.append("|---|---|---:|---:|---:|---|---|---:|---|")
    for s in summaries:
        errors = s["non_2xx_total"] + s["socket_errors_total"]
        err_text = "0" if not errors else f"{s['non_2xx_total']} non-2xx, {s['socket_errors_total']} socket"
        cpu_text = _fmt(s.get("server_cpu_ms_per_op"), 2)
        if s.get("db_cpu_ms_per_op") is not None:
            cpu_text += f" (+{s['db_cpu_ms_per_op']:.2f})"
        digits = 1 if (s["rate"] or 0) < 100 else 0
        rss_text = f"{s['rss_mib']['worker']}" if "worker" in s["rss_mib"] else "-"
        lines.append(f"| {s['what']} | {BACKEND_NAMES.get(s['backend'], s['backend'])}, 1 worker "
                     f"| {_fmt(s['rate'], digits)} | {_fmt(s['p50_ms'], 1)} | {_fmt(s['p99_ms'], 1)} "
                     f"| {', '.join(_fmt(x, digits) for x in s['rate_each'])} | {err_text} | {cpu_text} | {rss_text} |")
    lines.append("")
    lines.append("| ratio (same run, medians) | value | per round | target | met |")
    lines.append("|---|---:|---|---:|---|")
    for r in ratios:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        target = "-" if r["target"] is None else f">= {r['target']}"
        lines.append(f"| {r['ratio']} | {r['value']:.2f} | {', '.join(f'{x:.2f}' for x in r['per_round'])} "
                     f"| {target} | {met} |")
    table = "\n".join(lines)
    print(table)

    graph = {"params": {"duration_s": args.duration, "runs": args.runs, "warmup_s": args.warmup,
                        "wrk_threads": args.threads, "wrk_connections": args.connections, "workers": 1},
             "seeds": seeds, "targets": targets, "summary": summaries, "ratios": ratios, "table": table,
             "runs": runs}
    if args.out:
        out = Path(args.out)
        document = json.loads(out.read_text()) if out.exists() else dict(meta)
        document["graph"] = graph
        out.write_text(json.dumps(document, indent=2) + "\n")
    bad = [s["label"] for s in summaries if s["non_2xx_total"] or s["socket_errors_total"]]
    problems = [p for t in targets.values() for p in t.get("problems", [])]
    if bad or problems or not summaries:
        print(f"\nERRORS in: {', '.join(bad + problems) or 'no graph measurement'}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("token", help="the administrator's Graph token (ROPC), written to --out")
    p.add_argument("--base-url", required=True)
    p.add_argument("--seed", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--wait", type=float, default=30, help="seconds to wait for the server to answer")
    p = sub.add_parser("walk", help="find the deep pages and check every URL to measure")
    p.add_argument("--base-url", required=True)
    p.add_argument("--seed", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--depth", type=float, default=0.9, help="the deep page, as a fraction of the pages")
    p.add_argument("--budget", type=float, default=60, help="seconds of walking per collection, at most")
    p = sub.add_parser("urls", help="name<TAB>path per target")
    p.add_argument("--targets", required=True)
    p = sub.add_parser("report", help="the table, the ratios and the results JSON")
    p.add_argument("--results", nargs="*", default=[])
    p.add_argument("--rss", nargs="*", default=[])
    p.add_argument("--cpu", nargs="*", default=[])
    p.add_argument("--seeds", nargs="*", default=[])
    p.add_argument("--targets", nargs="*", default=[])
    p.add_argument("--meta")
    p.add_argument("--out")
    for name, default in (("duration", 10), ("runs", 3), ("warmup", 2), ("threads", 2), ("connections", 4)):
        p.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args(argv)
    return {"token": cmd_token, "walk": cmd_walk, "urls": cmd_urls, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
