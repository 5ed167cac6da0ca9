"""Median CPU latency of one StyleGAN2 render (config-f widths, seeded random weights), threads=2.

Rows: resolution 64/256/1024, fp32 and bf16 (``torch.autocast("cpu")``), full render and preview
(channel ratio 0.25 at half resolution), and the layer-cache re-render after changing W+ rows >= k.
Prints numbers only; never asserts on time.  ``--quick`` runs fewer repeats; ``--res 1024`` picks sizes.
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch

from faceedit.models.stylegan2 import Generator, SynthesisCache


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall time and median process CPU time of ``fn()`` in seconds.

    On a shared machine the wall time includes waiting for other jobs; the CPU time (summed over this
    process's threads) divided by the thread count estimates the wall time on an idle machine.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def fmt(t: tuple[float, float]) -> str:
    """'wall ms (cpu ms)'."""
    return f"{t[0] * 1000:8.1f} ms (cpu {t[1] * 1000:7.1f} ms)"


def conv_gmacs(g: Generator, channel_ratio: float = 1.0, resolution: int | None = None) -> float:
    """Multiply-accumulates (1e9) of the convolutions of one render (what bounds CPU time)."""
    layers, ch = g.plan(channel_ratio, resolution)
    macs, prev = 0, ch[4]
    for layer in layers:
        r, c = layer.resolution, ch[layer.resolution]
        if layer.kind == "const_conv":
            macs += r * r * c * c * 9
        elif layer.kind == "up":
            macs += (r // 2) ** 2 * prev * c * 9
        elif layer.kind == "conv":
            macs += r * r * c * c * 9
        else:
            macs += r * r * c * 3
        prev = c
    return macs / 1e9


def bench_resolution(res: int, repeats: int, dtypes: list[str]) -> None:
    torch.manual_seed(0)
    g = Generator(res, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=512).eval()
    w = torch.randn(1, g.n_latent, 512, generator=torch.Generator().manual_seed(1))
    print(f"{res:5d} conv work: full {conv_gmacs(g):.1f} GMAC, preview {conv_gmacs(g, 0.25, res // 2):.2f} GMAC",
          flush=True)
    for dtype in dtypes:
        ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if dtype == "bf16" else nullcontext

        def render(**kw):
            with torch.inference_mode(), ctx():
                return g.synthesis(w, **kw)

        full = median_time(render, repeats)
        preview = median_time(lambda: render(channel_ratio=0.25, resolution=res // 2), repeats)
        print(f"{res:5d} {dtype:5s} full {fmt(full)}   preview(0.25, {res // 2}px) {fmt(preview)}", flush=True)
        for k in sorted({g.n_latent // 2, g.n_latent - 4}):
            cache = SynthesisCache(g)
            w_edit = w.clone()

            def rerender():
                w_edit[:, k:] += 0.01  # a fine-layer edit: rows < k unchanged
                with ctx():
                    return cache.render(w_edit)

            rerender()
            t = median_time(rerender, repeats, warmup=0)
            print(f"{'':5s} {dtype:5s} cache re-render (rows >= {k:2d} changed, {cache.last_reused_layers:2d} of "
                  f"{len(g.layers)} layers reused) {fmt(t)}  speed-up x{full[1] / t[1]:.1f} (cpu)", flush=True)


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); without it bf16 convs are emulated."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--res", type=int, nargs="*", default=[64, 256, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", nargs="*", default=None,
                        help="fp32 and/or bf16 (default: both where the CPU has native bf16, else fp32)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of {args.repeats}")
    if args.dtypes is None:
        args.dtypes = ["fp32", "bf16"] if native_bf16() else ["fp32"]
        if not native_bf16():
            print("bf16 skipped: this CPU has no native bf16 (AVX512-BF16/AMX); emulated bf16 convolutions are "
                  "~10x slower than fp32 here. Force with --dtypes fp32 bf16.")
    for res in args.res:
        bench_resolution(res, args.repeats, args.dtypes)


if __name__ == "__main__":
    main()
