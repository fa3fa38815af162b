"""What a checkpoint folder holds, and the one way to read it.

A variant's folder (``checkpoints/<variant>/``, or the same files pulled from the Hub) describes
itself:

- ``config.json``: the constructor's keyword arguments, including the input normalisation
  (``mean``/``std``) and the working size (``working_short_side``/``size_multiple``) the model was
  trained for, so whoever runs it needs no constant that training must agree with (the record
  :class:`fcn_demo.core.preprocess.Preprocess` reads them);
- ``model.safetensors``: the weights (safetensors only, loaded strictly);
- ``history.json``: a :class:`TrainingHistory`, the one schema train writes and evaluate, the
  cards, the replay and the app read: per-epoch curves, the recipe, timings and what the model
  was trained on (:class:`TrainedOn`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from safetensors.torch import load_model
from torch import nn

from fcn_demo.models import get_variant

HISTORY_NAME = "history.json"


def build_from_folder(folder: Path, name: str, device: torch.device | str = "cpu") -> nn.Module:
    """Variant ``name`` from ``folder/config.json`` + ``folder/model.safetensors``: float32, eval, on ``device``.

    Safetensors only and strict: ``from_pretrained`` would fall back to a pickled
    ``pytorch_model.bin`` and, by default, accept a state dict that fits only partly. Training
    starts a child model from its parent through this too.
    """
    config = json.loads((Path(folder) / "config.json").read_text())
    model = get_variant(name).cls(**config)
    load_model(model, Path(folder) / "model.safetensors", strict=True, device="cpu")
    return model.float().eval().to(device)


def weights_label(folder: Path) -> str:
    """``"unet sha256:34409b27e5c67364"``: a model folder's variant and its weights' hash (16 hex digits)."""
    folder = Path(folder)
    return f"{folder.name} sha256:{hashlib.sha256((folder / 'model.safetensors').read_bytes()).hexdigest()[:16]}"


@dataclass
class TrainedOn:
    """The data a model learned from, as the app tells its visitors."""

    labelled_breeds: dict[str, int]  # breed -> training images with masks
    labelled_images: int
    unlabelled_photos: int = 0  # photos of other breeds with a teacher's masks (pseudo-labels)
    unlabelled_breeds: list[str] = field(default_factory=list)
    teacher: str | None = None  # where the pseudo-labels came from (variant and weights' sha256)
    started_from: str | None = None  # a previous round's weights this model fine-tuned (variant, sha256)

    @property
    def breeds(self) -> int:
        return len(self.labelled_breeds) + len(self.unlabelled_breeds)

    def sentence(self, lang: str = "en") -> str:
        """One line for a student: what the model saw (in ``lang``; the breeds keep their names)."""
        from fcn_demo.core.i18n import number, text

        names = ", ".join(b.replace("_", " ") for b in self.labelled_breeds)
        said = {"images": self.labelled_images, "breeds": len(self.labelled_breeds), "names": names}
        if not self.unlabelled_photos:
            return text(lang, "gen.trained.labelled", **said)
        return text(lang, "gen.trained.both", **said, photos=number(lang, self.unlabelled_photos),
                    others=len(self.unlabelled_breeds))  # fmt: skip


@dataclass
class EpochRecord:
    """One row of the curves: epoch 0 is the model before training."""

    epoch: int
    train_loss: float | None
    lr: float
    elapsed_s: float
    val_loss: float
    val_pixel_acc: float
    val_miou: float
    val_iou: list[float]
    ood_miou: float | None = None  # on the out-of-distribution photos (breeds never trained on)
    ood_iou: list[float] | None = None


@dataclass
class TrainingHistory:
    """``history.json``: enough to tell how a checkpoint was made and to replay its training."""

    variant: str
    classes: list[str]
    config: dict  # train.TrainConfig as a dict
    train_images: int
    val_images: list[str]
    replay_images: list[str]
    best_epoch: int
    epochs: list[EpochRecord]
    summary: dict  # wall time, images/s, device, autocast, torch, cpu, threads, run
    trained_on: TrainedOn | None = None
    ood_images: list[str] = field(default_factory=list)
    # How the epoch whose weights were kept was chosen (e.g. "mean of val_miou and ood_miou").
    selection: str = "val_miou"

    @property
    def best(self) -> EpochRecord:
        """The epoch whose weights were saved."""
        return self.epochs[self.best_epoch]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> TrainingHistory:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["epochs"] = [EpochRecord(**r) for r in d["epochs"]]
        if d.get("trained_on"):
            d["trained_on"] = TrainedOn(**d["trained_on"])
        return cls(**d)

    @classmethod
    def read(cls, folder: Path) -> TrainingHistory:
        return cls.from_dict(json.loads((Path(folder) / HISTORY_NAME).read_text()))

    def write(self, folder: Path) -> None:
        (Path(folder) / HISTORY_NAME).write_text(self.to_json())
