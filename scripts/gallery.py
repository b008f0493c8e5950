"""Draw every lrjax schedule: writes docs/gallery.md and docs/gallery/*.png.

    python scripts/gallery.py [--check]

The pictures are made from the code, never by hand; ``--check`` (run by the test suite)
fails when docs/gallery.md is out of date with the schedules listed here, or when a
public schedule has no entry.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))  # this checkout's lrjax, not another installed one


def entries():
    """(name, call as written, schedule, steps, log scale) for every public schedule."""
    import lrjax

    cos = lrjax.cosine_decay(0.1, 200)
    rows = [
        ("constant", "constant(0.1)", lrjax.constant(0.1), 100, False),
        (
            "time_based_decay",
            "time_based_decay(0.1, 0.01)",
            lrjax.time_based_decay(0.1, 0.01),
            60,
            True,
        ),
        (
            "inverse_time_decay",
            "inverse_time_decay(0.1, decay_rate=0.5, decay_steps=20, staircase=True)",
            lrjax.inverse_time_decay(0.1, decay_rate=0.5, decay_steps=20, staircase=True),
            200,
            False,
        ),
        (
            "step_decay",
            "step_decay(0.1, drop=0.5, drop_every=40)",
            lrjax.step_decay(0.1, drop=0.5, drop_every=40),
            200,
            False,
        ),
        (
            "exponential_decay",
            "exponential_decay(0.1, decay=0.02)",
            lrjax.exponential_decay(0.1, decay=0.02),
            200,
            False,
        ),
        (
            "multistep_decay",
            "multistep_decay(0.1, [60, 120, 160], 0.2)",
            lrjax.multistep_decay(0.1, [60, 120, 160], 0.2),
            200,
            False,
        ),
        (
            "polynomial_decay",
            "polynomial_decay(0.1, end_value=0.001, decay_steps=60, power=2.0, cycle=True)",
            lrjax.polynomial_decay(
                0.1, end_value=0.001, decay_steps=60, power=2.0, cycle=True
            ),
            200,
            False,
        ),
        (
            "linear_schedule",
            "linear_schedule(0.1, end_value=0.01, transition_steps=150)",
            lrjax.linear_schedule(0.1, end_value=0.01, transition_steps=150),
            200,
            False,
        ),
        (
            "cosine_decay",
            "cosine_decay(0.1, 200, alpha=0.05)",
            lrjax.cosine_decay(0.1, 200, alpha=0.05),
            200,
            False,
        ),
        (
            "cosine_restarts",
            "cosine_restarts(0.1, first_decay_steps=30, t_mul=2.0, m_mul=0.7)",
            lrjax.cosine_restarts(0.1, first_decay_steps=30, t_mul=2.0, m_mul=0.7),
            210,
            False,
        ),
        (
            "cyclic",
            "cyclic(0.01, max_value=0.1, step_size_up=25, mode='triangular2')",
            lrjax.cyclic(0.01, max_value=0.1, step_size_up=25, mode="triangular2"),
            200,
            False,
        ),
        (
            "cyclic_momentum",
            "cyclic_momentum(25, base_momentum=0.8, max_momentum=0.9)",
            lrjax.cyclic_momentum(25, base_momentum=0.8, max_momentum=0.9),
            200,
            False,
        ),
        (
            "one_cycle",
            "one_cycle(0.1, total_steps=200, three_phase=True)",
            lrjax.one_cycle(0.1, total_steps=200, three_phase=True),
            200,
            False,
        ),
        (
            "one_cycle_momentum",
            "one_cycle_momentum(200)",
            lrjax.one_cycle_momentum(200),
            200,
            False,
        ),
        (
            "piecewise_constant",
            "piecewise_constant([50, 120], [0.1, 0.03, 0.005])",
            lrjax.piecewise_constant([50, 120], [0.1, 0.03, 0.005]),
            200,
            False,
        ),
        (
            "warmup",
            "warmup(cosine_decay(0.1, 200), warmup_steps=30)",
            lrjax.warmup(cos, warmup_steps=30),
            230,
            False,
        ),
        (
            "join",
            "join([linear_schedule(0.0, end_value=0.1, transition_steps=20), "
            "cosine_decay(0.1, 180)], [20])",
            lrjax.join(
                [
                    lrjax.linear_schedule(0.0, end_value=0.1, transition_steps=20),
                    lrjax.cosine_decay(0.1, 180),
                ],
                [20],
            ),
            200,
            False,
        ),
        # Schedules of large-model training.
        (
            "inverse_sqrt_decay",
            "inverse_sqrt_decay(0.1, warmup_steps=20)",
            lrjax.inverse_sqrt_decay(0.1, warmup_steps=20),
            200,
            False,
        ),
        (
            "noam",
            "noam(512, warmup_steps=40)",
            lrjax.noam(512, warmup_steps=40),
            200,
            False,
        ),
        (
            "warmup_stable_decay",
            "warmup_stable_decay(0.1, warmup_steps=20, stable_steps=120, decay_steps=50, "
            "decay_type='1-sqrt', min_ratio=0.1)",
            lrjax.warmup_stable_decay(
                0.1,
                warmup_steps=20,
                stable_steps=120,
                decay_steps=50,
                decay_type="1-sqrt",
                min_ratio=0.1,
            ),
            200,
            False,
        ),
        (
            "warmup_cosine",
            "warmup_cosine(0.1, warmup_steps=20, total_steps=200, num_cycles=3, "
            "restarts=True, min_ratio=0.05)",
            lrjax.warmup_cosine(
                0.1,
                warmup_steps=20,
                total_steps=200,
                num_cycles=3,
                restarts=True,
                min_ratio=0.05,
            ),
            210,
            False,
        ),
    ]
    return rows


def comparisons():
    """(file name, {label: schedule}, steps): the shapes in large_model_schedules.md."""
    import lrjax

    def wsd(decay, **kw):
        return lrjax.warmup_stable_decay(
            0.1, warmup_steps=20, stable_steps=100, decay_steps=60, decay_type=decay, **kw
        )

    def cos(**kw):
        return lrjax.warmup_cosine(0.1, warmup_steps=20, total_steps=160, **kw)

    return [
        (
            "large_model_wsd",
            {
                "linear": wsd("linear"),
                "cosine": wsd("cosine"),
                "1-sqrt": wsd("1-sqrt"),
                "1-sqrt, cosine warm-up, min_ratio=0.2": wsd(
                    "1-sqrt", warmup_type="cosine", min_ratio=0.2
                ),
            },
            200,
        ),
        (
            "large_model_cosine",
            {
                "hold (default)": cos(min_ratio=0.1),
                "after_total='continue' (HF)": cos(min_ratio=0.1, after_total="continue"),
                "num_cycles=1.5": cos(num_cycles=1.5),
                "restarts=True, num_cycles=3": cos(num_cycles=3, restarts=True),
            },
            200,
        ),
        (
            "large_model_inverse_sqrt",
            {
                "inverse_sqrt_decay(1e-3, warmup_steps=40)": lrjax.inverse_sqrt_decay(
                    1e-3, warmup_steps=40
                ),
                "noam(256, warmup_steps=40)": lrjax.noam(256, warmup_steps=40),
                "inverse_sqrt_decay(1e-3, timescale=10)": lrjax.inverse_sqrt_decay(
                    1e-3, timescale=10
                ),
            },
            200,
        ),
    ]


def public_schedules():
    import inspect

    import lrjax

    return sorted(
        n
        for n in dir(lrjax)
        if inspect.isfunction(getattr(lrjax, n))
        and getattr(lrjax, n).__module__.startswith("lrjax._schedules.")
    )


def markdown(rows) -> str:
    lines = [
        "# Schedule gallery",
        "",
        "Every schedule in lrjax, drawn from the code by `scripts/gallery.py` (the test",
        "suite fails if this page falls out of date). The x axis is the 0-based update",
        "count `n` that optax passes; formulas and the Keras and PyTorch counterparts are",
        "in [Schedules](schedules.md).",
        "",
    ]
    for name, call, _, steps, log in rows:
        lines += [
            f"## `{name}`",
            "",
            f"`lrjax.{call}`, {steps} steps{', log scale' if log else ''}.",
            "",
            f"![{name}](gallery/{name}.png)",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--check", action="store_true", help="only check that docs/gallery.md is up to date"
    )
    args = parser.parse_args(argv)
    rows = entries()
    missing = sorted(set(public_schedules()) - {r[0] for r in rows})
    if missing:
        print(f"no gallery entry for {missing}", file=sys.stderr)
        return 1
    text = markdown(rows)
    page = DOCS / "gallery.md"
    if args.check:
        stale = not page.exists() or page.read_text() != text
        pictures = [DOCS / "gallery" / f"{r[0]}.png" for r in rows]
        pictures += [DOCS / "gallery" / f"{c[0]}.png" for c in comparisons()]
        absent = [p.name for p in pictures if not p.exists()]
        if stale or absent:
            print(
                f"gallery out of date (page stale: {stale}, missing {absent}); "
                "run python scripts/gallery.py",
                file=sys.stderr,
            )
            return 1
        return 0

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import lrjax

    (DOCS / "gallery").mkdir(exist_ok=True)
    for name, _call, schedule, steps, log in rows:
        ax = lrjax.plot_schedule(schedule, steps, labels=[name], log_scale=log)
        fig = ax.figure
        fig.set_size_inches(6, 2.6)
        fig.tight_layout()
        fig.savefig(DOCS / "gallery" / f"{name}.png", dpi=80, metadata={"Software": None})
        plt.close(fig)
    for name, curves, steps in comparisons():
        ax = lrjax.plot_schedule(curves, steps)
        fig = ax.figure
        fig.set_size_inches(7, 3.2)
        fig.tight_layout()
        fig.savefig(DOCS / "gallery" / f"{name}.png", dpi=80, metadata={"Software": None})
        plt.close(fig)
    page.write_text(text)
    print(f"wrote {page} and {len(rows)} pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
