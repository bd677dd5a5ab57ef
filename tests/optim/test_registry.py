import pytest

from npgrad import nn, optim
from npgrad.errors import InvalidArgumentError
from npgrad.optim import lr_scheduler
from npgrad.optim.registry import OPTIMIZERS, SCHEDULERS, SchedulePlan, get_optimizer, get_scheduler, register_optimizer


def _params():
    return nn.Linear(2, 2).parameters()


def test_optimizer_entries_build_with_defaults_and_reject_foreign_settings():
    sgd = get_optimizer("sgd").build(_params(), lr=0.5)
    assert isinstance(sgd, optim.SGD) and sgd.param_groups[0]["lr"] == 0.5 and sgd.param_groups[0]["momentum"] == 0.9
    with pytest.raises(InvalidArgumentError, match="momentum does not apply to the adam optimizer"):
        get_optimizer("adam").build(_params(), momentum=0.9)
    with pytest.raises(InvalidArgumentError, match="unknown optimizer 'lion'; available: sgd, adam"):
        get_optimizer("lion")
    with pytest.raises(InvalidArgumentError, match="already registered"):
        register_optimizer("sgd", optim.SGD, lr=1.0)
    with pytest.raises(InvalidArgumentError, match="needs a default lr"):
        register_optimizer("nolr", optim.SGD)
    assert "nolr" not in OPTIMIZERS


def test_scheduler_entries_plan_their_arguments():
    opt = optim.SGD(_params(), lr=0.1)
    plan = SchedulePlan(epochs=6, steps_per_epoch=5, lr=0.1)
    cosine = get_scheduler("cosine").build(opt, plan)
    assert isinstance(cosine, lr_scheduler.CosineAnnealingLR) and cosine.T_max == 30
    assert get_scheduler("step").build(opt, plan, gamma=0.5).gamma == 0.5
    assert get_scheduler("none").build(opt, plan) is None
    with pytest.raises(InvalidArgumentError, match="takes no arguments"):
        get_scheduler("none").build(opt, plan, gamma=0.5)
    assert not SCHEDULERS["onecycle"].extendable and SCHEDULERS["cosine"].planned and SCHEDULERS["warmup"].interval == "step"
