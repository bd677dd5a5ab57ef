"""The loop functions and the callbacks, used without the CLI."""

import numpy as np
import pytest

import npgrad
from npgrad import models, nn, optim
from npgrad.data import DataLoader, TensorDataset
from npgrad.train import Criterion, EpochState, Trainer, evaluate, predict, train_step
from npgrad.train.metrics import RunningMetrics


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = (rng.integers(0, 60, (n, 1, 4, 4)) + 150 * y[:, None, None, None]).astype(np.uint8)
    return DataLoader(TensorDataset(x, y, classes=["a", "b"]), batch_size=8)


def test_the_criterion_is_chosen_once_from_num_outputs():
    binary = models.create("logistic", in_channels=1, num_classes=2, image_size=4)
    multi = models.create("mlp", in_channels=1, num_classes=3, image_size=4, hidden_dims=[4])
    assert binary.num_outputs == 1 and isinstance(Criterion.for_model(binary).loss_fn, nn.BCEWithLogitsLoss)
    assert isinstance(Criterion.for_model(multi).loss_fn, nn.CrossEntropyLoss)
    plain = Criterion.for_model(nn.Sequential(nn.Flatten(), nn.Linear(16, 1)))  # no num_outputs: the first logits decide
    assert plain.loss_fn is None
    logits = npgrad.Tensor(np.zeros((2, 1), np.float32))
    assert plain(logits, np.array([0, 1])).item() == pytest.approx(np.log(2))
    assert plain.binary and isinstance(plain.loss_fn, nn.BCEWithLogitsLoss)


def test_train_step_evaluate_and_predict_are_plain_functions():
    npgrad.manual_seed(0)
    model = models.create("logistic", in_channels=1, num_classes=2, image_size=4)
    opt = optim.SGD(model.parameters(), lr=0.5)
    loader = _data()
    before = evaluate(model, loader)
    for x, y in loader:
        result = train_step(model, opt, Criterion.for_model(model), npgrad.Tensor(x), y)
        assert np.isfinite(result.loss) and result.logits.shape == (8, 1)
    after = evaluate(model, loader)
    assert after["loss"] < before["loss"] and set(after) == {"loss", "acc"}
    assert predict(model, loader).shape == (32, 1)


def test_a_non_finite_loss_leaves_the_parameters_alone():
    model = models.create("logistic", in_channels=1, num_classes=2, image_size=4)
    weights = {k: v.copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), lr=0.5)
    x = npgrad.Tensor(np.full((2, 1, 4, 4), np.inf, np.float32))
    with np.errstate(invalid="ignore", over="ignore"):
        result = train_step(model, opt, Criterion.for_model(model), x, np.array([0, 1]))
    assert not np.isfinite(result.loss)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, weights[k])


def test_epoch_state_round_trips_mid_epoch_and_is_empty_between_epochs():
    assert EpochState().state_dict() == {"step": 0, "running": None, "extra_sums": None, "epoch_lr": None,
                                         "epoch_time": 0.0, "train_time": 0.0}
    running = RunningMetrics()
    running.update(0.5, np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
    state = EpochState(3, running, {"f1": 1.5}, 0.1, 2.0, 1.5)
    again = EpochState.from_state_dict(state.state_dict())
    assert again.state_dict() == state.state_dict() and again.running.result() == running.result()


def test_a_user_callback_needs_no_subclassing_and_can_stop_and_add_columns():
    class Recorder:  # any object with some of the hooks
        def __init__(self):
            self.calls = []

        def on_batch_end(self, trainer, loss):
            self.calls.append("batch")

        def on_record(self, trainer, record):
            record["double_acc"] = 2 * record["train_acc"]

        def on_epoch_end(self, trainer, record):
            self.calls.append(f"epoch {trainer.epoch}")
            if trainer.epoch == 2:
                trainer.stop("enough")

    model = models.create("logistic", in_channels=1, num_classes=2, image_size=4)
    recorder = Recorder()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), progress=False, log=None, callbacks=[recorder])
    trainer.fit(_data(), epochs=5)
    assert trainer.stop_reason == "enough" and trainer.epoch == 2
    assert recorder.calls == ["batch"] * 4 + ["epoch 1"] + ["batch"] * 4 + ["epoch 2"]
    assert trainer.history[0]["double_acc"] == 2 * trainer.history[0]["train_acc"] and "time_s" in trainer.history[0]


@pytest.mark.mpi
def test_a_nan_loss_on_one_rank_skips_the_step_on_every_rank(mpirun):
    mpirun("""
        import numpy as np
        import npgrad
        import npgrad.distributed as dist
        from npgrad import nn, optim
        from npgrad.nn.parallel import DistributedDataParallel
        from npgrad.train import Criterion, train_step
        dist.init_process_group()
        rank = dist.get_rank()
        npgrad.manual_seed(0)
        model = DistributedDataParallel(nn.Linear(3, 2))
        opt = optim.SGD(model.parameters(), lr=0.1)
        before = model.module.weight.data.copy()
        x = np.ones((4, 3), np.float32)
        if rank == 1:
            x[0, 0] = np.nan
        result = train_step(model, opt, Criterion(), npgrad.Tensor(x), np.zeros(4, np.int64))
        assert np.isnan(result.loss), result.loss
        assert np.array_equal(model.module.weight.data, before)
        result = train_step(model, opt, Criterion(), npgrad.Tensor(np.ones((4, 3), np.float32)), np.zeros(4, np.int64))
        assert np.isfinite(result.loss) and not np.array_equal(model.module.weight.data, before)
    """)
