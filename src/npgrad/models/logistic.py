"""Logistic (and multinomial logistic) regression on flattened inputs."""

from __future__ import annotations

from npgrad import nn
from npgrad.models._common import check_positive, image_hw
from npgrad.models.registry import register


# sgd lr 0.1 (momentum 0.9) oscillates: 240 steps on the bundled subset end at train loss 1.04, lr 0.01 at 0.45.
@register("logistic_regression", "logistic", optimizer={"name": "sgd", "lr": 0.01})
class LogisticRegression(nn.Sequential):
    """Logistic regression: one linear unit on the flattened pixels (softmax regression for > 2 classes).

    ``Sequential(Flatten(), Linear(D, K))`` with ``D = in_channels * H * W`` (or
    ``input_dim`` for tabular data) and

    * ``K = 1`` when ``num_classes <= 2``: the model returns the **logit** z, shape
      (N, 1); P(class 1) = sigmoid(z). The sigmoid is not part of the model: train
      with ``nn.BCEWithLogitsLoss`` (numerically stable) on float targets of
      shape (N, 1), and predict class 1 where z > 0 (i.e. sigmoid(z) > 0.5).
    * ``K = num_classes`` otherwise: multinomial (softmax) regression returning
      (N, K) logits for ``nn.CrossEntropyLoss``.

    ``num_outputs`` is K. Input: (N, in_channels, H, W) or (N, D).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        image_size: int | tuple[int, int] = 28,
        input_dim: int | None = None,
    ):
        check_positive("logistic_regression", in_channels=in_channels, num_classes=num_classes)
        if input_dim is None:
            h, w = image_hw("logistic_regression", image_size)
            input_dim = in_channels * h * w
        check_positive("logistic_regression", input_dim=input_dim)
        num_outputs = 1 if num_classes <= 2 else num_classes
        super().__init__(nn.Flatten(), nn.Linear(input_dim, num_outputs))
        self.num_outputs = num_outputs
