"""Summarize a py-spy profile recorded with ``--format raw`` (collapsed stacks) as tables of top frames.

Usage::

    py-spy record -d 10 -r 200 -f raw -o /tmp/p.raw --pid PID [-t] [--native]
    python bench/wrk/profile_top.py /tmp/p.raw [--top 25] [--match consentry] [--groups] [--drop-idle]

Prints the share of samples that each function is *on the stack* (inclusive) and *at the top of the
stack* (self), plus the same inclusive table restricted to frames whose file path contains ``--match``
(default ``consentry``), which is where our own time goes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _key(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


# Where a token request's time goes, first match wins (frames as ``function (file:line)``).
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("socket writes (uvicorn transport.write)", ("@leaf:RequestResponseCycle.send",)),
    ("logging", ("logging/__init__", "structlog")),
    ("directory-version check per request (services/cache.pinned_version)", ("pinned_version",)),
    ("JWT signing (Keyring.sign, joserfc RS256)", ("Keyring.sign",)),
    ("token logic (client lookup and auth, claims; TokenServer.respond rest)", ("TokenServer.respond",)),
    ("sign-in log thread (SignInLog)", ("SignInLog",)),
    ("request parsing (protocol_request, read_form, request_ids)", ("protocol_request", "read_form", "request_ids")),
    ("thread-pool hand-off (run_in_threadpool, anyio worker threads)",
     ("run_in_threadpool", "WorkerThread.run", "run_sync")),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("uvicorn HTTP parsing", ("HttpToolsProtocol",)),
    ("Starlette routing, middleware, responses", ("starlette/", "ObserveMiddleware")),
    ("other (event loop, ...)", ("",)),
]
# Top frames of a thread that waits. Runner.run is uvloop's loop in C: mostly epoll waits when sampled
# without --gil (with --gil it is uvloop's own C work, and counts).
IDLE_LEAVES = ("Condition.wait", "Queue.get", "Event.wait", "select (", "sleep (", "poll (", "_recv_bytes",
               "Connection.recv", "Connection.poll", "Connection._recv", "Runner.run")


def _group(frames: list[str]) -> str:
    for name, needles in GROUPS:
        for needle in needles:
            if needle.startswith("@leaf:"):
                if needle[6:] in frames[-1]:
                    return name
            elif any(needle in f for f in frames):
                return name
    return GROUPS[-1][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="consentry")
    parser.add_argument("--groups", action="store_true",
                        help="also break the samples down into the token path's groups (GROUPS)")
    parser.add_argument("--drop-idle", action="store_true",
                        help="drop samples whose top frame is a wait (threads recorded without --gil)")
    args = parser.parse_args(argv)
    groups: Counter[str] = Counter()
    threads: Counter[str] = Counter()

    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    with open(args.raw, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count_s = line.rpartition(" ")
            try:
                count = int(count_s)
            except ValueError:
                continue
            frames = [f for f in stack.split(";") if f]
            thread = next((re.sub(r"\(\d+\)", "", f) for f in frames if f.startswith("thread ")), "")
            frames = [f for f in frames if not f.startswith(("process ", "thread "))]
            if not frames or (args.drop_idle and frames[-1].startswith(IDLE_LEAVES)):
                continue
            total += count
            groups[_group(frames)] += count
            threads[thread] += count
            keys = [_key(f) for f in frames]
            self_[keys[-1]] += count
            for k in set(keys):
                inclusive[k] += count
            for k in {k for k, f in zip(keys, frames, strict=True) if args.match in f}:
                ours[k] += count

    def table(title: str, counter: Counter[str]) -> None:
        print(f"\n{title} ({total} samples)")
        for name, n in counter.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {name}")

    if args.groups:
        print(f"groups ({total} samples)")
        for name, _ in GROUPS:
            print(f"{100 * groups[name] / max(total, 1):6.1f}%  {name}")
        if len(threads) > 1:
            table("threads", threads)
    table("self (top of stack)", self_)
    table("inclusive (on the stack)", inclusive)
    table(f"inclusive, frames matching {args.match!r}", ours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
