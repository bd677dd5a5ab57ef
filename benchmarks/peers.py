"""The NumPy peers of `bench_models.py`: the same five models in Chainer and in MyGrad, timed the same way.

    python benchmarks/peers.py --worker chainer lenet --batches-file B.npz [--batch-size 256] [--window 4]

`bench_models.py` runs this file as a worker subprocess, one per (framework, model), with the
interpreter that has the framework: MyGrad in the current environment (``pip install mygrad``),
Chainer 7.8.1 in its own venv because it needs ``numpy<2`` (`bench_models.py --make-chainer-venv`
builds it; `CHAINER_VENV` is where). The worker imports neither npgrad nor PyTorch and prints one
JSON line with the same keys as npgrad's and PyTorch's workers.

Each model mirrors npgrad's zoo model of the same name at 1x28x28 -> 10 classes (the driver
checks the parameter counts): ``mlp`` 784-512-256-10; ``lenet`` (sigmoid, 2x2 average pooling,
padding 2); ``lenet_bn`` (batch norm after every conv/linear but the last, padding 0);
``three_layer_convnet`` (conv 32x7x7 pad 3, ReLU, 2x2 max pool, 100 hidden, 10); ``resnet18``
with the ImageNet stem. Training step: forward, softmax cross-entropy, backward, SGD with
momentum 0.9 (Chainer's ``MomentumSGD``; MyGrad has no optimizers, so the update is written in
NumPy: ``v = m v - lr g; p += v``, which is what ``MomentumSGD`` computes). Inference: Chainer
with ``train=False`` and no backprop; MyGrad under ``no_autodiff`` with batch norm as a fixed
per-channel affine map (MyGrad's ``batchnorm`` keeps no running statistics, so eval mode is the
scale-and-shift an eval batch norm costs).
"""

from __future__ import annotations

import common  # first: pins the BLAS thread count before NumPy loads

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PEERS = ("chainer", "mygrad")
MODEL_NAMES = ("mlp", "lenet", "lenet_bn", "three_layer_convnet", "resnet18")
CHAINER_VENV = Path.home() / ".cache" / "npgrad-bench" / "chainer"
LR, MOMENTUM = 0.01, 0.9  # as bench_models.py
WARMUP_CALLS, MIN_CALLS = 2, 3
RESNET18_STAGES = ((64, 2), (128, 2), (256, 2), (512, 2))


# ------------------------------------------------------------------- Chainer
def chainer_model(name: str) -> Any:
    """The Chainer version of the zoo model ``name`` (a ``chainer.Chain`` called on (N, 1, 28, 28))."""
    import chainer
    import chainer.functions as F
    import chainer.links as L

    class Sequential(chainer.ChainList):
        """Links and plain functions applied in order (Chainer 7 has ``chainer.Sequential``; this keeps BN modes explicit)."""

        def __init__(self, *layers: Any):
            super().__init__(*[layer for layer in layers if isinstance(layer, chainer.Link)])
            self.layers = layers

        def forward(self, x: Any) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

    def avg_pool(x: Any) -> Any:
        return F.average_pooling_2d(x, 2, 2)

    def lenet(padding: int, batch_norm: bool, flat: int) -> Any:
        def block(link: Any, size: int) -> list[Any]:
            return [link, L.BatchNormalization(size)] if batch_norm else [link]

        return Sequential(*block(L.Convolution2D(1, 6, 5, pad=padding), 6), F.sigmoid, avg_pool,
                          *block(L.Convolution2D(6, 16, 5), 16), F.sigmoid, avg_pool,
                          *block(L.Linear(flat, 120), 120), F.sigmoid,
                          *block(L.Linear(120, 84), 84), F.sigmoid, L.Linear(84, 10))

    class Residual(chainer.Chain):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            with self.init_scope():
                self.conv1 = L.Convolution2D(cin, cout, 3, stride=stride, pad=1)
                self.conv2 = L.Convolution2D(cout, cout, 3, pad=1)
                self.conv3 = L.Convolution2D(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else None
                self.bn1 = L.BatchNormalization(cout)
                self.bn2 = L.BatchNormalization(cout)

        def forward(self, x: Any) -> Any:
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return F.relu(y + (self.conv3(x) if self.conv3 is not None else x))

    if name == "mlp":
        return Sequential(L.Linear(784, 512), F.relu, L.Linear(512, 256), F.relu, L.Linear(256, 10))
    if name == "lenet":
        return lenet(padding=2, batch_norm=False, flat=16 * 5 * 5)
    if name == "lenet_bn":
        return lenet(padding=0, batch_norm=True, flat=16 * 4 * 4)
    if name == "three_layer_convnet":
        return Sequential(L.Convolution2D(1, 32, 7, pad=3), F.relu, lambda x: F.max_pooling_2d(x, 2, 2, cover_all=False),
                          L.Linear(32 * 14 * 14, 100), F.relu, L.Linear(100, 10))
    if name == "resnet18":
        blocks: list[Any] = [L.Convolution2D(1, 64, 7, stride=2, pad=3), L.BatchNormalization(64), F.relu,
                             lambda x: F.max_pooling_2d(x, 3, 2, pad=1, cover_all=False)]
        cin = 64
        for stage, (cout, count) in enumerate(RESNET18_STAGES):
            for i in range(count):
                blocks.append(Residual(cin, cout, 2 if i == 0 and stage > 0 else 1))
                cin = cout
        blocks += [lambda x: F.mean(x, axis=(2, 3)), L.Linear(512, 10)]
        return Sequential(*blocks)
    raise ValueError(f"peers: no Chainer model {name!r}")


def chainer_steps(name: str, batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[int, Callable, Callable, Callable]:
    import chainer
    import chainer.functions as F

    np.random.seed(0)
    model = chainer_model(name)
    optimizer = chainer.optimizers.MomentumSGD(lr=LR, momentum=MOMENTUM)
    optimizer.setup(model)
    data = itertools.cycle(batches)

    def train_step() -> None:
        x, y = next(data)
        model.cleargrads()
        loss = F.softmax_cross_entropy(model(x), y)
        loss.backward()
        optimizer.update()

    def infer_step() -> None:
        x, _ = next(data)
        with chainer.using_config("train", False), chainer.no_backprop_mode():
            model(x)

    params = sum(p.size for p in model.params())
    # Chainer's mode is a config read at call time (``infer_step`` sets it), so switching to eval does nothing here.
    return params, train_step, lambda: None, infer_step


# -------------------------------------------------------------------- MyGrad
class MyGradModel:
    """A MyGrad network: parameters as ``mygrad.Tensor``s, a forward written with ``mygrad.nnet``."""

    def __init__(self, name: str, rng: np.random.Generator):
        self.name, self.rng, self.params, self.training = name, rng, [], True
        self.forward = getattr(self, f"_build_{name}")()

    def _param(self, *shape: int, fan_in: int | None = None) -> Any:
        import mygrad as mg

        bound = 1 / np.sqrt(fan_in) if fan_in else 0.0
        value = self.rng.uniform(-bound, bound, shape).astype(np.float32) if fan_in else np.zeros(shape, np.float32)
        tensor = mg.tensor(value)
        self.params.append(tensor)
        return tensor

    def _linear(self, cin: int, cout: int) -> Callable:
        w, b = self._param(cin, cout, fan_in=cin), self._param(cout, fan_in=cin)
        return lambda x: x @ w + b

    def _conv(self, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0) -> Callable:
        from mygrad.nnet import conv_nd

        w, b = self._param(cout, cin, k, k, fan_in=cin * k * k), self._param(1, cout, 1, 1, fan_in=cin * k * k)
        return lambda x: conv_nd(self._fit(x, k, stride, pad), w, stride=stride) + b

    def _batchnorm(self, channels: int, spatial: bool) -> Callable:
        from mygrad.nnet import batchnorm

        gamma, beta = self._param(channels), self._param(channels)
        gamma.data[...] = 1
        shape = (1, channels, 1, 1) if spatial else (1, channels)

        def bn(x: Any) -> Any:
            if self.training:
                return batchnorm(x, gamma=gamma, beta=beta, eps=1e-5)
            return x * gamma.reshape(shape) + beta.reshape(shape)  # eval: the fixed affine map of running stats

        return bn

    def _seq(self, *layers: Callable) -> Callable:
        def forward(x: Any) -> Any:
            for layer in layers:
                x = layer(x)
            return x

        return forward

    @staticmethod
    def _flatten(x: Any) -> Any:
        return x.reshape(x.shape[0], -1)

    @staticmethod
    def _avg_pool(x: Any) -> Any:  # 2x2, stride 2 (even sizes)
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))

    @staticmethod
    def _fit(x: Any, k: int, stride: int, pad: int) -> Any:
        """``x`` zero-padded by ``pad`` so that the windows of size ``k`` and ``stride`` tile it exactly.

        MyGrad's conv and pooling refuse sizes that PyTorch floors ((H + 2p - k) not a multiple of
        the stride); the windows PyTorch keeps never reach the last ``r`` padded rows/columns, so
        dropping them gives PyTorch's output.
        """
        import mygrad as mg

        n, c, h, w = x.shape
        extra = [pad - (size + 2 * pad - k) % stride for size in (h, w)]  # padding after, per axis
        if pad == 0 and extra == [0, 0]:
            return x
        if min(extra) < 0:  # no padding left to drop: crop the input instead
            x, extra = x[:, :, : h + min(extra[0], 0), : w + min(extra[1], 0)], [max(e, 0) for e in extra]
            n, c, h, w = x.shape
        zeros = np.zeros  # constants: MyGrad does not differentiate through them
        x = mg.concatenate([zeros((n, c, pad, w), x.dtype), x, zeros((n, c, extra[0], w), x.dtype)], axis=2)
        rows = pad + h + extra[0]
        return mg.concatenate([zeros((n, c, rows, pad), x.dtype), x, zeros((n, c, rows, extra[1]), x.dtype)], axis=3)

    def _max_pool_3x3_s2_p1(self, x: Any) -> Any:
        from mygrad.nnet import max_pool

        return max_pool(self._fit(x, 3, 2, 1), (3, 3), 2)  # after ReLU (x >= 0): zero padding gives -inf padding's maxima

    def _build_mlp(self) -> Callable:
        from mygrad.nnet import relu

        return self._seq(self._flatten, self._linear(784, 512), relu, self._linear(512, 256), relu, self._linear(256, 10))

    def _lenet(self, padding: int, batch_norm: bool, flat: int) -> Callable:
        from mygrad.nnet import sigmoid

        def block(layer: Callable, size: int, spatial: bool) -> list[Callable]:
            return [layer, self._batchnorm(size, spatial)] if batch_norm else [layer]

        return self._seq(*block(self._conv(1, 6, 5, pad=padding), 6, True), sigmoid, self._avg_pool,
                         *block(self._conv(6, 16, 5), 16, True), sigmoid, self._avg_pool, self._flatten,
                         *block(self._linear(flat, 120), 120, False), sigmoid,
                         *block(self._linear(120, 84), 84, False), sigmoid, self._linear(84, 10))

    def _build_lenet(self) -> Callable:
        return self._lenet(padding=2, batch_norm=False, flat=16 * 5 * 5)

    def _build_lenet_bn(self) -> Callable:
        return self._lenet(padding=0, batch_norm=True, flat=16 * 4 * 4)

    def _build_three_layer_convnet(self) -> Callable:
        from mygrad.nnet import max_pool, relu

        return self._seq(self._conv(1, 32, 7, pad=3), relu, lambda x: max_pool(x, (2, 2), 2), self._flatten,
                         self._linear(32 * 14 * 14, 100), relu, self._linear(100, 10))

    def _residual(self, cin: int, cout: int, stride: int) -> Callable:
        from mygrad.nnet import relu

        conv1, conv2 = self._conv(cin, cout, 3, stride, 1), self._conv(cout, cout, 3, 1, 1)
        conv3 = self._conv(cin, cout, 1, stride) if stride != 1 or cin != cout else None
        bn1, bn2 = self._batchnorm(cout, True), self._batchnorm(cout, True)

        def forward(x: Any) -> Any:
            y = bn2(conv2(relu(bn1(conv1(x)))))
            return relu(y + (conv3(x) if conv3 is not None else x))

        return forward

    def _build_resnet18(self) -> Callable:
        from mygrad.nnet import relu

        layers = [self._conv(1, 64, 7, 2, 3), self._batchnorm(64, True), relu, self._max_pool_3x3_s2_p1]
        cin = 64
        for stage, (cout, count) in enumerate(RESNET18_STAGES):
            for i in range(count):
                layers.append(self._residual(cin, cout, 2 if i == 0 and stage > 0 else 1))
                cin = cout
        return self._seq(*layers, lambda x: x.mean(axis=(2, 3)), self._linear(512, 10))


def mygrad_steps(name: str, batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[int, Callable, Callable, Callable]:
    import mygrad as mg
    from mygrad.nnet import softmax_crossentropy

    model = MyGradModel(name, np.random.default_rng(0))
    velocity = [np.zeros_like(p.data) for p in model.params]
    data = itertools.cycle(batches)

    def train_step() -> None:
        x, y = next(data)
        loss = softmax_crossentropy(model.forward(x), y)
        loss.backward()
        for p, v in zip(model.params, velocity):
            v *= MOMENTUM
            v -= LR * p.grad
            p.data += v

    def infer_step() -> None:
        x, _ = next(data)
        with mg.no_autodiff:
            model.forward(x)

    def to_eval() -> None:
        model.training = False

    return sum(p.size for p in model.params), train_step, to_eval, infer_step


# -------------------------------------------------------------------- worker
def run_worker(framework: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    with np.load(args.batches_file) as saved:
        x, y = saved["x"], saved["y"]
    batches = [(x[i : i + args.batch_size], y[i : i + args.batch_size]) for i in range(0, len(x), args.batch_size)]
    params, train, to_eval, infer = (chainer_steps if framework == "chainer" else mygrad_steps)(name, batches)
    train_timing = common.time_calls(train, window=args.window, min_calls=MIN_CALLS, warmup=WARMUP_CALLS)
    rss_train = common.peak_rss_mb()
    to_eval()
    infer_timing = common.time_calls(infer, window=args.window, min_calls=MIN_CALLS, warmup=WARMUP_CALLS)
    return {
        "framework": framework, "model": name, "params": int(params), "batch_size": args.batch_size,
        "train_img_per_s": args.batch_size / train_timing.median, "infer_img_per_s": args.batch_size / infer_timing.median,
        "train_samples_s": train_timing.samples, "infer_samples_s": infer_timing.samples,
        "peak_rss_train_mb": rss_train, "peak_rss_mb": common.peak_rss_mb(),
        "blas_architecture": common.blas_architecture(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "MODEL"), required=True,
                        help=f"measure one framework ({', '.join(PEERS)}) on one model ({', '.join(MODEL_NAMES)})")
    parser.add_argument("--batches-file", required=True, help="the driver's pre-sliced batches (.npz: x, y)")
    parser.add_argument("--batch-size", type=int, default=256)
    common.add_common_arguments(parser, window=4.0)
    args = parser.parse_args(argv)
    framework, name = args.worker
    if framework not in PEERS or name not in MODEL_NAMES:
        parser.error(f"--worker takes a framework ({', '.join(PEERS)}) and a model ({', '.join(MODEL_NAMES)})")
    print(json.dumps(run_worker(framework, name, args)))


if __name__ == "__main__":
    main()
