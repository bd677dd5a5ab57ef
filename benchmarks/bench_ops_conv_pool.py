"""Time conv2d and the pools (float32, forward and forward+backward) against PyTorch CPU.

    PYTHONPATH=src python benchmarks/bench_ops_conv_pool.py [--repeat 7] [--threads 2]

Prints the best of ``--repeat`` runs in milliseconds and PyTorch's fwd+bwd time over
ours ("speed vs pt", higher is better). PyTorch (an optional oracle, never a
dependency) runs with ``--threads`` threads; OpenBLAS uses its default (set
OPENBLAS_NUM_THREADS to match). On a shared machine, timings are noisy: repeat.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import time
from collections.abc import Callable

import numpy as np

import npgrad
from npgrad.ops.activation import sigmoid
from npgrad.ops.conv import conv2d
from npgrad.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

CONV_SHAPES = [
    # x shape, weight shape, stride, padding, x needs grad (False for a network's first layer)
    ((256, 1, 28, 28), (6, 1, 5, 5), 1, 2, False),
    ((256, 6, 14, 14), (16, 6, 5, 5), 1, 0, True),
    ((256, 64, 7, 7), (64, 64, 3, 3), 1, 1, True),
    ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1, True),
]

POOL_CASES = [
    # name, x shape, arguments
    ("avg_pool2d", (256, 6, 28, 28), (2,)),
    ("avg_pool2d", (256, 16, 10, 10), (2,)),
    ("max_pool2d", (256, 6, 28, 28), (2,)),
    ("max_pool2d", (128, 64, 16, 16), (3, 2)),
    ("max_pool2d", (128, 64, 16, 16), (3, 1, 1)),
    ("adaptive_avg_pool2d", (256, 512, 7, 7), (1,)),
    ("adaptive_avg_pool2d", (256, 512, 5, 5), (3,)),
]


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Kernels allocate large temporaries (im2col matrices of tens of MB) on every call;
    by default glibc unmaps or trims them when freed, so each call page-faults its
    memory in again. Linux/glibc only; returns False where unavailable.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
    return bool(libc.mallopt(m_trim_threshold, 1 << 30)) and bool(libc.mallopt(m_mmap_threshold, 1 << 30))


def bind(fn: Callable, *args, **kwargs) -> Callable:
    """fn with trailing arguments fixed: bind(f, 2)(x) == f(x, 2)."""
    return lambda *inputs: fn(*inputs, *args, **kwargs)


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def npgrad_timings(make_output: Callable[[], npgrad.Tensor], leaves: list[npgrad.Tensor], repeat: int) -> tuple[float, float]:
    def forward() -> None:
        with npgrad.no_grad():
            make_output()

    def forward_backward() -> None:
        for leaf in leaves:
            leaf.grad = None
        out = make_output()
        out.backward(np.ones(out.shape, dtype=out.dtype))

    return best_ms(forward, repeat), best_ms(forward_backward, repeat)


def torch_timings(make_output: Callable[[], object], leaves: list, repeat: int) -> tuple[float, float]:
    import torch

    def forward() -> None:
        with torch.no_grad():
            make_output()

    def forward_backward() -> None:
        for leaf in leaves:
            leaf.grad = None
        out = make_output()
        out.backward(torch.ones_like(out))

    return best_ms(forward, repeat), best_ms(forward_backward, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    parser.add_argument("--keep-freed-memory", action="store_true", help="tune glibc malloc (see keep_freed_memory)")
    args = parser.parse_args()
    if args.keep_freed_memory and not keep_freed_memory():
        print("could not tune malloc (not glibc?)")
    has_torch = importlib.util.find_spec("torch") is not None
    if has_torch:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(args.threads)
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print(f"numpy {np.__version__} with {blas['name']} {blas.get('version', '')}; best of {args.repeat} runs"
          + (f"; torch {torch.__version__} with {args.threads} threads" if has_torch else "; torch not installed")
          + ("; malloc keeps freed memory" if args.keep_freed_memory else ""))
    rng = np.random.default_rng(0)

    def measure(label: str, ours: Callable, theirs: Callable | None, arrays: list[np.ndarray], grads: list[bool]) -> None:
        tensors = [npgrad.Tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
        ours_ms = npgrad_timings(lambda: ours(*tensors), tensors, args.repeat)
        torch_ms = (float("nan"),) * 2
        if has_torch and theirs is not None:
            torch_tensors = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
            torch_ms = torch_timings(lambda: theirs(*torch_tensors), torch_tensors, args.repeat)
        print(f"{label:<58} {ours_ms[0]:8.2f} {ours_ms[1]:9.2f} {torch_ms[0]:8.2f} {torch_ms[1]:9.2f}"
              f" {torch_ms[1] / ours_ms[1]:7.2f}", flush=True)

    print(f"{'operation (float32)':<58} {'fwd':>8} {'fwd+bwd':>9} {'torch':>8} {'torch':>9} {'speed':>7}")
    print(f"{'':<58} {'ms':>8} {'ms':>9} {'fwd ms':>8} {'f+b ms':>9} {'vs pt':>7}")
    for x_shape, w_shape, stride, padding, x_grad in CONV_SHAPES:
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal(w_shape, dtype=np.float32) * 0.1
        b = rng.standard_normal(w_shape[0], dtype=np.float32)
        label = f"conv2d x{x_shape} w{w_shape} s{stride} p{padding}" + ("" if x_grad else " (no dx)")
        measure(label,
                bind(conv2d, stride=stride, padding=padding),
                bind(F.conv2d, stride=stride, padding=padding) if has_torch else None,
                [x, w, b], [x_grad, True, True])
    for name, x_shape, pool_args in POOL_CASES:
        x = rng.standard_normal(x_shape, dtype=np.float32)
        ours = {"avg_pool2d": avg_pool2d, "max_pool2d": max_pool2d, "adaptive_avg_pool2d": adaptive_avg_pool2d}[name]
        measure(f"{name} x{x_shape} {pool_args}",
                bind(ours, *pool_args),
                bind(getattr(F, name), *pool_args) if has_torch else None,
                [x], [True])

    # LeNet's feature extractor (d2l): conv5x5(pad 2)-sigmoid-avgpool2-conv5x5-sigmoid-avgpool2, batch 256.
    x = rng.standard_normal((256, 1, 28, 28), dtype=np.float32)
    w1, b1 = rng.standard_normal((6, 1, 5, 5), dtype=np.float32) * 0.2, np.zeros(6, np.float32)
    w2, b2 = rng.standard_normal((16, 6, 5, 5), dtype=np.float32) * 0.1, np.zeros(16, np.float32)

    def lenet_features(conv, act, pool):
        def run(x, w1, b1, w2, b2):
            h = pool(act(conv(x, w1, b1, padding=2)), 2)
            return pool(act(conv(h, w2, b2)), 2)

        return run

    measure("LeNet features: 2x (conv-sigmoid-avgpool), batch 256",
            lenet_features(conv2d, sigmoid, avg_pool2d),
            lenet_features(F.conv2d, torch.sigmoid, F.avg_pool2d) if has_torch else None,
            [x, w1, b1, w2, b2], [False, True, True, True, True])


if __name__ == "__main__":
    main()
