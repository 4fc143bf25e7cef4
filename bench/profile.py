"""Profile the data plane's hot path: the bench's stack (nginx fake, NATS, control plane, one Granian worker pinned to
the gateway core, governance on), wrk against /v1/chat/completions, first alone (req/s and the worker's CPU ms per
request), then again while py-spy samples the Granian worker's threads while they hold the GIL. Prints the top
functions by own time and by cumulative time, as percentages of those samples (the worker's Python time).

CPU ms per request is the figure to compare between two runs on a busy machine: wall-clock req/s moves with whatever
else runs, the CPU the worker spends per request much less.

Usage: python -m bench.profile [--seconds 10] [--connections 32] [--stream] [--keys 0] [--top 25] [--out FILE.md]
Needs wrk and nginx (`make bench-tools`) and py-spy (`pip install py-spy`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgspec

from bench import procstat, wrk
from bench.nginx import start_fake_nginx
from bench.seed import seed
from bench.stack import Stack, start_stack, wait_converged
from waypost.processes import Child, free_port, granian_argv, http_ok

GATEWAY_CPU, LOAD_CPU = 0, 1
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
_RSS_PAGES_FIELD = 1


# frames every sample of the worker carries (process start-up, the server loop): not informative as cumulative time
_ROOT_PACKAGES = frozenset({"granian", "click", "multiprocessing"})


class Profile(msgspec.Struct, frozen=True):
    samples: int
    own: list[tuple[str, float]]  # (function, % of samples where it is the innermost frame)
    cumulative: list[tuple[str, float]]  # (function, % of samples where it is anywhere on the stack)
    packages: list[tuple[str, float]]  # (top-level package of the innermost frame, % of samples)


def _file_of(frame: str) -> str:
    """`func (path/file.py:12)` → `path/file.py`."""
    start = frame.rfind(" (")
    return frame[start + 2 : frame.rfind(":")] if start >= 0 else ""


def _package_of(frame: str) -> str:
    path = _file_of(frame)
    if path.startswith("granian"):
        return "granian (incl. native server and event loop time)"
    return path.split("/", 1)[0] if "/" in path else path or "?"


def summarize(collapsed: str, *, top: int) -> Profile:
    """Read py-spy's raw (collapsed) output, `frame;frame;...;leaf COUNT` per line, into the top own-time and
    cumulative functions. A function recursing in one stack counts once for that stack."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame]
        if not frames or frames[0].startswith("process "):  # py-spy's optional process-id root frame
            frames = frames[1:]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package_of(frames[-1])] += count
        for frame in set(frames):
            if _file_of(frame).split("/", 1)[0] not in _ROOT_PACKAGES:
                cumulative[frame] += count

    def ranked(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * n / total) for name, n in counter.most_common(top)] if total else []

    return Profile(samples=total, own=ranked(own), cumulative=ranked(cumulative), packages=ranked(packages))


def markdown(profile: Profile, *, heading: str) -> str:
    lines = [f"{heading} ({profile.samples:,} samples)", "", "| own % | function |", "| ---: | --- |"]
    lines += [f"| {share:.1f} | `{name}` |" for name, share in profile.own]
    lines += ["", "| own % | package of the innermost frame |", "| ---: | --- |"]
    lines += [f"| {share:.1f} | {name} |" for name, share in profile.packages]
    lines += ["", "| cumulative % | function |", "| ---: | --- |"]
    lines += [f"| {share:.1f} | `{name}` |" for name, share in profile.cumulative]
    return "\n".join(lines)


def worker_pid(pgid: int) -> int:
    """The Granian worker: the largest process of the group other than the master (the master if it is alone)."""
    best, best_rss = pgid, -1
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        try:
            stat = (entry / "stat").read_text()
            rss = int((entry / "statm").read_text().split()[_RSS_PAGES_FIELD])
        except (OSError, ValueError, IndexError):
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid and rss > best_rss:
            best, best_rss = int(entry.name), rss
    return best


def py_spy() -> str:
    found = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin")
    if found is None:
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")
    return found


def _start_reverted(stack: Stack, names: str, *, children: list[Child]) -> str:
    """A data plane with some hot-path changes undone (bench/hotpath_baseline.py), as start_data_plane starts one."""
    port = free_port()
    env = {**stack.env, "WAYPOST_CACHE_DIR": str(stack.workdir / "cache-reverted"), "WAYPOST_BENCH_REVERT": names}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    argv = granian_argv("bench.hotpath_baseline:make_reverted_app", host="127.0.0.1", port=port, workers=1)
    child = Child(
        "dataplane-reverted", ["taskset", "-c", str(GATEWAY_CPU), *argv], env=env, log_path=stack.logs / "r.log"
    )
    children.append(child)
    url = f"http://127.0.0.1:{port}"
    child.wait_until(http_ok(f"{url}/v1/models", {"Authorization": f"Bearer {stack.key}"}), what="ready", timeout=180)
    return url


def run(args: argparse.Namespace) -> str:
    spy = py_spy()
    body: dict[str, object] = {"model": "bench", "messages": MESSAGES, "max_tokens": 16}
    if args.stream:
        body = {**body, "model": "bench-stream", "stream": True}
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="waypost-profile-") as name:
        folder = Path(name)
        try:
            fake_url = start_fake_nginx(folder=folder / "fake", port=free_port(), cpu=LOAD_CPU, children=children)
            stack = start_stack(folder / "waypost", fake_url, cpu=GATEWAY_CPU, children=children)
            gateway_url = stack.gateway_url
            if args.revert:
                children.pop().stop()  # the current data plane makes room for the reverted one
                gateway_url = _start_reverted(stack, args.revert, children=children)
            plane = children[-1].process.pid
            if args.keys:
                seed(folder / "waypost" / "bench.db", keys=args.keys, routes=args.routes)
                wait_converged(stack.admin_url)
            url = f"{gateway_url}/v1/chat/completions"
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.key}"}

            def load(seconds: int) -> wrk.WrkResult:
                return wrk.run(
                    url, body=body, headers=headers, connections=args.connections, seconds=seconds, cpu=LOAD_CPU
                )

            load(2)  # warm up: connection pools, caches, the first snapshot's lazy work
            before = procstat.sample(plane)
            measured = load(args.seconds)
            after = procstat.sample(plane)
            cpu_ms = (after.cpu_seconds - before.cpu_seconds) * 1000 / max(1, measured.requests)
            raw = args.raw or folder / "py-spy.txt"
            argv = [spy, "record", "--pid", str(worker_pid(plane)), "--duration", str(args.seconds)]
            argv += ["--rate", str(args.rate), "--format", "raw", "--function", "--gil", "-o", str(raw)]
            if args.nonblocking:
                argv.append("--nonblocking")
            spying = subprocess.Popen(
                ["taskset", "-c", str(LOAD_CPU), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            time.sleep(0.5)  # py-spy attaches before the load starts
            profiled = load(args.seconds)
            _, spy_errors = spying.communicate(timeout=args.seconds + 60)
            if spying.returncode != 0 or not raw.exists():
                raise SystemExit(f"py-spy failed: {spy_errors.decode(errors='replace')[-500:]}")
            profile = summarize(raw.read_text(), top=args.top)
        finally:
            for child in reversed(children):
                child.stop()
    kind = ("SSE" if args.stream else "JSON") + (f", reverted: {args.revert}" if args.revert else "")
    mode = " --nonblocking" if args.nonblocking else ""
    return "\n".join(
        [
            f"wrk, {kind} chat, {args.connections} connections, {args.seconds} s: "
            f"{measured.requests_per_second:,.0f} req/s, p50 {measured.p50_ms:.2f} ms, p99 {measured.p99_ms:.2f} ms, "
            f"{measured.errors} errors; worker group CPU {cpu_ms:.3f} ms/request "
            f"(under py-spy: {profiled.requests_per_second:,.0f} req/s)",
            "",
            markdown(profile, heading=f"py-spy, Granian worker, {args.rate} Hz, --function --gil{mode}"),
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per phase (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--stream", action="store_true", help="profile the SSE route instead of the JSON one")
    parser.add_argument("--keys", type=int, default=0, help="seed this many keys into the snapshot first")
    parser.add_argument("--routes", type=int, default=0, help="seed this many routes too (with --keys)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--revert", default="", help="profile a data plane with these changes undone (bench.hotpath)")
    parser.add_argument(
        "--nonblocking", action="store_true", help="sample without pausing the worker (less accurate stacks)"
    )
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--summarize", type=Path, help="only summarize a --raw file from an earlier run")
    args = parser.parse_args(argv)
    if args.summarize is not None:
        report = markdown(summarize(args.summarize.read_text(), top=args.top), heading=f"py-spy, {args.summarize}")
    else:
        report = run(args)
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
