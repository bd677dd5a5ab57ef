import numpy as np
import pytest

from npgrad import nn
from npgrad.nn.parallel import _buckets


def test_buckets_close_at_the_cap_and_split_by_dtype_in_order():
    """PyTorch's rule: the parameter that fills a bucket to the cap closes it (the first bucket's cap is smaller)."""
    sizes = [(100, np.float32), (100, np.float32), (300, np.float32), (10, np.float64), (10, np.float64),
             (5, np.float32), (50, np.float32), (200, np.float32), (1, np.float32)]
    params = [nn.Parameter(np.zeros(n, dtype)) for n, dtype in sizes]
    buckets = _buckets(params, cap_bytes=1000, first_cap_bytes=500)
    # 400 + 400 >= 500 | 1200 >= 1000 | 80 + 80, then another dtype | 20 + 200 + 800 >= 1000 | the rest
    index = {id(p): i for i, p in enumerate(params)}
    assert [[index[id(p)] for p in b.params] for b in buckets] == [[0, 1], [2], [3, 4], [5, 6, 7], [8]]
    assert [b.flat.dtype for b in buckets] == [np.float32, np.float32, np.float64, np.float32, np.float32]
    first = buckets[0]
    assert first.flat.size == 200 and np.shares_memory(first.views[id(params[1])], first.flat)
    assert [len(b.params) for b in _buckets(params, cap_bytes=300)] == [1, 1, 1, 2, 3, 1]  # the first cap: at most the cap


# One script for the equivalence tests: rank 0 also trains the single-process reference on the
# global batch, so both runs start from the same weights and see the same samples.
EQUIVALENCE = """
    import sys
    import numpy as np
    import npgrad
    import npgrad.distributed as dist
    from npgrad import nn, optim
    from npgrad.data import DataLoader, DistributedSampler, TensorDataset
    from npgrad.nn.parallel import DistributedDataParallel

    dtype, overlap, cap_mb, batch_norm = np.dtype(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3]), sys.argv[4] == "1"
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()

    def make_model(sync):
        npgrad.manual_seed(0)
        norm = [nn.SyncBatchNorm(4) if sync else nn.BatchNorm2d(4)] if batch_norm else []
        return nn.Sequential(nn.Conv2d(1, 4, 3), *norm, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).to(dtype)

    rng = np.random.default_rng(1)
    data = TensorDataset(rng.integers(0, 256, (64, 1, 8, 8), dtype=np.uint8), rng.integers(0, 3, 64))
    per_rank = 4
    transform = lambda x, rng: (x / 255).astype(dtype)

    def train(model, loader):
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for epoch in range(2):
            for x, y in loader:
                loss = nn.CrossEntropyLoss()(model(npgrad.Tensor(x)), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses

    if world == 1:  # a world of one: DDP is the plain model
        ddp = DistributedDataParallel(make_model(sync=True))
        print("ok", train(ddp, DataLoader(data, per_rank, shuffle=True, seed=7, transform=transform))[-1])
        raise SystemExit
    model = make_model(sync=True)
    if rank == 1:  # different initial weights on rank 1: the wrapper must broadcast rank 0's
        for p in model.parameters():
            p.data += 1
    ddp = DistributedDataParallel(model, bucket_cap_mb=cap_mb, overlap=overlap)
    sampler = DistributedSampler(data, world, rank, seed=7)
    losses = train(ddp, DataLoader(data, per_rank, seed=7, sampler=sampler, transform=transform))
    mean_losses = np.array(losses)
    dist.all_reduce(mean_losses, op="mean")
    state = {k: v.copy() for k, v in model.state_dict().items()}
    gathered = dist.all_gather(None, np.concatenate([v.ravel().astype(np.float64) for v in state.values()]))
    assert np.array_equal(gathered[0], gathered[1]), "ranks disagree"
    if rank == 0:
        reference = make_model(sync=False)
        ref_losses = train(reference, DataLoader(data, per_rank * world, shuffle=True, seed=7, transform=transform))
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(mean_losses, ref_losses, **tol)
        for key, value in reference.state_dict().items():
            np.testing.assert_allclose(state[key], value, **tol, err_msg=key)
        print("buckets", ddp.bucket_sizes, "max weight diff",
              max(float(np.max(np.abs(state[k] - v))) for k, v in reference.state_dict().items()))
"""


@pytest.mark.mpi
@pytest.mark.parametrize("dtype, overlap, cap_mb", [("float64", 1, 25), ("float32", 1, 0.0005), ("float32", 0, 0.0005)])
def test_two_ranks_train_like_one_process_on_the_global_batch(mpirun, dtype, overlap, cap_mb):
    done = mpirun(EQUIVALENCE, argv=[dtype, str(overlap), str(cap_mb), "0"])
    buckets = eval(done.stdout.split("buckets")[1].split("max")[0])
    # last layer first; 0.0005 MiB = 524 bytes: the linear layer's bias and weight fill a bucket, the conv's 4 + 36 do not
    assert buckets == ([3 + 3 * 144 + 4 + 36] if cap_mb == 25 else [3 + 3 * 144, 40])


@pytest.mark.mpi
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_ranks_with_sync_batch_norm_train_like_one_process_with_batch_norm(mpirun, dtype):
    """Weights, losses and the running statistics (in the state dict) of both ranks = the 1-process run's."""
    mpirun(EQUIVALENCE, argv=[dtype, "1", "25", "1"])


@pytest.mark.mpi
def test_a_world_of_one_trains(mpirun):
    assert "ok" in mpirun(EQUIVALENCE, n=1, argv=["float32", "1", "25", "0"]).stdout


@pytest.mark.mpi
def test_no_sync_accumulates_locally_and_a_missing_gradient_is_reported(mpirun):
    mpirun("""
        import numpy as np
        import npgrad
        import npgrad.distributed as dist
        from npgrad import nn
        from npgrad.nn.parallel import DistributedDataParallel
        dist.init_process_group()
        rank = dist.get_rank()
        model = DistributedDataParallel(nn.Linear(2, 1, bias=False))
        w = model.module.weight
        x = npgrad.Tensor(np.full((1, 2), rank + 1.0, np.float32))   # d(sum y)/dw = x: 1 on rank 0, 2 on rank 1
        with model.no_sync():
            model(x).sum().backward()
        assert w.grad.tolist() == [[rank + 1.0] * 2]                  # local only
        model(x).sum().backward()
        assert w.grad.tolist() == [[3.0, 3.0]]                       # mean over ranks of the accumulated 2x
        # a parameter that takes no part in the loss: the next forward says which
        two = DistributedDataParallel(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
        two.module[1](x).sum().backward()
        try:
            two(x)
        except RuntimeError as error:
            assert "0.weight, 0.bias" in str(error), error
        else:
            raise AssertionError("missing gradients not reported")
    """)
