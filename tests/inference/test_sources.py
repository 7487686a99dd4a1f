"""Model sources, devices and dtypes: what cannot be loaded fails with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bot.domain.errors import ConfigError, UserError
from bot.inference import load_engine
from bot.inference.sources import check_family, resolve_device, resolve_dtype


def test_missing_checkpoint_file(tmp_path: Path) -> None:
    missing = tmp_path / "model.safetensors"
    with pytest.raises(UserError, match="no such file or folder") as caught:
        load_engine(str(missing))
    assert str(missing) in str(caught.value)


def test_non_existent_folder(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "sd15"
    with pytest.raises(UserError, match="no such file or folder") as caught:
        load_engine(str(missing))
    assert str(missing) in str(caught.value)


def test_folder_without_model_index(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    with pytest.raises(UserError, match=r"no model_index\.json"):
        load_engine(str(tmp_path))


def test_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(UserError, match="not a checkpoint"):
        load_engine(str(notes))


def test_unknown_hub_id_offline() -> None:
    with pytest.raises(UserError) as caught:
        load_engine("neurostream-tests/no-such-model")
    message = str(caught.value)
    assert "'neurostream-tests/no-such-model'" in message
    assert "not a local file or folder" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_something_that_is_neither_path_nor_hub_id() -> None:
    with pytest.raises(UserError, match="org/name"):
        load_engine("not a model")


def test_unknown_family() -> None:
    with pytest.raises(ConfigError, match="family must be one of"):
        load_engine("tiny", family="sd3")
    # The single-file loader's v-prediction variant of SD 2.x is a family it may be told.
    assert check_family("sd2-v") == "sd2-v"


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu0"])
def test_bad_device_names(name: str) -> None:
    with pytest.raises(ConfigError, match=f"got '{name}'"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda:1")


def test_auto_device_and_dtypes() -> None:
    cpu = torch.device("cpu")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert resolve_device("auto") == cpu
    assert resolve_device("CPU") == cpu
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("auto", torch.device("mps")) == torch.float16
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    assert resolve_dtype("fp16", cpu) == torch.float16
    assert resolve_dtype("fp32", torch.device("mps")) == torch.float32
    with pytest.raises(ConfigError, match="got 'int8'"):
        resolve_dtype("int8", cpu)
