"""The model cards: the template's inputs, from :mod:`fcn_demo.training.card_facts`, rendered with
one Jinja template (``templates/model_card.md``) by huggingface_hub's ``ModelCard.from_template``.

    python -m fcn_demo.training.publish cards     # checkpoints/<variant>/README.md + checkpoints/README.md
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from huggingface_hub import CardData, ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index

from fcn_demo.core.checkpoint import TrainingHistory
from fcn_demo.core.data import SUBSET_BREEDS, breed_of
from fcn_demo.core.hub import DEFAULT_REPO_ID
from fcn_demo.core.manifest import CHECKPOINTS_DIR, MANIFEST_NAME, METRICS_NAME
from fcn_demo.models import VARIANTS, get_variant
from fcn_demo.training.card_facts import (
    COMMAND_FLAGS,
    DATASET_URL,
    INIT_NOTES,
    PETS_BIBTEX,
    PRIVATE_CONFIG,
    TEMPLATE,
    TRAIN_COMMAND,
    VariantFacts,
    eval_results,
    front_matter,
    pct,
    present_variants,
    read_facts,
    read_metrics,
    trained_on,
)
from fcn_demo.training.config import DEFAULT_START, TrainConfig
from fcn_demo.training.evaluate import GENERATED, breed_list, ood_caption, unseen_table, working_size_text

# --- the template's inputs ----------------------------------------------------------------------


def train_command(facts: VariantFacts) -> str:
    """The command that trained the checkpoint: TRAIN_COMMAND plus the flags whose value differs
    from the CLI default (read from the recorded config)."""
    # Histories written before rounds existed have no "start": they trained from the backbone.
    cfg, flags = {"start": None, **facts.history.config}, []
    variant = get_variant(facts.name)
    recipe = variant.round_recipe if cfg.get("start") else variant.recipe
    if cfg["epochs"] != recipe["epochs"]:
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
        cells = [m.get("title", name)] + [pct(m.get(k)) for k in ("pixel_acc", "mean_acc", "miou", "fwiou")]
        cells += [pct(v) for v in m.get("iou", [])]
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
        out["unseen"] = {"caption": caption, "table": metrics_table(metrics["unseen"], classes, highlight),
                         "trained_on": bool(metrics["unseen"].get("trained_on_by"))}  # fmt: skip
    return out


def _selection_text(history: TrainingHistory) -> str:
    if history.selection == "val_miou":
        return "validation mIoU on the trainval carve-out"
    if history.selection.startswith("mean of") and any(breed_of(n) not in SUBSET_BREEDS for n in history.val_images):
        # Said from the recorded image lists, so a history whose selection string predates the
        # extra set still reads right.
        unseen = ("the out-of-distribution photos and the extra breeds held out whole"
                  if history.config.get("hold_out_breeds", True) else
                  "the out-of-distribution photos; this final run trained on every extra breed")  # fmt: skip
        return (f"mean of the mIoU on {len(history.val_images)} photos of breeds it trained on (carve-outs of "
                f"trainval and of the extra set) and on {len(history.ood_images)} photos of breeds it never saw "
                f"({unseen})")  # fmt: skip
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
    how = variant.from_parent
    return f"every weight it shares with the trained {chain[0]} ({how}: {stages}); the first stage's backbone started from {init}"


def variant_view(facts: VariantFacts, metrics: dict) -> dict:
    """The template's ``variant`` input."""
    h, s = facts.history, facts.history.summary
    paper, paper_url = get_variant(facts.name).paper
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
        "best_val_miou": pct(h.best.val_miou),
        "best_ood_miou": pct(h.best.ood_miou) if h.best.ood_miou is not None else None,
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
    data = front_matter([f], model_name=f.title, eval_results=eval_results(f, metrics))
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
    data = CardData(**front_matter(facts).to_dict(), **{"model-index": model_index})
    ood = metrics.get("ood", {}).get("models", {})
    head = ["Model", "Folder", "Parameters", "Best epoch", "Training time", "Test mIoU (%)"]
    rows = [
        [f"[{f.title}](./{f.name})", f"`{f.name}/`", f"{f.parameters / 1e6:.1f} M",
         f"{f.history.best_epoch} / {len(f.history.epochs) - 1}", f"{f.history.summary['wall_time_s'] / 60:.1f} min",
         pct(f.metrics.get("miou"))] + ([pct(ood.get(f.name, {}).get("miou"))] if ood else [])
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
