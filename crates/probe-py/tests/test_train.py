"""probe.train in-process against `probe train` (same tables, same files), on_measure, dict
configs, errors and Ctrl-C."""

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

import probe
from conftest import REPO, as_columns, assert_same_table, read_csv

CONFIG = REPO / "configs" / "tishby_tanh.toml"
EPOCHS = 30


@pytest.fixture(scope="module")
def cli_run(probe_bin, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    subprocess.run([probe_bin, "train", "--config", str(CONFIG), "--epochs", str(EPOCHS),
                    "--out", str(out), "--quiet"], check=True, capture_output=True)
    return out


def test_train_equals_cli(cli_run, tmp_path):
    seen = []
    run = probe.train(CONFIG, out=tmp_path / "py", epochs=EPOCHS, on_measure=seen.append)
    assert run.epoch == EPOCHS and run.stopped_after is None
    for name in ("metrics.csv", "infoplane.csv", "flow.csv", "stats.csv"):
        assert (tmp_path / "py" / name).read_bytes() == (cli_run / name).read_bytes(), name
        assert_same_table(run.tables[name], read_csv(cli_run / name))
    # on_measure saw every measured epoch's rows, in order
    epochs = sorted(set(as_columns(run.infoplane)["epoch"]))
    assert [m["epoch"] for m in seen] == epochs
    rows = {k: [] for k in as_columns(run.infoplane)}
    for m in seen:
        for k, v in as_columns(m["infoplane"]).items():
            rows[k] += v
    assert_same_table(rows, run.infoplane)


def test_train_from_a_dict(cli_run, tmp_path):
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    with open(CONFIG, "rb") as f:
        cfg = tomllib.load(f)
    run = probe.train(cfg, out=tmp_path / "d", epochs=EPOCHS)
    assert_same_table(run.infoplane, read_csv(cli_run / "infoplane.csv"))


def test_train_errors(tmp_path):
    with pytest.raises(ValueError, match="(?s)invalid config dict: .*`model.activation` is required"):
        probe.train({"name": "x", "data": {"dataset": "tishby12"}, "model": {"widths": [12, 2]}},
                    out=tmp_path / "e")
    # A dict has no lines: the error names the key path, and shows no generated TOML.
    bad = {"name": "x", "data": {"dataset": "tishby12"},
           "model": {"widths": [12, 2], "activation": "tanh"}, "train": {"lr": "fast"}}
    with pytest.raises(ValueError) as e:
        probe.train(bad, out=tmp_path / "e")
    msg = str(e.value)
    assert msg.startswith("invalid config dict: at `train.lr`:"), msg
    assert "line" not in msg and "|" not in msg, msg
    with pytest.raises(OSError, match="nonexistent"):
        probe.train(tmp_path / "nonexistent.toml")
    with pytest.raises(TypeError):
        probe.train(42)
    with pytest.raises(ValueError, match="device"):
        probe.train(CONFIG, out=tmp_path / "d", device="gpu")
    with pytest.raises(ZeroDivisionError):
        probe.train(CONFIG, out=tmp_path / "z", epochs=EPOCHS, on_measure=lambda m: 1 / 0)
    # the run stopped cleanly: what was finished is on disk
    assert (tmp_path / "z" / "metrics.csv").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
def test_ctrl_c_stops_train(tmp_path):
    def interrupt():
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        probe.train(CONFIG, out=tmp_path / "c", epochs=1_000_000)
    assert time.monotonic() - started < 30
    assert (tmp_path / "c" / "metrics.csv").exists()
    # as `probe train` on SIGINT: the batch in progress ends with a checkpoint to resume from
    assert (tmp_path / "c" / "checkpoint.safetensors").exists()


# A CNN with dropout on 2000 images in batches of 2 (1000 batches an epoch), measured rarely, so
# that Ctrl-C lands inside an epoch.
CNN_LONG = {
    "name": "cnn_long", "seed": 4, "device": "cpu",
    "data": {"dataset": "fashion-mnist-subset", "train_limit": 2000},
    "model": {"kind": "cnn", "channels": [2, 4], "fc": [8], "dropout": 0.2},
    "train": {"optimizer": "adam", "lr": 0.003, "batch_size": 2, "epochs": 40,
              "checkpoint_every": 10},
    "measure": {"schedule": "every_k", "every": 20, "on": "test", "flow": False, "stats": False,
                "hooks": ["fc.0.hook_post"],
                "estimators": [{"kind": "adaptive", "bins": 10}]},
}


def checkpoint_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
def test_ctrl_c_stops_train_at_the_batch_and_resume_is_byte_identical(tmp_path, probe_bin):
    def interrupt():
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGINT)

    cut = tmp_path / "cut"
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        probe.train(CNN_LONG, out=cut)
    meta = checkpoint_metadata(cut / "checkpoint.safetensors")
    # stopped inside an epoch: the checkpoint says where, the tables hold the finished epochs
    assert int(meta["paused.epoch"]) == int(meta["epoch"]) + 1, meta
    assert 1 <= int(meta["paused.batches"]) < 1000, meta
    assert not [p.name for p in cut.iterdir() if ".tmp." in p.name]
    subprocess.run([probe_bin, "train", "--resume", str(cut), "--quiet"], check=True,
                   capture_output=True)
    full = tmp_path / "full"
    probe.train(CNN_LONG, out=full)
    names = sorted(p.name for p in full.iterdir())
    assert names == sorted(p.name for p in cut.iterdir())
    for name in names:
        assert (full / name).read_bytes() == (cut / name).read_bytes(), name


def test_lr_overrides_the_config(tmp_path):
    run = probe.train(CONFIG, out=tmp_path / "lr", epochs=EPOCHS, lr=0.0125)
    with open(tmp_path / "lr" / "config.toml") as f:
        assert "lr = 0.0125" in f.read()
    assert run.epoch == EPOCHS
    with pytest.raises(ValueError, match="lr"):
        probe.train(CONFIG, out=tmp_path / "bad", epochs=EPOCHS, lr=-1.0)
