"""The compare engine on real MNIST slices: learning, determinism, grouping independence, clipping, divergence."""
import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from actlab.compare.engine import EpochRecord, TrainConfig, train_group

from paths import MNIST_DIR as MNIST


@pytest.fixture(scope="module")
def splits():
    """2,000 real training images, 500 validation and 500 test images."""
    if not MNIST.is_dir():
        pytest.skip(f"real MNIST files not found in {MNIST}")
    from actlab.data import load_dataset, split

    s = split(load_dataset("mnist", data_dir=MNIST.parent, download=False, progress=False),
              val_fraction=0.1, seed=0, train_limit=2000)
    return dataclasses.replace(s, val_x=s.val_x[:500], val_y=s.val_y[:500],
                               test_x=s.test_x[:500], test_y=s.test_y[:500])


@pytest.fixture(scope="module")
def small(splits):
    """The first 512 training images, for the runs that only compare numbers."""
    return dataclasses.replace(splits, train_x=splits.train_x[:512], train_y=splits.train_y[:512])


def mlp(seed, **kw):
    return TrainConfig(**{"model": "mlp", "activation": "relu", "seed": seed, "epochs": 2, "threads": 1,
                          "width": 64, **kw})


def train(configs, data, **kw):
    seen = []
    history = train_group(configs, data, lambda i, r: seen.append((i, r.epoch)), **kw)
    return history, seen


def numbers(record: EpochRecord):
    return (record.train_loss, record.train_acc, record.val_loss, record.val_acc, record.test_loss, record.test_acc)


def test_the_seed_cnn_learns_well_above_chance_in_one_epoch(splits):
    (records,), _ = train([TrainConfig(seed=0, epochs=1, threads=1)], splits)
    (r,) = records
    assert r.epoch == 1 and r.samples == 2000 and r.seconds > 0 and not r.diverged and r.layers == []
    assert r.val_acc > 0.6 and r.test_acc > 0.6  # chance is 0.1
    assert r.val_loss < math.log(10)  # better than a uniform guess


def test_callbacks_come_epoch_by_epoch_for_every_seed(small):
    history, seen = train([mlp(0), mlp(1)], small)
    assert seen == [(0, 1), (1, 1), (0, 2), (1, 2)]
    assert [r.samples for r in history[0]] == [512, 1024]
    assert history[0][-1].train_loss < history[0][0].train_loss


def test_same_config_and_seed_give_identical_numbers(small):
    config = mlp(3, activation="gelu", epochs=1)
    (a,), _ = train([config], small)
    (b,), _ = train([config], small)
    assert numbers(a[0]) == numbers(b[0])


def test_a_run_does_not_depend_on_the_seeds_grouped_with_it(small):
    """Exact equality: grouped runs are trained one after another with their own RNG streams."""
    grouped, _ = train([mlp(0), mlp(1)], small)
    alone, _ = train([mlp(1)], small)
    assert [numbers(r) for r in grouped[1]] == [numbers(r) for r in alone[0]]
    assert numbers(grouped[0][0]) != numbers(grouped[1][0])


def test_cnn_runs_are_grouping_independent_too(small):
    data = dataclasses.replace(small, train_x=small.train_x[:256], train_y=small.train_y[:256],
                               val_x=small.val_x[:100], val_y=small.val_y[:100],
                               test_x=small.test_x[:100], test_y=small.test_y[:100])
    config = TrainConfig(seed=1, epochs=1, threads=1, batch_size=64)
    grouped, _ = train([dataclasses.replace(config, seed=0), config], data)
    alone, _ = train([config], data)
    assert numbers(grouped[1][0]) == numbers(alone[0][0])


def test_train_group_leaves_the_callers_rng_and_threads_alone(small):
    torch.manual_seed(7)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    train([mlp(0, epochs=1, threads=2)], small)
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads


def test_clip_value_clips_every_gradient_element_before_the_step(small):
    largest = []

    def spy(optimizer, args, kwargs):
        largest.append(max(p.grad.abs().max().item() for g in optimizer.param_groups for p in g["params"]))

    handle = register_optimizer_step_pre_hook(spy)
    try:
        train([mlp(0, epochs=1, clip_value=1e-4)], small)
        clipped = list(largest)
        largest.clear()
        train([mlp(0, epochs=1, clip_value=None)], small)
    finally:
        handle.remove()
    assert len(clipped) == 4  # 512 images in batches of 128
    assert max(clipped) == pytest.approx(1e-4)
    assert max(largest) > 1e-2  # without clipping the same steps see far larger elements


def test_clip_norm_bounds_the_total_gradient_norm(small):
    norms = []

    def spy(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"]]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    handle = register_optimizer_step_pre_hook(spy)
    try:
        train([mlp(0, epochs=1, clip_value=None, clip_norm=0.05)], small)
    finally:
        handle.remove()
    assert max(norms) <= 0.05 * (1 + 1e-5)


class TurnsNaN(nn.Module):
    """Passes its input through for a few training steps, then emits NaN (a forced divergence)."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        return x * math.nan if self.calls > self.after else x


def diverging_factory(act, in_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 32), act(), TurnsNaN(after=2),
                         nn.Linear(32, num_classes))


def test_a_diverging_run_stops_and_is_marked_while_the_call_returns(small):
    config = TrainConfig(model="test_engine:diverging_factory", activation="sigmoid", epochs=3, threads=1)
    history, seen = train([config], small)
    (only,) = history
    assert len(only) == 1 and seen == [(0, 1)]
    assert only[0].diverged and not math.isfinite(only[0].train_loss) and not math.isfinite(only[0].val_loss)


def test_huge_learning_rate_with_sigmoid_is_handled_without_a_crash(small):
    config = mlp(0, activation="sigmoid", lr=1e3, clip_value=None, epochs=2)
    (records,), _ = train([config], small)
    last = records[-1]
    assert last.diverged == (not math.isfinite(last.train_loss))
    assert last.val_acc < 0.5  # whether or not it overflowed, a step size of 1000 does not learn


def test_diagnostics_fill_per_layer_statistics(small):
    (records,), _ = train([mlp(0, epochs=1)], small, diagnostics=True)
    layers = records[0].layers
    assert layers and all("layer" in row for row in layers)
    assert any("grad_norm_w" in row for row in layers)


def test_configs_that_differ_beyond_the_seed_are_refused(small):
    with pytest.raises(ValueError, match="differ only in their seed"):
        train_group([mlp(0), mlp(1, lr=0.01)], small, lambda i, r: None)


def test_key_is_stable_and_covers_what_the_run_computes():
    a = TrainConfig(activation="ELU", seed=1)
    assert a.activation == "elu"
    assert a.key() == TrainConfig(activation="elu", seed=1, device="cpu", threads=2).key()
    assert a.key() != TrainConfig(activation="elu", seed=2).key()
    assert a.key() != TrainConfig(activation="elu:alpha=0.5", seed=1).key()
    assert a.group_key() == TrainConfig(activation="elu", seed=2).group_key()
    assert len(a.key()) == 16 and int(a.key(), 16) >= 0


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "relux"}, "unknown activation"),
    ({"lr": -1.0}, "lr must be a positive finite number"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"optimizer": "lbfgs"}, "expected one of adam, adamw, sgd"),
    ({"clip_value": 0}, "clip_value must be a positive number or None"),
    ({"init": "xavier"}, "init 'xavier' is not a scheme"),
    ({"model": "resnet"}, "expected 'cnn', 'mlp' or a factory"),
])
def test_bad_settings_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_default_cpu_evaluation_batches_give_the_numbers_of_one_big_batch(splits):
    from actlab.compare.engine import EVAL_BATCH, evaluate
    from actlab.models import accelerate, build_model

    net = accelerate(build_model("cnn", "relu", seed=0))
    x, y = splits.val_x, splits.val_y
    assert EVAL_BATCH["cpu"] < y.shape[0]  # several batches really are summed
    (loss_small, acc_small), = evaluate(net, x, y)
    (loss_big, acc_big), = evaluate(net, x, y, batch_size=y.shape[0])
    assert acc_small == acc_big
    assert loss_small == pytest.approx(loss_big, rel=1e-6)


STEADY_PROBE = r"""
import ctypes, sys, torch
from actlab.compare.engine import steady_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
took = steady_allocator() if sys.argv[1] == "steady" else None
x = torch.ones(5_000_000)  # 20 MB, the size of the seed CNN's biggest activation at batch 128
during = libc.mallinfo2()
del x
after = libc.mallinfo2()
print(took, during.hblkhd >> 20, after.fordblks >> 20)
"""


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_steady_allocator_keeps_big_freed_blocks_in_the_heap_for_reuse():
    """By default glibc maps a 20 MB block on its own and unmaps it when freed, so the next training step
    faults its pages in again (thousands of faults per step of the seed CNN; the benchmark's step table);
    after steady_allocator() the block comes from the heap and stays there, free for the next step.
    mallinfo2's counters say which happened, whatever the machine's load."""
    import os
    import subprocess
    import sys

    def probe(mode, setting=""):
        out = subprocess.run([sys.executable, "-c", STEADY_PROBE, mode], capture_output=True, text=True,
                             check=True, env={**os.environ, "ACTLAB_MALLOC": setting}).stdout.split()
        return out[0], int(out[1]), int(out[2])  # took, MB mapped on their own, MB free in the heap after

    _, mapped, kept = probe("default")
    assert mapped >= 19 and kept < 19, (mapped, kept)
    took, mapped, kept = probe("steady")
    assert took == "True"
    assert mapped < 19 and kept >= 19, (mapped, kept)
    took, mapped, kept = probe("steady", "default")  # ACTLAB_MALLOC=default leaves glibc as it is
    assert took == "False" and mapped >= 19 and kept < 19
