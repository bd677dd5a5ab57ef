import numpy as np
import pytest

import npgrad


def test_dtype_objects_are_numpy_dtypes_under_pytorch_names():
    x = npgrad.randn(2, 3)
    assert x.dtype == npgrad.float32 and x.dtype is npgrad.float and isinstance(x.dtype, npgrad.dtype)
    assert npgrad.long is npgrad.int64 == np.int64 and npgrad.double is npgrad.float64
    assert npgrad.tensor([1, 2]).dtype == npgrad.long and npgrad.tensor([True]).dtype == npgrad.bool
    assert np.zeros(2, npgrad.uint8).dtype == np.uint8 and npgrad.get_default_dtype() is npgrad.float32


def test_device_objects_compare_like_pytorch_and_only_the_cpu_holds_data():
    assert npgrad.device("cpu") == "cpu" == npgrad.zeros(1).device and str(npgrad.device("cuda", 1)) == "cuda:1"
    assert npgrad.device("cuda:0") == npgrad.device("cuda", 0) != npgrad.device("cuda")
    assert repr(npgrad.device("cpu")) == "device(type='cpu')"
    assert hash(npgrad.device("cpu")) == hash(npgrad.device(npgrad.device("cpu")))
    with pytest.raises(ValueError, match="invalid device string 'cuda:x'"):
        npgrad.device("cuda:x")
    with pytest.raises(RuntimeError, match="CPU only, so it cannot use device 'cuda:0'"):
        npgrad.zeros(2, device="cuda:0")
    with pytest.raises(TypeError, match="device must be a string"):
        npgrad.ones(2, device=0)


def test_cuda_namespace_answers_as_on_a_machine_without_gpu():
    assert npgrad.cuda.is_available() is False and npgrad.cuda.device_count() == 0
    npgrad.cuda.manual_seed_all(0)
    device = npgrad.device("cuda" if npgrad.cuda.is_available() else "cpu")
    x = npgrad.ones(2).to(device)
    assert x.device == "cpu" and not x.is_cuda
    with pytest.raises(RuntimeError, match="Tensor.cuda: npgrad computes on the CPU only"):
        x.cuda()
