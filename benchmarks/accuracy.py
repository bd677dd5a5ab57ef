"""Test accuracy of d2l's LeNet recipes on Fashion-MNIST, trained with npgrad (and, with --torch, PyTorch).

    python benchmarks/accuracy.py [--models lenet lenet_bn] [--epochs 10] [--seed 0] [--torch] [--json PATH]

The recipes of *Dive into Deep Learning* (2nd edition, PyTorch): batch 256, 10 epochs, plain SGD
(no momentum, no weight decay), Xavier-uniform weights with zero biases, cross-entropy;
lr 0.9 for ``lenet`` (d2l's LeNet chapter) and lr 1.0 for ``lenet_bn`` (its batch-norm chapter).
Pixels are scaled to [0, 1] and not normalised (d2l's ``ToTensor``). The training set is
shuffled each epoch; the test accuracy is measured in eval mode after each epoch.

npgrad trains through the public API (`npgrad.train.Trainer` + `npgrad.data.DataLoader`). With
``--torch`` the same recipe runs in the same process on the torch twin (`torch.optim.SGD`,
``xavier_uniform_``) and the same batches: a second DataLoader with the same seed gives each
epoch the same order. Seconds per epoch count training and the test-set evaluation.
"""

from __future__ import annotations

import common  # first: pins the BLAS thread count before NumPy loads

import argparse
import statistics
import time
from typing import Any

import numpy as np

import npgrad
from npgrad.data import DataLoader, Subset
from npgrad.train import Trainer

BATCH_SIZE = 256
RECIPES = {"lenet": {"lr": 0.9}, "lenet_bn": {"lr": 1.0}}  # d2l: LeNet lr 0.9, BN-LeNet lr 1.0
REFERENCE = "PyTorch lenet (issue's reference band): test accuracy 0.813–0.825 at ~4 s/epoch"


def loaders(data_dir: str | None, train_limit: int | None, seed: int) -> tuple[DataLoader, DataLoader, str]:
    """(shuffled training loader, test loader, description of the data)."""
    train, description = common.fashion_mnist(data_dir, train=True)
    test, _ = common.fashion_mnist(data_dir, train=False)
    if train_limit is not None:
        train = Subset(train, np.arange(min(train_limit, len(train))))
    description += f": {len(train):,} training / {len(test):,} test images"
    return (DataLoader(train, batch_size=BATCH_SIZE, shuffle=True, seed=seed),
            DataLoader(test, batch_size=BATCH_SIZE), description)


def epoch_line(name: str, framework: str, epoch: int, epochs: int, record: dict[str, float]) -> str:
    return (f"{name:<8} {framework:<7} epoch {epoch:>2}/{epochs}  train loss {record['train_loss']:.4f} "
            f"acc {record['train_acc']:.4f}  test acc {record['test_acc']:.4f}  {record['time_s']:.1f} s")


def train_npgrad(name: str, epochs: int, seed: int, train_loader: DataLoader, test_loader: DataLoader) -> list[dict[str, float]]:
    npgrad.manual_seed(seed)
    model = npgrad.models.create(name, in_channels=1, num_classes=10, image_size=28, init="xavier")
    optimizer = npgrad.optim.SGD(model.parameters(), lr=RECIPES[name]["lr"])
    trainer = Trainer(model, optimizer, progress=False, log=None, plot=False)
    records = []
    for epoch in range(1, epochs + 1):
        trainer.fit(train_loader, test_loader, epochs=epoch)  # runs one more epoch
        r = trainer.history.records[-1]
        records.append({"epoch": epoch, "train_loss": r["train_loss"], "train_acc": r["train_acc"],
                        "test_acc": r["val_acc"], "time_s": r["time_s"]})
        print(epoch_line(name, "npgrad", epoch, epochs, records[-1]), flush=True)
    return records


def train_torch(torch: Any, name: str, epochs: int, seed: int, train_loader: DataLoader,
                test_loader: DataLoader) -> list[dict[str, float]]:
    from npgrad.testing.torch_twins import twin, xavier_init_

    torch.manual_seed(seed)
    net = xavier_init_(twin(name, 1, 10, 28))
    optimizer = torch.optim.SGD(net.parameters(), lr=RECIPES[name]["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    records = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        train_loader.set_epoch(epoch - 1)  # the epoch index the Trainer used: the same shuffled order
        loss_sum, correct, count = 0.0, 0, 0
        for x, y in train_loader:
            x, y = torch.from_numpy(x), torch.from_numpy(y)
            logits = net(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
        net.eval()
        test_correct, test_count = 0, 0
        with torch.no_grad():
            for x, y in test_loader:
                test_correct += (net(torch.from_numpy(x)).argmax(1) == torch.from_numpy(y)).sum().item()
                test_count += len(y)
        records.append({"epoch": epoch, "train_loss": loss_sum / count, "train_acc": correct / count,
                        "test_acc": test_correct / test_count, "time_s": time.perf_counter() - start})
        print(epoch_line(name, "PyTorch", epoch, epochs, records[-1]), flush=True)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES), metavar="MODEL",
                        help=f"models to train (default: {' '.join(RECIPES)})")
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10, as in d2l)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the shuffling (default 0)")
    parser.add_argument("--torch", action="store_true", help="also run the same recipe with PyTorch on the same batches")
    parser.add_argument("--train-limit", type=int, metavar="N", help="train on the first N images only (smoke runs)")
    common.add_data_argument(parser)
    common.add_common_arguments(parser, window=None)
    args = parser.parse_args(argv)
    if args.epochs < 1 or (args.train_limit is not None and args.train_limit < 1):
        parser.error("--epochs and --train-limit must be positive")
    torch = None
    if args.torch:
        torch = common.import_torch()
        if torch is None:
            parser.error("--torch: PyTorch is not installed")
    machine = common.machine_info()
    train_loader, test_loader, description = loaders(args.data, args.train_limit, args.seed)
    settings = {"models": args.models, "epochs": args.epochs, "seed": args.seed, "batch_size": BATCH_SIZE,
                "recipes": {m: {**RECIPES[m], "optimizer": "SGD", "init": "xavier_uniform"} for m in args.models},
                "data": description, "threads": common.THREADS, "torch": args.torch}
    print("# d2l LeNet recipes on Fashion-MNIST: test accuracy\n")
    print(common.format_machine(machine))
    print(f"data: {description}; batch {BATCH_SIZE}, SGD without momentum or weight decay, Xavier-uniform init, "
          + ", ".join(f"{m} lr {RECIPES[m]['lr']}" for m in args.models) + f"; seed {args.seed}\n", flush=True)

    rows = []
    for name in args.models:
        runs = [("npgrad", train_npgrad(name, args.epochs, args.seed, train_loader, test_loader))]
        if torch is not None:
            runs.append(("PyTorch", train_torch(torch, name, args.epochs, args.seed, train_loader, test_loader)))
        for framework, records in runs:
            rows.append({"model": name, "framework": framework, "final_test_acc": records[-1]["test_acc"],
                         "mean_epoch_s": statistics.mean(r["time_s"] for r in records), "epochs": records})
    print()
    print(common.markdown_table(["model", "framework", "final test acc", "mean s/epoch"],
                                [[r["model"], r["framework"], f"{r['final_test_acc']:.4f}", f"{r['mean_epoch_s']:.1f}"]
                                 for r in rows], text_columns=2))
    print(f"\n{REFERENCE}.")
    common.finish_report(machine, args.json, settings, rows)


if __name__ == "__main__":
    main()
