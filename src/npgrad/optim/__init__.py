"""Optimizers and learning-rate schedules with PyTorch's API (``torch.optim``)."""

from npgrad.optim import lr_scheduler
from npgrad.optim.adagrad import Adagrad
from npgrad.optim.adam import Adam, AdamW
from npgrad.optim.optimizer import Optimizer
from npgrad.optim.rmsprop import RMSprop
from npgrad.optim.sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
