"""Load generator for password sign-ins (authorization code + PKCE), and the argon2id bound they are held to.

Two subcommands, each printing ONE JSON line (and appending it to ``--json-file`` when given) in the same
shape as ``bench/wrk/post_form.lua``, so ``bench/wrk/summarize.py`` reads both.

``load``: N concurrent virtual users (asyncio + httpx, one keep-alive connection each) for a bounded time.
Each iteration is one complete browser sign-in of a public client whose tenant-wide consent already exists:

1. ``GET /{tenant}/oauth2/v2.0/authorize`` (response_type=code, PKCE S256, redirect ``http://localhost``)
   -> 302 to the sign-in page;
2. ``GET`` the sign-in page -> 200; read the hidden ``csrf_token`` and ``interaction`` fields;
3. ``POST`` username and password -> 302 to ``http://localhost?code=...&state=...`` (argon2id runs here);
4. ``POST /{tenant}/oauth2/v2.0/token`` (authorization_code + code_verifier) -> 200 with access, id and
   refresh tokens.

The cookie jar is emptied at the start of every iteration, so every iteration really signs in (no session
reuse). Only iterations that *finish* inside the measured window count; the latency is that of the whole
iteration. Any unexpected status or missing field counts as a failure, by stage.

``argon2``: how many argon2id verifications per second this machine does with the configured parameters
(``CONSENTRY_ARGON2_*``, read through ``consentry.config.Settings``) using Consentry's own
``PasswordHasher``, in P processes for the same duration: the bound that sign-ins are compared with. It
also reports the CPU time one verification takes, which the machine's background load does not inflate.

Usage::

    python bench/signin_load.py load --base-url http://127.0.0.1:8443 --seed seed.json \
        --concurrency 8 --duration 10 --warmup 3 --label signin-sqlite-w1 [--json-file results.jsonl]
    python bench/signin_load.py argon2 --processes 2 --duration 10 --label argon2-p2 [--json-file ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing as mp
import os
import re
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


# --------------------------------------------------------------------------------------------- load --
class Failure(Exception):
    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage, self.detail = stage, detail


@dataclass
class Tally:
    t0: float = 0.0
    t1: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def in_window(self, t: float) -> bool:
        return self.t0 <= t <= self.t1


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _expect(stage: str, response: Any, status: int) -> None:
    if response.status_code != status:
        raise Failure(stage, f"HTTP {response.status_code}: {response.text[:200]!r}")


async def sign_in_once(client: Any, seed: dict[str, Any], username: str) -> None:
    tenant, client_id, redirect = seed["tenant_id"], seed["public_client_id"], seed["redirect_uri"]
    client.cookies.clear()  # a fresh browser: no session, no CSRF cookie
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    r = await client.get(f"/{tenant}/oauth2/v2.0/authorize", params={
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect, "scope": seed["signin_scope"],
        "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
        "response_mode": "query"})
    _expect("authorize", r, 302)
    login = r.headers.get("location", "")
    if "/login?" not in login:
        raise Failure("authorize", f"redirected to {login[:120]!r}, not the sign-in page")

    r = await client.get(login)
    _expect("signin_page", r, 200)
    fields = dict(_HIDDEN.findall(r.text))
    action = _ACTION.search(r.text)
    if not fields.get("csrf_token") or not fields.get("interaction") or not action:
        raise Failure("signin_page", "no csrf_token / interaction / form action in the page")

    r = await client.post(action.group(1), data={**fields, "username": username, "password": seed["password"]})
    _expect("signin_submit", r, 302)
    target = r.headers.get("location", "")
    if not target.startswith(redirect):
        raise Failure("signin_submit", f"redirected to {target[:120]!r}")
    params = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    if "code" not in params or params.get("state") != state:
        raise Failure("signin_submit", f"no code or wrong state in the redirect: {sorted(params)}")

    r = await client.post(f"/{tenant}/oauth2/v2.0/token", data={
        "grant_type": "authorization_code", "client_id": client_id, "code": params["code"],
        "redirect_uri": redirect, "code_verifier": verifier, "scope": seed["signin_scope"]})
    _expect("token", r, 200)
    body = r.json()
    missing = [k for k in ("access_token", "id_token", "refresh_token") if not body.get(k)]
    if missing:
        raise Failure("token", f"missing {missing}")


async def virtual_user(index: int, base_url: str, seed: dict[str, Any], tally: Tally, timeout: float) -> None:
    import httpx

    users = seed["users"]
    username = users[index % len(users)]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=timeout, limits=limits,
                                 trust_env=False) as client:
        while time.monotonic() < tally.t1:
            start = time.monotonic()
            try:
                await sign_in_once(client, seed, username)
                ok, stage, detail = True, "", ""
            except Failure as exc:
                ok, stage, detail = False, exc.stage, exc.detail
            except Exception as exc:  # transport errors, timeouts, bad JSON
                ok, stage, detail = False, f"error:{type(exc).__name__}", str(exc)[:200]
            end = time.monotonic()
            if not tally.in_window(end):
                continue
            if ok:
                tally.latencies.append(end - start)
            else:
                tally.failures[stage] += 1
                tally.examples.setdefault(stage, detail)
            if not ok:
                await asyncio.sleep(0.05)  # do not spin on a broken server


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.seed, encoding="utf-8") as fh:
        seed = json.load(fh)
    now = time.monotonic()
    tally = Tally(t0=now + args.warmup, t1=now + args.warmup + args.duration)
    cpu0 = time.process_time()
    tasks = [asyncio.create_task(virtual_user(i, args.base_url, seed, tally, args.timeout))
             for i in range(args.concurrency)]
    # In-flight iterations finish after the window closes (they no longer count); bound that wait.
    done, pending = await asyncio.wait(tasks, timeout=args.warmup + args.duration + args.timeout + 5)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception():
            raise task.exception()  # type: ignore[misc]
    cpu = time.process_time() - cpu0
    lat = sorted(x * 1000 for x in tally.latencies)
    n_fail = sum(tally.failures.values())
    return {
        "label": args.label, "kind": "signin", "requests": len(lat), "duration_s": args.duration,
        "rps": len(lat) / args.duration, "concurrency": args.concurrency,
        "latency_ms": {"p50": _percentile(lat, 50), "p90": _percentile(lat, 90), "p99": _percentile(lat, 99),
                       "max": lat[-1] if lat else None, "mean": statistics.fmean(lat) if lat else None},
        "non_2xx": n_fail, "failures": n_fail, "failure_stages": dict(tally.failures),
        "failure_examples": tally.examples,
        # The load generator shares the machine's cores with the server: how much it took.
        "loadgen_cpu_s_per_s": round(cpu / (args.warmup + args.duration), 3),
    }


# ------------------------------------------------------------------------------------------- argon2 --
def _argon2_worker(start_at: float, stop_at: float, queue: Any) -> None:
    from consentry.config import Settings
    from consentry.services.credentials import PasswordHasher

    s = Settings()
    hasher = PasswordHasher(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism)
    password = secrets.token_urlsafe(12)
    stored = hasher.hash(password)
    while time.time() < start_at:
        time.sleep(0.005)
    n = 0
    cpu0 = time.process_time()
    while time.time() < stop_at:
        if not hasher.verify(stored, password):
            raise SystemExit("argon2 verification failed")
        n += 1
    queue.put((n, time.process_time() - cpu0))


def run_argon2(args: argparse.Namespace) -> dict[str, Any]:
    from consentry.config import Settings

    s = Settings()
    queue: Any = mp.get_context("fork").Queue()
    start_at = time.time() + 1.5  # all processes have hashed their password and wait
    stop_at = start_at + args.duration
    procs = [mp.get_context("fork").Process(target=_argon2_worker, args=(start_at, stop_at, queue))
             for _ in range(args.processes)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=args.duration + 120) for _ in procs]
    for p in procs:
        p.join()
    counts = [n for n, _ in answers]
    total, cpu = sum(counts), sum(c for _, c in answers)
    return {
        "label": args.label, "kind": "argon2", "requests": total, "duration_s": args.duration,
        "rps": total / args.duration, "processes": args.processes, "per_process": counts,
        # CPU time per verification: what one costs when the process is not waiting for a core.
        "cpu_ms_per_op": round(1000 * cpu / total, 2) if total else None,
        "cores": round(cpu / args.duration, 2),
        "params": {"time_cost": s.argon2_time_cost, "memory_kib": s.argon2_memory_kib,
                   "parallelism": s.argon2_parallelism},
        "latency_ms": {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}, "non_2xx": 0,
    }


# --------------------------------------------------------------------------------------------- main --
def _emit(result: dict[str, Any], json_file: str | None) -> None:
    line = json.dumps(result, sort_keys=True)
    print(line, flush=True)
    if json_file:
        with open(json_file, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="sign-in load against a running server")
    load.add_argument("--base-url", required=True)
    load.add_argument("--seed", required=True, help="the JSON file bench/seed.py printed")
    load.add_argument("--concurrency", type=int, default=8)
    load.add_argument("--duration", type=float, default=10.0)
    load.add_argument("--warmup", type=float, default=2.0)
    load.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    load.add_argument("--label", default="signin")
    load.add_argument("--json-file")
    argon = sub.add_parser("argon2", help="argon2id verifications per second in P processes")
    argon.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    argon.add_argument("--duration", type=float, default=10.0)
    argon.add_argument("--label", default="argon2")
    argon.add_argument("--json-file")
    args = parser.parse_args(argv)

    if args.command == "load":
        try:
            import uvloop
        except ImportError:
            result = asyncio.run(run_load(args))
        else:
            result = uvloop.run(run_load(args))
        _emit(result, args.json_file)
        if result["failures"]:
            print(f"signin_load: {result['failures']} failed iterations {result['failure_stages']} "
                  f"e.g. {result['failure_examples']}", file=sys.stderr)
        return 0 if result["requests"] > 0 else 1
    _emit(run_argon2(args), args.json_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
