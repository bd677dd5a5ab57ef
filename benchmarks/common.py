"""What the benchmark scripts share: thread pinning, the machine header, timing, peak RSS, output, data.

**Import this module before NumPy** (the scripts import it first). At import it

* reads ``--threads N`` from the command line (default: ``os.cpu_count()``) and sets
  ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` to N: BLAS libraries
  read them once, when NumPy loads them. `import_torch` gives PyTorch the same count with
  ``torch.set_num_threads``, so every framework computes with N threads;
* removes ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` from the environment. Some machines set
  them as a workaround for old OpenBLAS builds; they pin OpenBLAS to older kernels (on the
  development machine, AVX2 instead of AVX-512: a float32 GEMM ran 1.3-1.6x slower), which a
  user's machine does not do. The headers print the kernel OpenBLAS then picks
  (`blas_architecture`, threadpoolctl's ``architecture``).

Subprocesses started by a script (the workers of every framework) inherit this environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Machine-level OpenBLAS overrides that users' machines do not have (see the module docstring).
BLAS_KERNEL_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# A round started or ended above this 1-minute load average is flagged as taken on a busy machine.
BUSY_LOAD = 0.3
REPO = Path(__file__).resolve().parents[1]
# The full Fashion-MNIST (IDX files) next to the repository: ../shared/data/fashion-mnist.
DEFAULT_DATA = REPO.parent / "shared" / "data" / "fashion-mnist"


def _threads_from_argv(argv: Sequence[str]) -> int:
    """The value of ``--threads N`` / ``--threads=N`` in ``argv``, else ``os.cpu_count()``."""
    for i, arg in enumerate(argv):
        if arg.startswith("--threads="):
            value = arg.partition("=")[2]
        elif arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        else:
            continue
        if not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--threads must be a positive integer, got {value!r}")
        return int(value)
    return os.cpu_count() or 1


def _pin_blas_threads(threads: int) -> int:
    if "numpy" in sys.modules:
        raise RuntimeError("benchmarks/common.py must be imported before NumPy, so that the BLAS thread count applies")
    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = str(threads)
    return threads


def _remove_blas_kernel_overrides() -> dict[str, str]:
    return {name: os.environ.pop(name) for name in BLAS_KERNEL_OVERRIDES if name in os.environ}


THREADS = _pin_blas_threads(_threads_from_argv(sys.argv[1:]))
REMOVED_BLAS_OVERRIDES = _remove_blas_kernel_overrides()


def add_common_arguments(parser: Any, window: float | None) -> None:
    """``--threads``, ``--json PATH`` and, unless ``window`` is None, ``--window`` (seconds, default ``window``)."""
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads for BLAS and PyTorch, set before NumPy loads (default: os.cpu_count())")
    if window is not None:
        parser.add_argument("--window", type=float, default=window,
                            help=f"seconds of timed calls per measurement, after warm-up (default {window:g})")
    parser.add_argument("--json", metavar="PATH", help="also write {machine, settings, rows} as JSON to PATH")


def worker_env(framework: str) -> dict[str, str]:
    """The environment of a worker subprocess measuring ``framework`` ('npgrad', 'torch', 'chainer', 'mygrad').

    ``import npgrad`` tunes glibc's malloc for the whole process (npgrad/_memory.py); the
    scripts import npgrad even in PyTorch's workers, so every worker but npgrad's gets
    ``NPGRAD_KEEP_FREED_MEMORY=0``: each other framework is measured with the C library's
    default malloc, as its users run it.
    """
    return dict(os.environ) if framework == "npgrad" else {**os.environ, "NPGRAD_KEEP_FREED_MEMORY": "0"}


def import_torch() -> ModuleType | None:
    """PyTorch with ``THREADS`` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


# ---------------------------------------------------------------- machine header
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas() -> str:
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy or a build without the information
        return "unknown"


def blas_architecture() -> str:
    """The CPU kernel family NumPy's OpenBLAS runs in this process (threadpoolctl's ``architecture``), or 'unknown'."""
    import numpy as np  # noqa: F401  (loads the BLAS library, so threadpoolctl can see it)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    kernels = sorted({str(info.get("architecture")) for info in threadpool_info()
                      if info.get("user_api") == "blas" and info.get("architecture")})
    return ", ".join(kernels) or "unknown"


def load_average() -> float:
    """The machine's 1-minute load average (NaN where the OS does not give one)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (/proc/stat), None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its finished (waited-for) children: the benchmark's own load."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


class OtherLoad:
    """The load other programs put on the machine while a round runs, in busy cores (0 = idle, 1 = one full core).

    The 1-minute load average counts the benchmark's own workers (a 2-thread worker alone reads
    about 2), so it cannot tell an idle machine from a busy one during a run. This meter takes the
    machine's busy CPU time (/proc/stat) minus the CPU time of this process and its workers over
    the wall time between `start` and `stop`. Use it around workers that have finished by `stop`.
    """

    def start(self) -> OtherLoad:
        self._busy, self._own, self._wall = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
        return self

    def stop(self) -> float:
        """Average busy cores of other processes since `start` (NaN where /proc/stat is missing)."""
        busy = _busy_cpu_seconds()
        if busy is None or self._busy is None:
            return float("nan")
        others = (busy - self._busy) - (_own_cpu_seconds() - self._own)
        return max(others, 0.0) / max(time.perf_counter() - self._wall, 1e-9)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, BLAS and its kernel, versions, threads, the load average and the date."""
    import numpy as np

    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "blas": _blas(),
        "blas_architecture": blas_architecture(),
        "removed_blas_overrides": REMOVED_BLAS_OVERRIDES,
        "load_average_start": load_average(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "npgrad": _version("npgrad"),
        "torch": _version("torch"),
        "threads": THREADS,
        "date": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
    }


def format_machine(info: dict[str, Any]) -> str:
    removed = ", ".join(f"{k}={v}" for k, v in info["removed_blas_overrides"].items())
    return (f"{info['cpu']}, {info['logical_cores']} logical cores; {info['threads']} threads (BLAS and PyTorch)\n"
            f"BLAS {info['blas']}, kernel {info['blas_architecture']}"
            f"{f' (removed from the environment: {removed})' if removed else ''}; Python {info['python']}, "
            f"NumPy {info['numpy']}, npgrad {info['npgrad']}, torch {info['torch']}; {info['date']}\n"
            f"load average at start: {info['load_average_start']:.2f}")


def finish_report(info: dict[str, Any], json_path: str | None, settings: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """End a script's report: print the load average at the end (recorded in ``info``), write the JSON if asked."""
    info["load_average_end"] = load_average()
    print(f"load average at end: {info['load_average_end']:.2f} (start: {info['load_average_start']:.2f})")
    if json_path:
        write_json(json_path, info, settings, rows)
        print(f"wrote {json_path}")


@contextlib.contextmanager
def batches_file(x: Any, y: Any) -> Iterator[str]:
    """A temporary .npz holding ``x`` and ``y`` for the worker subprocesses, removed afterwards."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "batches.npz")
        np.savez(path, x=x, y=y)
        yield path


# ------------------------------------------------------------------------ timing
@dataclass
class Timing:
    """Per-call durations in seconds (all timed calls, warm-up excluded)."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def median_ms(self) -> float:
        return 1e3 * self.median


def time_calls(fn: Callable[..., object], *, setup: Callable[[], Any] | None = None, window: float = 1.0,
               min_calls: int = 5, warmup: int = 2) -> Timing:
    """Time ``fn`` call by call: ``warmup`` untimed calls, then calls until ``window`` seconds and ``min_calls`` calls.

    With ``setup``, each call is ``fn(setup())`` and only ``fn`` is timed (e.g. a backward
    pass, given a fresh forward pass from ``setup``). The window counts timed time only.
    Report the median (`Timing.median`): robust to the machine's other load, unlike best-of.
    """
    def call() -> float:
        argument = setup() if setup is not None else None
        start = time.perf_counter()
        fn(argument) if setup is not None else fn()
        return time.perf_counter() - start

    for _ in range(warmup):
        call()
    timing = Timing()
    while len(timing.samples) < min_calls or sum(timing.samples) < window:
        timing.samples.append(call())
    return timing


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (VmHWM; else ru_maxrss, which Linux gives in KiB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)  # macOS reports bytes


# ------------------------------------------------------------------------ output
def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], text_columns: int = 1) -> str:
    """A Markdown table, padded to line up; the first ``text_columns`` columns left-aligned, the others right-aligned."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.ljust(w) if i < text_columns else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) if i < text_columns else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), rule, *map(line, cells[1:])])


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table: ``digits`` decimals, thousands separators; '—' for None or NaN."""
    if value is None or value != value:
        return "—"
    return f"{value:,.{digits}f}"


def write_json(path: str | os.PathLike, machine: dict[str, Any], settings: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write ``{machine, settings, rows}`` to ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine, "settings": settings, "rows": rows}, indent=1) + "\n")


# -------------------------------------------------------------------------- data
def add_data_argument(parser: Any) -> None:
    """``--data DIR``: the Fashion-MNIST folder `fashion_mnist` reads."""
    parser.add_argument("--data", metavar="DIR",
                        help=f"Fashion-MNIST IDX folder (default {DEFAULT_DATA}, else the bundled subset)")


def fashion_mnist(data_dir: str | os.PathLike | None, train: bool = True) -> tuple[Any, str]:
    """``(dataset, description)``: the full Fashion-MNIST in ``data_dir`` (default `DEFAULT_DATA`) if its files
    are there, else the subset bundled with npgrad (10,000 training / 2,000 test images)."""
    from npgrad.data import FashionMNIST, fashion_mnist_small

    root = Path(data_dir) if data_dir is not None else DEFAULT_DATA
    try:
        return FashionMNIST(root, train=train), f"Fashion-MNIST ({root})"
    except FileNotFoundError:
        if data_dir is not None:
            raise
        return fashion_mnist_small(train=train), "bundled Fashion-MNIST subset (full set not found at " + str(root) + ")"
