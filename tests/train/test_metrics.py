import numpy as np
import pytest

import npgrad
from npgrad.train import metrics as M


def test_multiclass_accuracy_and_predictions():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.1, 0.2, 0.3], [5.0, 0.0, 6.0]], np.float32)
    targets = np.array([0, 1, 0, 0])
    np.testing.assert_array_equal(M.predictions(logits), [0, 1, 2, 2])
    assert M.accuracy(logits, targets) == 0.5
    assert M.accuracy(npgrad.Tensor(logits), npgrad.Tensor(targets)) == 0.5  # Tensors too


def test_binary_accuracy_uses_the_sign_of_the_single_logit():
    logits = np.array([[-2.0], [0.5], [3.0], [-0.1]], np.float32)  # (N, 1)
    targets = np.array([0, 1, 0, 0])
    np.testing.assert_array_equal(M.predictions(logits), [0, 1, 1, 0])
    assert M.accuracy(logits, targets) == 0.75
    assert M.accuracy(logits.reshape(-1), targets) == 0.75  # (N,) works the same
    p = M.probabilities(logits)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-6)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
    assert np.isfinite(M.probabilities(np.array([[1e4], [-1e4]]))).all()


def test_topk_matches_a_sort_based_reference():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((200, 10))
    targets = rng.integers(0, 10, 200)
    order = np.argsort(-logits, axis=1)
    for k in (1, 3, 5, 10):
        expected = np.mean([t in row[:k] for t, row in zip(targets, order)])
        assert M.topk_accuracy(logits, targets, k) == pytest.approx(expected)
    assert M.topk_accuracy(logits, targets, 1) == M.accuracy(logits, targets)
    with pytest.raises(ValueError, match="k must be in"):
        M.topk_accuracy(logits, targets, 11)


def test_topk_counts_exactly_k_classes_per_row_when_logits_tie():
    assert M.topk_accuracy(np.zeros((10, 10)), np.arange(10), 5) == 0.5  # not 1.0: five classes of ten are the top 5
    rng = np.random.default_rng(1)
    logits = rng.integers(0, 3, (50, 12)).astype(np.float32)  # many ties
    for k in (1, 3, 5):
        per_target = [M.topk_correct_count(logits, np.full(50, c), k) for c in range(12)]
        assert sum(per_target) == 50 * k  # each row puts exactly k of its classes in the top k
    assert M.topk_accuracy(logits, logits.argmax(1), 1) == 1.0 and M.topk_accuracy(logits, np.zeros(50), 1) == (
        M.accuracy(logits, np.zeros(50)))


def test_topk_agrees_with_torch_topk():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((300, 10)).astype(np.float32)
    logits[:100] = rng.integers(0, 2, (100, 10))  # rows with ties: torch's tie order is unspecified, only the count is
    targets = rng.integers(0, 10, 300)
    top = torch.from_numpy(logits).topk(5, dim=1).indices.numpy()
    assert M.topk_correct_count(logits[100:], targets[100:], 5) == sum(t in row for t, row in zip(targets[100:], top[100:]))
    tie_hits = [sum(c in row for c in range(10)) for row in top[:100]]
    assert tie_hits == [5] * 100 and sum(M.topk_correct_count(logits[:100], np.full(100, c), 5) for c in range(10)) == 500


def test_confusion_matrix_and_per_class_accuracy():
    preds = np.array([0, 1, 1, 2, 2, 2])
    targets = np.array([0, 1, 2, 2, 2, 1])
    cm = M.confusion_matrix(preds, targets, 4)
    expected = np.zeros((4, 4), int)
    for t, p in zip(targets, preds):
        expected[t, p] += 1
    np.testing.assert_array_equal(cm, expected)
    acc = M.per_class_accuracy(cm)
    np.testing.assert_allclose(acc[:3], [1.0, 0.5, 2 / 3])
    assert np.isnan(acc[3])  # a class without samples
    with pytest.raises(ValueError, match="preds must lie"):
        M.confusion_matrix(np.array([4]), np.array([0]), 4)


def test_running_metrics_weights_batches_by_size_and_round_trips():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((50, 7))
    targets = rng.integers(0, 7, 50)
    running = M.RunningMetrics()
    for start, stop in ((0, 32), (32, 50)):  # unequal batches
        running.update(float(stop), logits[start:stop], targets[start:stop])
    r = running.result()
    assert r["loss"] == pytest.approx((32 * 32 + 50 * 18) / 50)
    assert r["acc"] == pytest.approx(M.accuracy(logits, targets))
    assert r["top5"] == pytest.approx(M.topk_accuracy(logits, targets, 5))
    copy = M.RunningMetrics()
    copy.load_state_dict(running.state_dict())
    assert copy.result() == r
    # top-5 only with more than five classes, never for binary
    few = M.RunningMetrics()
    few.update(1.0, logits[:, :5], targets % 5)
    assert "top5" not in few.result()
    binary = M.RunningMetrics()
    binary.update(1.0, logits[:, :1], targets % 2)
    assert set(binary.result()) == {"loss", "acc"}
