"""Write the API reference: one page per family, each opening with a table of its names.

    .venv/bin/python scripts/api_pages.py          # (re)write docs/api/*.md
    .venv/bin/python scripts/api_pages.py --check  # exit 1 if a page is stale or a
                                                   # public name has no family

Every public name of `lrjax` belongs to exactly one family below (state classes, whose
names end in "State", go to the last page by themselves). A name that no family lists
fails the check, so a new function cannot be left out of the reference.
"""

from __future__ import annotations

import inspect
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lrjax  # noqa: E402

# (file stem, title, introduction, names in reading order). The order follows the data
# path: schedules -> directions -> learning rate -> updates, then the tools beside it.
FAMILIES = [
    (
        "schedules",
        "Schedules",
        "Pure functions `step -> learning rate`, checked when built. See the "
        "[schedules guide](../schedules.md) and the [gallery](../gallery.md).",
        [
            "constant",
            "time_based_decay",
            "inverse_time_decay",
            "step_decay",
            "exponential_decay",
            "multistep_decay",
            "polynomial_decay",
            "linear_schedule",
            "cosine_decay",
            "cosine_restarts",
            "piecewise_constant",
            "cyclic",
            "cyclic_momentum",
            "one_cycle",
            "one_cycle_momentum",
            "warmup",
            "join",
        ],
    ),
    (
        "large_model_schedules",
        "Schedules of large-model training",
        "Warm-up, stable and decay phases as Hugging Face `transformers` and the papers "
        "behind it define them.",
        [
            "inverse_sqrt_decay",
            "noam",
            "warmup_stable_decay",
            "warmup_cosine",
            "constant_with_warmup",
        ],
    ),
    (
        "momentum",
        "Momentum and weight decay",
        "Directions with the sign of the gradient, and the SGD optimizer built on them.",
        ["trace", "sgd", "add_decayed_weights"],
    ),
    (
        "adaptive",
        "Adaptive learning rates",
        "Per-coordinate step sizes from gradient statistics: each `scale_by_*` direction "
        "beside its optimizer.",
        [
            "scale_by_adagrad",
            "adagrad",
            "scale_by_adadelta",
            "adadelta",
            "scale_by_rmsprop",
            "rmsprop",
            "scale_by_adam",
            "adam",
            "adamw",
            "scale_by_amsgrad",
            "amsgrad",
            "scale_by_nadam",
            "nadam",
            "scale_by_adamax",
            "adamax",
            "scale_by_adagrad_norm",
            "adagrad_norm",
        ],
    ),
    (
        "trust_ratio",
        "Layer-wise trust ratios",
        "Per-layer step sizes from the ratio of parameter and update norms.",
        ["scale_by_trust_ratio", "lars", "lamb", "leaf_mask"],
    ),
    (
        "newton",
        "Newton's method",
        "The step size from the local curvature: dense and matrix-free. See the "
        "[Newton guide](../newton.md) for when it pays off.",
        ["scale_by_newton", "newton", "scale_by_newton_cg", "newton_cg"],
    ),
    (
        "learning_rate",
        "The learning rate",
        "Applying the learning rate, and reading back the one that was applied.",
        ["scale_by_learning_rate", "current_learning_rate", "StaticLearningRate"],
    ),
    (
        "lr_free",
        "Learning-rate-free methods",
        "Methods that estimate the step size themselves.",
        [
            "scale_by_prodigy",
            "prodigy",
            "scale_by_dadapt_adam",
            "dadapt_adam",
            "dadapt_adamw",
            "scale_by_dadapt_sgd",
            "dadapt_sgd",
            "scale_by_dadapt_adagrad",
            "dadapt_adagrad",
            "schedule_free",
            "schedule_free_sgd",
            "schedule_free_adamw",
            "schedule_free_eval_params",
            "scale_by_dog",
            "dog",
            "scale_by_l_dog",
            "l_dog",
            "scale_by_dowg",
            "dowg",
            "polyak_sgd",
            "momo",
            "momo_adam",
            "scale_by_cocob",
            "cocob",
            "mechanize",
        ],
    ),
    (
        "tools",
        "Learning-rate tools",
        "Choosing the rate (range test, grid sweep), changing it during training (plateau "
        "reduction, hypergradients), guarding it, and drawing it.",
        [
            "find_learning_rate",
            "LRFinderResult",
            "sweep_learning_rates",
            "SweepResult",
            "plot_sweep",
            "reduce_on_plateau",
            "scale_by_hypergradient",
            "sgd_hd",
            "adam_hd",
            "skip_nonfinite",
            "grouped",
            "plot_schedule",
        ],
    ),
]
STATES = (
    "states",
    "State classes",
    "The `NamedTuple` states of the transforms above: arrays only, so that "
    "checkpoints restore across hyperparameter changes.",
)
# optax's own names, re-exported for convenience and documented by optax.
OPTAX = {
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "chain",
    "apply_updates",
    "Schedule",
    "ScalarOrSchedule",
}


def public() -> list[str]:
    return sorted(
        n
        for n in dir(lrjax)
        if not n.startswith("_")
        and n != "annotations"
        and not inspect.ismodule(getattr(lrjax, n))
    )


def summary(name: str) -> str:
    doc = inspect.getdoc(getattr(lrjax, name)) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
    return first.replace("|", "\\|")


def page(title: str, intro: str, names: list[str]) -> str:
    rows = "\n".join(f"| [`lrjax.{n}`][] | {summary(n)} |" for n in names)
    blocks = "\n\n".join(f"::: lrjax.{n}" for n in names)
    return (
        f"# {title}\n\n<!-- written by scripts/api_pages.py; do not edit -->\n\n{intro}\n\n"
        f"| name | summary |\n|---|---|\n{rows}\n\n{blocks}\n"
    )


def pages() -> dict[str, str]:
    names = set(public()) - OPTAX
    out, listed = {}, set()
    for stem, title, intro, family in FAMILIES:
        present = [n for n in family if n in names]  # a family may wait for its issue
        listed |= set(present)
        if present:
            out[stem] = page(title, intro, present)
    states = sorted(n for n in names if n.endswith("State"))
    listed |= set(states)
    out[STATES[0]] = page(STATES[1], STATES[2], states)
    missing = sorted(names - listed)
    if missing:
        raise SystemExit(
            f"scripts/api_pages.py: give these public names a family: {missing}"
        )
    return out


NAV_START, NAV_END = "  # api-pages:start", "  # api-pages:end"


def nav(want: dict[str, str]) -> str:
    """The mkdocs.yml nav lines of the API reference, between its markers."""
    titles = {stem: title for stem, title, _, _ in FAMILIES}
    titles[STATES[0]] = STATES[1]
    lines = [NAV_START, "  - API reference:"]
    lines += [f"      - {titles[stem]}: api/{stem}.md" for stem in want]
    return "\n".join(lines + [NAV_END])


def main() -> None:
    check = "--check" in sys.argv
    folder = ROOT / "docs" / "api"
    want = pages()
    stale = []
    config = ROOT / "mkdocs.yml"
    text = config.read_text()
    start, end = text.index(NAV_START), text.index(NAV_END) + len(NAV_END)
    if text[start:end] != nav(want):
        if check:
            stale.append("mkdocs.yml nav")
        else:
            config.write_text(text[:start] + nav(want) + text[end:])
    for stem, text in want.items():
        path = folder / f"{stem}.md"
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            folder.mkdir(exist_ok=True)
            path.write_text(text)
    extra = sorted(p.name for p in folder.glob("*.md") if p.stem not in want)
    if check and (stale or extra):
        raise SystemExit(f"docs/api is stale (run scripts/api_pages.py): {stale + extra}")
    for name in extra:
        (folder / name).unlink()


if __name__ == "__main__":
    main()
