"""Per-layer health summaries in TensorBoard, read back from the event files with tensorboard's own reader."""
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

import actlab
from actlab.advise.tensorboard import write_health
from actlab.data import load_dataset, split
from actlab.models import build_model


def read(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def data():
    s = split(load_dataset("mnist-small"), val_fraction=0.1, seed=0, train_limit=300)
    return s.train_x[:32], s.train_y[:32]


def test_diagnose_table_round_trips_as_scalars(data, tmp_path):
    x, y = data
    model = build_model("mlp", "tanh", depth=3, width=32, dropout=False, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tables = []
    with actlab.diagnose(model, optimizer=opt, sample_rows=None) as d, SummaryWriter(str(tmp_path)) as writer:
        for step in range(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            tables.append(d.table())
            write_health(writer, tables[-1], step)
            d.reset()
    acc = read(tmp_path)
    tags = set(acc.Tags()["scalars"])
    layers = [row["name"] for row in tables[0]]
    assert len(layers) == 4  # three hidden Linear+Tanh rows and the readout
    for name in layers[:3]:
        for metric in ("grad_norm", "grad_ratio", "update_ratio", "act_var", "saturated", "dead"):
            assert f"health/{metric}/{name}" in tags
    assert "health/grad_ratio/" + layers[3] not in tags  # the last weighted layer has nothing above it
    for step, table in enumerate(tables):
        first, second = table[0], table[1]
        events = {t: acc.Scalars(t)[step] for t in (f"health/grad_ratio/{first['name']}",
                                                    f"health/act_var/{first['name']}")}
        assert all(e.step == step for e in events.values())
        ratio = first["grad_norm_w"] / second["grad_norm_w"]
        assert events[f"health/grad_ratio/{first['name']}"].value == pytest.approx(ratio, rel=1e-6)
        assert events[f"health/act_var/{first['name']}"].value == pytest.approx(first["act_var"], rel=1e-6)
    # a handful of scalars per layer per step, not histograms
    assert acc.Tags()["histograms"] == [] and len(tags) <= 6 * len(layers)


def test_advise_writes_one_summary_per_step(data, tmp_path):
    model = build_model("mlp", "relu", depth=4, width=32, dropout=False, seed=0)
    actlab.advise(model, data, steps=4, tensorboard=tmp_path / "tb")
    acc = read(tmp_path / "tb")
    series = acc.Scalars("health/dead/1")  # the first hidden layer (Flatten is 0)
    assert sorted(e.step for e in series) == [0, 1, 2, 3, 4]  # initialisation, then every step
    assert all(0.0 <= e.value <= 1.0 for e in series)


def test_write_health_to_a_folder_and_bad_target(tmp_path):
    table = [{"name": "fc", "grad_norm_w": 2.0, "act_var": 0.5, "frac_dead": 0.0},
             {"name": "out", "grad_norm_w": 4.0}]
    assert write_health(tmp_path, table, 7) == 5
    acc = read(tmp_path)
    assert acc.Scalars("health/grad_ratio/fc")[0].value == 0.5
    assert acc.Scalars("health/grad_ratio/fc")[0].step == 7
    with pytest.raises(TypeError, match="SummaryWriter"):
        write_health(42, table, 0)
