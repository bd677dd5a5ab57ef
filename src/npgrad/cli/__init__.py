"""The ``npgrad`` command: train, evaluate and use models from the terminal.

    npgrad train                       # LeNet-BN on the bundled Fashion-MNIST subset
    npgrad train --config run.toml --epochs 5      # a config file, a flag overriding it
    npgrad train --model resnet18 --dataset cifar10 --data-dir data --augment --print-config
    npgrad eval RUN ; npgrad predict RUN --input test_images/ --out submission.csv
    npgrad models ; npgrad info RUN/best.safetensors

What lives here, and what may import what (top to bottom; the library never imports `npgrad.cli`):

- ``config.py``: the typed run config (`RunConfig` and its sections, the data-derived `DataSpec`)
  and its ``config.json`` form. Imports only `npgrad.errors`.
- ``options.py``: the command-line and TOML options, their checks, and `make_config` (options →
  `RunConfig`); help and choices generated from the dataset/optimizer/scheduler registries.
  Imports ``config`` and the registries.
- ``builders.py``: datasets, `DataSpec`, loaders, model, optimizer and scheduler from a `RunConfig`.
  Imports ``config``, ``options`` and the library (`npgrad.data`, `npgrad.models`, `npgrad.optim`).
- ``session.py``: a new or resumed run (its folder, ``config.json``, the `Trainer`) and a model loaded
  for inference (`load_for_inference`, public: a trained model with its run's preprocessing).
  Imports ``builders`` and `npgrad.train`.
- ``commands.py``: the argument parser, one ``cmd_*`` function per subcommand, and `main`, the only place
  that turns the `npgrad.errors.NpgradError` family into ``npgrad: error: <one line>`` and exit status 2
  (by type, never by message). Anything else is a bug and keeps its traceback. (Not ``main.py``:
  a submodule named like the re-exported ``main`` function would be shadowed by it.)
"""

from npgrad.cli.commands import build_parser, main
from npgrad.cli.session import InferenceSetup, load_for_inference

__all__ = ["InferenceSetup", "build_parser", "load_for_inference", "main"]
