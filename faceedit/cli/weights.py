"""``faceedit weights list | fetch NAME | add NAME PATH | verify``: the pretrained-weights cache."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``weights`` command."""
    p = subparsers.add_parser("weights", help="list, download, add by hand or verify pretrained model files",
                              description="Known pretrained model files and the local cache "
                              "($FACEEDIT_HOME/weights, default ~/.cache/faceedit/weights). Nothing is "
                              "downloaded unless you run `fetch`.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="show the registry and what is cached")
    f = sub.add_parser("fetch", help="download NAME (progress bar, sha256 check)")
    f.add_argument("name")
    f.add_argument("--force", action="store_true", help="download again even if cached")
    f.add_argument("--url", help="download from this URL (a mirror) instead of the registry's")
    f.add_argument("--timeout", type=float, default=10.0, help="network timeout in seconds (default 10)")
    a = sub.add_parser("add", help="copy a file downloaded by hand into the cache as NAME")
    a.add_argument("name")
    a.add_argument("path")
    a.add_argument("--force", action="store_true", help="add even if the sha256 does not match")
    v = sub.add_parser("verify", help="check the sha256 of the cached files")
    v.add_argument("names", nargs="*")
    p.set_defaults(func=run)


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 2 ** 20:.1f} MiB"


def run(args: argparse.Namespace) -> int:
    """Execute the chosen action; returns the exit code."""
    from ..models import weights

    if args.action == "list":
        print(f"cache: {weights.cache_dir()}")
        for e in weights.REGISTRY.values():
            state = "cached" if weights.is_cached(e.name) else "missing"
            sha = e.sha256 or (f"{e.sha256_prefix}... (prefix)" if e.sha256_prefix else "unknown")
            print(f"{e.name:30s} {state:8s} {e.kind:12s} {e.format:16s} {_size(e.size):>10s}  {e.licence}")
            print(f"{'':30s} {e.url}\n{'':30s} sha256: {sha}" + (f"; {e.note}" if e.note else ""))
        return 0
    if args.action == "fetch":
        print(weights.fetch(args.name, timeout=args.timeout, force=args.force, url=args.url))
        return 0
    if args.action == "add":
        print(weights.add(args.name, args.path, force=args.force))
        return 0
    results = weights.verify(args.names or None)
    for name, status in results.items():
        print(f"{name}: {status}")
    return 1 if any(s.startswith("MISMATCH") for s in results.values()) else 0
