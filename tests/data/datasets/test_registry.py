import pytest

from npgrad.data.datasets.registry import datasets, find_dataset, register_dataset, unregister_dataset


def test_builtin_entries_and_aliases():
    assert [e.name for e in datasets()][:4] == ["fashion-mnist-small", "fashion-mnist", "mnist", "cifar10"]
    assert find_dataset("CIFAR_10").name == "cifar10" and find_dataset("FashionMNIST").name == "fashion-mnist"
    assert find_dataset("imagenet") is None
    assert not find_dataset("mnist").flip and find_dataset("cifar10").channels == 3
    train = find_dataset("fashion-mnist-small").load(None, train=False)
    assert len(train) == 2000 and train[0][0].shape == (1, 28, 28)


def test_names_are_unique_and_unregister_removes_aliases():
    with pytest.raises(ValueError, match="already taken"):
        register_dataset("MNIST", lambda root, train: None, size=28, channels=1, flip=False, help="")
    with pytest.raises(ValueError, match="already taken"):
        register_dataset("folder", lambda root, train: None, size=28, channels=1, flip=False, help="")
    register_dataset("toy", lambda root, train: None, size=4, channels=1, flip=False, help="", aliases=("toy-2",))
    unregister_dataset("toy")
    assert find_dataset("toy") is None and find_dataset("toy-2") is None
