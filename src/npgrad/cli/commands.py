"""The parser and the subcommands of the ``npgrad`` command (see `npgrad.cli` for the package map).

Mistakes a user can make (unknown model, missing data, bad option values, unreadable
checkpoint, unwritable output folder) print ``npgrad: error: <message>`` and exit with
status 2, without a traceback. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from npgrad import onnx as npgrad_onnx
from npgrad.cli import builders, session
from npgrad.cli.options import (
    DEFAULT,
    DEFAULT_DATA_DIR,
    DEFAULT_OUT,
    FILE_CHANNELS,
    FILE_IMAGE_SIZE,
    TRAIN_OPTIONS,
    Formatter,
    dataset_choices,
    datasets_epilog,
    hyper_help,
    key_value,
    lr_help,
    make_config,
    nonnegative_float,
    positive_float,
    positive_int,
    read_config_file,
    scheduler_help,
    to_toml,
)
from npgrad.data.datasets.registry import datasets
from npgrad.errors import InvalidArgumentError, NpgradError, UnsupportedError
from npgrad.optim.registry import OPTIMIZERS, SCHEDULERS


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the message and where the help is, not the usage block first."""

    def error(self, message: str, prog: str | None = None) -> Any:
        prog = prog or self.prog
        self.exit(2, f"{prog}: error: {message} (see '{prog} --help')\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # name the subcommand whose help lists the options, not the top-level parser
            command = getattr(parsed, "command", None)
            self.error(f"unrecognized arguments: {' '.join(extras)}", f"{self.prog} {command}" if command else None)
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``npgrad`` command (all subcommands; their parsers are `_Parser` too)."""
    from npgrad import __version__

    parser = _Parser(
        prog="npgrad",
        description="npgrad: deep learning on NumPy. Train, evaluate and use image classifiers.",
        formatter_class=Formatter,
        epilog="Run 'npgrad COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"npgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # ------------------------------------------------------------------ train
    d, t = DEFAULT.data, DEFAULT.training
    train = sub.add_parser(
        "train", help="train a model and write a run folder (history, curves, checkpoints)",
        description="Train a model. With no options: LeNet-BN on the bundled Fashion-MNIST subset.\n\n"
        "Everything goes into a new run folder under --out: config.json, history.csv and .json,\n"
        "curves.png, last.safetensors (every epoch) and best.safetensors (best validation accuracy).\n"
        "Ctrl-C stops cleanly after the current step and saves last.safetensors; --resume RUN\n"
        "continues exactly where it stopped.",
        formatter_class=Formatter, epilog=datasets_epilog(),
    )
    train.add_argument("--config", default=None, metavar="TOML",
                       help="read the options from a TOML file (the layout --print-config writes); flags override it")
    train.add_argument("--print-config", action="store_true",
                       help="print the resolved config as TOML (defaults, --config file, flags) and exit")
    g = train.add_argument_group("model")
    g.add_argument("--model", default=None, metavar="NAME",
                   help=f"a model of the zoo, see 'npgrad models' (default: {DEFAULT.model.name})")
    g.add_argument("--model-arg", action="append", type=key_value, default=None, metavar="KEY=VALUE",
                   help="an option of the model's builder, e.g. --model-arg dropout=0.5 (repeatable; values are JSON)")
    g = train.add_argument_group("data")
    g.add_argument("--dataset", default=None, metavar="SPEC",
                   help=f"what to train on: {dataset_choices()}; see below (default: {d.dataset})")
    g.add_argument("--data-dir", default=None, metavar="DIR",
                   help=f"folder holding the {' / '.join(e.name for e in datasets() if e.files)} files "
                        f"(default: {DEFAULT_DATA_DIR})")
    g.add_argument("--image-root", default=None, metavar="DIR", help="base folder of the image paths of a csv: dataset "
                   "(default: the CSV's folder)")
    g.add_argument("--image-col", default=None, metavar="NAME",
                   help=f"image-path column of a csv: dataset (default: {d.image_col})")
    g.add_argument("--label-col", default=None, metavar="NAME",
                   help=f"label column of a csv: dataset (default: {d.label_col})")
    g.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                   help=f"images are resized to NxN (default: the dataset's own size; {FILE_IMAGE_SIZE} for folder:/csv:)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help=f"1 (grayscale) or 3 (RGB) for folder:/csv: images (default: {FILE_CHANNELS})")
    g.add_argument("--val-split", type=nonnegative_float, default=None, metavar="F",
                   help=f"fraction of the training data held out for validation "
                        f"(default: {d.val_split}); it picks best.safetensors, and a test split is evaluated once, "
                        f"at the end")
    g.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="train without the folder:/csv: images that cannot be decoded (counted in the summary); "
                        "without it they are an error")
    g.add_argument("--augment", action="store_true", default=None,
                   help="augment the training images: random crops after zero padding of max(2, size/8) pixels, "
                        "and horizontal flips except where mirroring changes the class, as for mnist (default: off)")
    g = train.add_argument_group("optimisation")
    g.add_argument("--epochs", type=positive_int, default=None, metavar="N", help=f"number of epochs (default: {t.epochs})")
    g.add_argument("--batch-size", type=positive_int, default=None, metavar="N", help=f"batch size (default: {t.batch_size})")
    g.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default=None,
                   help=f"optimizer (default: the model's, see 'npgrad models'; otherwise {DEFAULT.optimizer.name})")
    g.add_argument("--lr", type=positive_float, default=None, metavar="LR", help=lr_help())
    g.add_argument("--momentum", type=nonnegative_float, default=None, metavar="M", help=hyper_help("momentum", "momentum"))
    g.add_argument("--weight-decay", type=nonnegative_float, default=None, metavar="WD",
                   help=hyper_help("weight_decay", "weight decay"))
    g.add_argument("--scheduler", choices=tuple(SCHEDULERS), default=None, help=scheduler_help())
    g.add_argument("--scheduler-arg", action="append", type=key_value, default=None, metavar="KEY=VALUE",
                   help="override a scheduler argument, e.g. --scheduler-arg gamma=0.5 (repeatable)")
    g.add_argument("--early-stopping", type=positive_int, default=None, metavar="N",
                   help="stop when the validation accuracy has not improved for N epochs (default: off)")
    g.add_argument("--seed", type=int, default=None,
                   help=f"seed of weight init, shuffling, augmentation and splits (default: {t.seed})")
    g = train.add_argument_group("run")
    g.add_argument("--out", default=None, metavar="DIR", help=f"parent folder of the run folders (default: {DEFAULT_OUT})")
    g.add_argument("--nproc", type=positive_int, default=None, metavar="N",
                   help="data-parallel training on N processes of this machine: starts 'mpiexec -n N npgrad train ...' "
                        "(needs npgrad[distributed]); --batch-size stays the global batch, split over the processes")
    g.add_argument("--resume", default=None, metavar="RUN_OR_CKPT",
                   help="continue a run from its last.safetensors (or the given checkpoint) in the same run folder; "
                        "the run's settings are kept, only --epochs (to train longer) and where the data lives (--dataset "
                        "folder:/csv: path, --data-dir, --image-root) may change; "
                        "a new --epochs re-plans a cosine/step/multistep schedule for the new total")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (it is shown only on a terminal anyway)")
    g.add_argument("--limit-batches", type=positive_int, default=None, metavar="N",
                   help="use only the first N batches of each epoch, validation and the final test: a smoke test")
    train.set_defaults(func=cmd_train)

    # ------------------------------------------------------------------- eval
    ev = sub.add_parser(
        "eval", help="evaluate a trained model: loss, accuracy, per-class accuracy, confusion matrix",
        description="Evaluate a checkpoint (a run folder means its best.safetensors). Without --dataset\n"
        "it is evaluated on the run's test split, or without one on its held-out validation split.\n"
        "Prints loss, accuracy and per-class accuracy, and writes a confusion-matrix PNG.",
        formatter_class=Formatter, epilog=datasets_epilog(),
    )
    ev.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder or a .safetensors checkpoint")
    ev.add_argument("--dataset", default=None, metavar="SPEC",
                    help="data to evaluate on: the test split of a registered dataset, folder:PATH (its test_set, "
                         "else all of it) or csv:CSV (all rows)")
    _add_data_location(ev)
    ev.add_argument("--batch-size", type=positive_int, default=256, metavar="N", help="batch size")
    ev.add_argument("--out", default=None, metavar="PNG",
                    help="where to write the confusion matrix (default: confusion_matrix.png next to the checkpoint)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=cmd_eval)

    # ---------------------------------------------------------------- predict
    pr = sub.add_parser(
        "predict", help="label images with a trained model and write a CSV (image,label)",
        description="Predict the class of each image of a folder (searched recursively, files without an\n"
        "image extension are skipped, the image column is the path relative to the folder) or of each\n"
        "row of a CSV (the image column is repeated exactly as given; its paths are relative to the\n"
        "CSV's folder unless --image-root says otherwise). Images are converted to the channels and\n"
        "size the model was trained on. Writes 'image,label' rows with class names: the Kaggle\n"
        "submission shape (--columns renames them, --proba adds one probability column per class).",
        formatter_class=Formatter,
    )
    pr.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder or a .safetensors checkpoint")
    pr.add_argument("--input", required=True, metavar="DIR_OR_CSV", help="a folder of images or a CSV listing them")
    pr.add_argument("--out", default="submission.csv", metavar="CSV", help="the CSV to write")
    pr.add_argument("--image-root", default=None, metavar="DIR",
                    help="base folder of the CSV's image paths (default: the CSV's folder)")
    pr.add_argument("--image-col", default=None, metavar="NAME",
                    help="image column of the input CSV (default: the one used in training, else 'image')")
    pr.add_argument("--batch-size", type=positive_int, default=256, metavar="N", help="batch size")
    pr.add_argument("--columns", type=_two_names, default=None, metavar="IMAGE,LABEL",
                    help="names of the image and label columns of the CSV written (default: image,label)")
    pr.add_argument("--proba", action="store_true",
                    help="also write each class's probability, one column per class named after it")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_predict)

    # ----------------------------------------------------------------- export
    ex = sub.add_parser(
        "export", help="write a trained model as an ONNX file (runs in onnxruntime and elsewhere)",
        description="Export a checkpoint (a run folder means its best.safetensors) for deployment. The format\n"
        "comes from the --out extension (.onnx). The file takes a float32 (batch, C, H, W) input with a\n"
        "dynamic batch and returns the logits; its metadata (metadata_props) holds what `npgrad predict`\n"
        "applies first, so a consumer can reproduce it: classes (JSON list), in_channels, image_size,\n"
        "mean and std (JSON lists) and preprocessing (the formula). Needs: pip install \"npgrad[onnx]\".",
        formatter_class=Formatter,
    )
    ex.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder or a .safetensors checkpoint")
    ex.add_argument("--out", required=True, metavar="FILE", help="the file to write: model.onnx")
    ex.add_argument("--opset", type=positive_int, default=None, metavar="N",
                    help="ONNX opset version (default: npgrad.onnx.DEFAULT_OPSET, 18)")
    ex.set_defaults(func=cmd_export)

    # ----------------------------------------------------------------- models
    mo = sub.add_parser("models", help="list the model zoo with parameter counts",
                        description="List the models 'npgrad train --model' accepts, with their parameter counts "
                        "for the given input (models are built, not run).", formatter_class=Formatter)
    mo.add_argument("--in-channels", type=positive_int, default=1, metavar="C", help="input channels")
    mo.add_argument("--image-size", type=positive_int, default=28, metavar="N", help="input height and width")
    mo.add_argument("--num-classes", type=positive_int, default=10, metavar="K", help="number of classes")
    mo.set_defaults(func=cmd_models)

    # ------------------------------------------------------------------- info
    info = sub.add_parser("info", help="show what a checkpoint holds",
                          description="Show a checkpoint's config, epoch, best accuracy, history and tensors.",
                          formatter_class=Formatter)
    info.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT", help="a run folder (its best.safetensors) or a checkpoint file")
    info.set_defaults(func=cmd_info)
    return parser


def _two_names(text: str) -> tuple[str, str]:
    names = tuple(n.strip() for n in text.split(","))
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise argparse.ArgumentTypeError(f"expected two different column names IMAGE,LABEL, got '{text}'")
    return names  # type: ignore[return-value]


def _add_data_location(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder of the built-in datasets' files (default: the run's)")
    p.add_argument("--image-root", default=None, metavar="DIR",
                   help="base folder of a CSV's image paths (default: the run's, else the CSV's folder)")


# ---------------------------------------------------------------------- commands
def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


def _train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config options of this invocation: the --config file's, overridden by the flags given."""
    flags = {k: v for k, v in vars(args).items() if k in TRAIN_OPTIONS and v is not None}
    if args.config is None:
        return flags
    if args.resume is not None:
        raise InvalidArgumentError("--config cannot be used with --resume: a resumed run keeps its settings")
    return {**read_config_file(args.config), **flags}


def cmd_train(args: argparse.Namespace) -> int:
    options = _train_options(args)
    if args.print_config:
        if args.resume is not None:
            raise InvalidArgumentError("--print-config cannot be used with --resume")
        print(to_toml(make_config(options), options.get("out") or DEFAULT_OUT), end="")
        return 0
    if args.nproc is not None and args.nproc > 1 and session.join_world()[1] == 1:
        return _launch(args.nproc, args.argv)
    if args.resume is not None:
        run = session.resume_session(args.resume, options)
    else:
        run = session.new_session(options)
    with run:  # holds the run folder's lock until training ends
        return _train_session(run, args)


def _train_session(run: session.Session, args: argparse.Namespace) -> int:
    from npgrad.train import NonFiniteLossError

    trainer = run.trainer(progress=_progress(args))
    c, spec = run.config, run.config.data_spec
    say = _printer(run.is_main)
    if run.resumed_from is None:
        trainer.log(f"run folder: {run.run_dir}")
    else:
        for note in run.notes:
            say(note)
        where = f"epoch {trainer.epoch + 1}" + (f", step {trainer.steps_done + 1}" if trainer.steps_done else "")
        trainer.log(f"resuming {run.resumed_from} at {where}")
    trainer.log(f"model     {c.model.name}: {run.model.num_parameters():,} parameters, "
                f"{spec.in_channels}x{spec.image_size}x{spec.image_size} -> {spec.num_classes} classes")
    trainer.log(f"data      {c.data.dataset}: {run.train_size:,} train / {run.val_size:,} val"
                + (f" / {run.test_size:,} test" if run.test_size else "") + " images"
                + (f" ({run.unreadable:,} unreadable skipped)" if run.unreadable else "")
                + (", augmented" if spec.augmentation else ""))
    ranks = run.world[1]
    batch = f"batch {c.training.batch_size}" + (f" ({ranks} processes x {c.training.batch_size // ranks})" if ranks > 1 else "")
    trainer.log(f"training  {c.training.epochs} epochs, {batch}, {builders.optimizer_text(c)}, {c.scheduler.name} schedule")
    if ranks > 1:
        trainer.log(f"parallel  {ranks} MPI processes: DistributedDataParallel, batch norms synchronised")
    start = time.perf_counter()
    try:
        trainer.fit(run.train_loader, run.val_loader, epochs=c.training.epochs)
    except NonFiniteLossError as exc:
        say(f"npgrad: training stopped: {exc}")
        return 1
    elapsed = time.perf_counter() - start
    if trainer.stop_reason in ("interrupted", "aborted"):
        say(f"stopped by Ctrl-C; continue with: npgrad train --resume {run.run_dir}")
        if trainer.stop_reason == "aborted":  # a second Ctrl-C: the ranks are not at the same step
            _abort_other_ranks(130)
        return 130
    best = trainer.best
    monitored = "val" if run.val_loader is not None else "train"
    best_text = f"best {monitored} accuracy {best[1]:.4f} at epoch {best[0]}" if best else "no finished epoch"
    trainer.log(f"done in {elapsed:.1f} s: {best_text}")
    report = run.test_report()
    if report is not None:
        epoch, images, result = report
        top5 = f" top5 {result['top5']:.4f}" if "top5" in result else ""
        trainer.log(f"test      {images:,} images, best.safetensors (epoch {epoch}): "
                    f"loss {result['loss']:.4f} acc {result['acc']:.4f}{top5}")
    trainer.log(f"run folder: {run.run_dir}")
    return 0


def _printer(main: bool) -> Any:
    """Print to stderr on the main process; do nothing on the other ranks."""
    return (lambda text: print(text, file=sys.stderr)) if main else (lambda text: None)


def _launch(nproc: int, argv: Sequence[str]) -> int:
    """Run this ``npgrad`` command on ``nproc`` MPI processes (``mpiexec``), without --nproc; its exit status."""
    import subprocess

    from npgrad.distributed import mpiexec_command

    try:
        import mpi4py  # noqa: F401 - the ranks need it; say so before starting them
        command = mpiexec_command(nproc, ["-m", "npgrad", *_without_nproc(argv)])
    except (ImportError, FileNotFoundError) as exc:
        raise InvalidArgumentError(f"--nproc {nproc} needs mpi4py and an mpiexec: pip install 'npgrad[distributed]' "
                                   f"({exc})") from None
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")  # one BLAS thread per process: the processes are the parallelism
    # mpiexec in its own session, sent each signal this process gets exactly once: a Ctrl-C in the
    # terminal (or a kill of this process) then reaches the ranks as one Ctrl-C, which stops them all
    # cleanly at the same step; mpiexec's own second-Ctrl-C force-abort stays the second Ctrl-C.
    job = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {number: signal.signal(number, lambda number, frame: job.send_signal(number)) for number in forwarded}
    try:
        return job.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _without_nproc(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from npgrad.train import confusion_matrix, evaluate, per_class_accuracy, predictions
    from npgrad.train.plots import plot_confusion_matrix

    model_setup = session.load_for_inference(args.checkpoint)
    data_name, dataset = builders.eval_dataset(model_setup.config, args.dataset, args.data_dir, args.image_root)
    loader = builders.make_loader(model_setup.config, dataset, train=False, batch_size=args.batch_size)
    result, logits, targets = evaluate(model_setup.model, loader, progress=_progress(args), return_outputs=True)
    classes = model_setup.config.data_spec.classes
    confusion = confusion_matrix(predictions(logits), targets, len(classes))
    recall = per_class_accuracy(confusion)

    print(f"checkpoint {model_setup.path} (epoch {model_setup.epoch})  data {data_name}: {len(targets):,} images")
    line = f"loss {result['loss']:.4f}  accuracy {result['acc']:.4f}"
    if "top5" in result:
        line += f"  top-5 {result['top5']:.4f}"
    print(line)
    width = max(len("class"), *(len(c) for c in classes))
    print(f"{'class':<{width}}  {'accuracy':>8}  {'correct':>7}  {'images':>6}")
    for name, acc, row, k in zip(classes, recall, confusion, range(len(classes))):
        acc_text = f"{acc:8.4f}" if acc == acc else f"{'-':>8}"
        print(f"{name:<{width}}  {acc_text}  {row[k]:>7}  {row.sum():>6}")
    out = Path(args.out) if args.out else Path(model_setup.path).parent / "confusion_matrix.png"
    try:
        plot_confusion_matrix(confusion, classes, out, title=f"{model_setup.config.model.name} on {data_name}")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"confusion matrix: {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from npgrad._fileio import atomic_write
    from npgrad.train import predict, predictions, probabilities

    model_setup = session.load_for_inference(args.checkpoint)
    dataset = builders.prediction_dataset(model_setup.config, args.input, image_col=args.image_col, image_root=args.image_root)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InvalidArgumentError(f"cannot write {out}: folder {out.parent} does not exist")
    classes = model_setup.config.data_spec.classes
    loader = builders.make_loader(model_setup.config, dataset, batch_size=args.batch_size)
    try:
        logits = predict(model_setup.model, loader, progress=_progress(args))
    except (FileNotFoundError, ValueError) as exc:  # an image listed but missing, or not decodable
        if not str(exc).startswith(("cannot decode image", "[Errno")):
            raise
        raise InvalidArgumentError(str(exc).splitlines()[0]) from None
    try:
        # A file name that is not valid UTF-8 (a Latin-1 name on Linux) is written back as its original bytes.
        with atomic_write(out, newline="", errors="surrogateescape") as f:
            writer = csv.writer(f)
            labels = [classes[p] for p in predictions(logits)]
            columns = args.columns or ("image", "label")
            if args.proba:
                proba = probabilities(logits)
                writer.writerow([*columns, *classes])
                writer.writerows([image, label, *(f"{p:.6g}" for p in row)]
                                 for image, label, row in zip(dataset.image_ids, labels, proba))
            else:
                writer.writerow(columns)
                writer.writerows(zip(dataset.image_ids, labels))
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {len(dataset):,} predictions to {out}")
    return 0


EXPORT_FORMATS = {".onnx": "onnx"}


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in EXPORT_FORMATS:
        raise InvalidArgumentError(f"--out {out}: unknown format {out.suffix or '(no extension)'!r}; "
                                   f"use one of {', '.join(EXPORT_FORMATS)}")
    if not out.parent.is_dir():
        raise InvalidArgumentError(f"cannot write {out}: folder {out.parent} does not exist")
    try:
        npgrad_onnx.require_onnx()
    except ImportError as exc:
        raise UnsupportedError(str(exc)) from None
    model_setup = session.load_for_inference(args.checkpoint)
    spec = model_setup.config.data_spec
    metadata = {
        "classes": json.dumps(spec.classes), "in_channels": str(spec.in_channels), "image_size": str(spec.image_size),
        "mean": json.dumps(spec.mean), "std": json.dumps(spec.std),
        "preprocessing": "resize to image_size x image_size with in_channels channels; x = (pixels / 255 - mean[c]) / std[c]; "
                         "NCHW float32",
        "model": model_setup.config.model.name, "epoch": str(model_setup.epoch),
    }
    example = np.zeros((1, spec.in_channels, spec.image_size, spec.image_size), np.float32)
    try:
        npgrad_onnx.export(model_setup.model, example, out, opset_version=args.opset, metadata=metadata)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}: {model_setup.config.model.name} (epoch {model_setup.epoch}), input (batch, {spec.in_channels}, "
          f"{spec.image_size}, {spec.image_size}) float32, {len(spec.classes)} classes")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    rows = builders.model_table(args.in_channels, args.image_size, args.num_classes)
    width = max(len(r[0]) for r in rows)
    print(f"models for {args.in_channels}x{args.image_size}x{args.image_size} inputs, {args.num_classes} classes:")
    print(f"{'name':<{width}}  {'parameters':>11}  description")
    for name, params, description, model_options, optimizer in rows:
        print(f"{name:<{width}}  {params:>11}  {description}")
        indent = " " * (width + 15)
        if model_options:
            print(f"{indent}options (--model-arg): {model_options}")
        print(f"{indent}default optimizer: {optimizer}")
    print("\nstem: 'imagenet' is the paper's stem (a strided conv and a max pool), 'small' a stride-1 3x3 conv without\n"
          "a pool (4x4 final feature maps at 28-32 px, and about 16x the compute), 'auto' the paper's from 96 px up,\n"
          "else 'small'. width_ratio=N divides the channel counts by N (d2l's trick for small inputs), e.g.\n"
          "npgrad train --model resnet18 --dataset cifar10 --model-arg stem=imagenet")
    return 0


def _entry(node: Any, *keys: str) -> Any:
    """``node[k1][k2]...``, or None where a level is missing or not a dict (checkpoints from anywhere)."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _number(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``?`` when it is not a number of that kind."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "?"
    try:
        return format(value, spec)
    except ValueError:  # a float for an integer spec
        return "?"


def cmd_info(args: argparse.Namespace) -> int:
    import numpy as np

    from npgrad.train.checkpoint import load_checkpoint, tensor_stats

    state = load_checkpoint(args.checkpoint)
    c = state["config"]
    count, size = tensor_stats(state)
    file_mb = os.path.getsize(state["path"]) / 1e6
    print(f"checkpoint  {state['path']}  ({file_mb:.2f} MB; {count} arrays, {size / 1e6:.2f} MB of data)")
    print(f"written by  npgrad {state.get('npgrad_version', '?')}")
    options = _entry(c, "model", "options")
    options = ", ".join(f"{k}={v}" for k, v in options.items()) if isinstance(options, dict) else ""
    print(f"model       {_entry(c, 'model', 'name')}{f' ({options})' if options else ''}: "
          f"{c.get('in_channels')}x{c.get('image_size')}x{c.get('image_size')} -> {c.get('num_classes')} classes")
    classes = c.get("classes") if isinstance(c.get("classes"), list) else []
    print(f"classes     {', '.join(map(str, classes[:12]))}{' ...' if len(classes) > 12 else ''}")
    print(f"data        {_entry(c, 'data', 'dataset')}  (augment {'on' if _entry(c, 'data', 'augment') else 'off'})")
    opt = c.get("optimizer") if isinstance(c.get("optimizer"), dict) else {}
    opt_args = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in opt.items() if k != "name")
    print(f"optimizer   {opt.get('name')} ({opt_args}), scheduler {_entry(c, 'scheduler', 'name')}")
    tr = [_entry(c, "training", k) for k in ("epochs", "batch_size", "seed")]
    print(f"training    {tr[0]} epochs, batch {tr[1]}, seed {tr[2]}")
    step, epoch = state.get("step") or 0, state.get("epoch")
    progress = f"{_number(epoch, 'd')} epochs completed"
    if step:
        following = epoch + 1 if isinstance(epoch, int) and not isinstance(epoch, bool) else "?"
        progress += f" + {_number(step, 'd')} steps of epoch {following} (interrupted)"
    print(f"progress    {progress}")
    best = state.get("best")
    if isinstance(best, (list, tuple)) and len(best) == 2:
        print(f"best        accuracy {_number(best[1], '.4f')} at epoch {_number(best[0], 'd')}")
    history = state.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        last = history[-1]
        val = f", val loss {_number(last['val_loss'], '.4f')} acc {_number(last.get('val_acc'), '.4f')}" \
            if "val_loss" in last else ""
        print(f"last epoch  train loss {_number(last.get('train_loss'), '.4f')} acc {_number(last.get('train_acc'), '.4f')}"
              f"{val}")
    weights = state["model"].items()
    broken = [str(k) for k, v in weights if isinstance(v, np.ndarray) and v.dtype.kind in "fc" and not np.isfinite(v).all()]
    if broken:
        print(f"weights     NOT FINITE: {', '.join(broken[:5])}{' ...' if len(broken) > 5 else ''} hold NaN or Inf")
    print(f"contents    {', '.join(str(k) for k in state if k != 'path')}")
    return 0


# -------------------------------------------------------------------------- main
def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Warnings (e.g. image files skipped because they cannot be decoded) as one line each."""
    print(f"npgrad: warning: {str(message).splitlines()[0]}", file=sys.stderr)


def _abort_other_ranks(code: int) -> None:
    """Under mpiexec, end the whole job: the other ranks would otherwise wait for this one forever."""
    from npgrad import distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.abort(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argparse error (already printed, status 2)
        return int(exc.code or 0)
    args.argv = argv
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except NpgradError as exc:
        print(f"npgrad: error: {builders.one_line(exc)}", file=sys.stderr)
        _abort_other_ranks(2)
        return 2
    except KeyboardInterrupt:
        print("\nnpgrad: interrupted", file=sys.stderr)
        _abort_other_ranks(130)
        return 130
    except BrokenPipeError:  # e.g. `npgrad models | head`: stop quietly (recipe of the Python docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
