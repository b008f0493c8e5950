"""The house rules of lrjax's layout (DESIGN.md §2, CONTRIBUTING.md).

The public API is a fixed snapshot: the same names and the same signatures, wherever
the private modules that define them live.
"""

from __future__ import annotations

import ast
import inspect
import json
import pathlib

import optax

import lrjax

ROOT = pathlib.Path(__file__).resolve().parents[1]

# `[n for n in dir(lrjax) if not n.startswith("_")]`, sorted: the public namespace.
PUBLIC = [
    "AddDecayedWeightsState",
    "COCOBState",
    "DoGState",
    "DoWGState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "GroupedState",
    "LDoGState",
    "LRFinderResult",
    "MechanizeState",
    "MomoAdamState",
    "MomoState",
    "PolyakSGDState",
    "ReduceOnPlateauState",
    "ScalarOrSchedule",
    "ScaleByAdadeltaState",
    "ScaleByAdagradNormState",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByDAdaptAdagradState",
    "ScaleByDAdaptAdamState",
    "ScaleByDAdaptSGDState",
    "ScaleByHypergradientState",
    "ScaleByLearningRateState",
    "ScaleByNadamState",
    "ScaleByNewtonCGState",
    "ScaleByNewtonState",
    "ScaleByProdigyState",
    "ScaleByRmspropState",
    "ScaleByTrustRatioState",
    "Schedule",
    "ScheduleFreeState",
    "SkipNonfiniteState",
    "SweepResult",
    "TraceState",
    "adadelta",
    "adagrad",
    "adagrad_norm",
    "adam",
    "adam_hd",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "amsgrad",
    "apply_updates",
    "chain",
    "cocob",
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "current_learning_rate",
    "cyclic",
    "cyclic_momentum",
    "dadapt_adagrad",
    "dadapt_adam",
    "dadapt_adamw",
    "dadapt_sgd",
    "dog",
    "dowg",
    "exponential_decay",
    "find_learning_rate",
    "grouped",
    "inverse_sqrt_decay",
    "inverse_time_decay",
    "join",
    "l_dog",
    "lamb",
    "lars",
    "leaf_mask",
    "linear_schedule",
    "mechanize",
    "momo",
    "momo_adam",
    "multistep_decay",
    "nadam",
    "newton",
    "newton_cg",
    "noam",
    "one_cycle",
    "one_cycle_momentum",
    "piecewise_constant",
    "plot_schedule",
    "plot_sweep",
    "polyak_sgd",
    "polynomial_decay",
    "prodigy",
    "reduce_on_plateau",
    "rmsprop",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adagrad_norm",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_dadapt_adagrad",
    "scale_by_dadapt_adam",
    "scale_by_dadapt_sgd",
    "scale_by_hypergradient",
    "scale_by_learning_rate",
    "scale_by_nadam",
    "scale_by_newton",
    "scale_by_newton_cg",
    "scale_by_prodigy",
    "scale_by_rmsprop",
    "scale_by_trust_ratio",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "sgd",
    "sgd_hd",
    "skip_nonfinite",
    "step_decay",
    "sweep_learning_rates",
    "time_based_decay",
    "trace",
    "warmup",
    "warmup_cosine",
    "warmup_stable_decay",
]

# optax's own names, re-exported unchanged.
OPTAX = {
    "GradientTransformation": optax.GradientTransformation,
    "GradientTransformationExtraArgs": optax.GradientTransformationExtraArgs,
    "apply_updates": optax.apply_updates,
    "chain": optax.chain,
}

# `str(inspect.signature(f))` of every public name that lrjax defines, taken before the
# modules were laid out by family: a move changes no signature.
SIGNATURES = json.loads((ROOT / "tests" / "data" / "public_signatures.json").read_text())


def test_the_public_namespace_is_the_snapshot():
    assert sorted(n for n in dir(lrjax) if not n.startswith("_")) == PUBLIC


def test_optax_names_are_optax_own():
    for name, obj in OPTAX.items():
        assert getattr(lrjax, name) is obj, name


def test_every_public_signature_is_the_snapshot():
    defined = {
        n
        for n in PUBLIC
        if getattr(getattr(lrjax, n), "__module__", "").startswith("lrjax")
    }
    assert defined == set(SIGNATURES)
    changed = {
        n: (SIGNATURES[n], str(inspect.signature(getattr(lrjax, n))))
        for n in sorted(defined)
        if str(inspect.signature(getattr(lrjax, n))) != SIGNATURES[n]
    }
    assert not changed, changed


# ---------------------------------------------------------------- the layout

PACKAGE = ROOT / "lrjax"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 500
# A function's length is its number of statements after the docstring (the distinct
# lines on which a statement starts, nested functions counted within their parent):
# what the formatter does to a long call or a long condition does not change it. No
# function has more than this. The three functions that issue 15 named (128, 108 and 90
# lines of code) had 83, 52 and 45 statements; they are held well under it.
MAX_FUNCTION_STATEMENTS = 50
NAMED_STEPS = {"reduce_on_plateau": 30, "scale_by_newton": 30, "scale_by_newton_cg": 30}
# Justified exceptions, each at most as long as it is now.
LONG_FUNCTIONS = {
    ("_lr_free/prodigy.py", "_build"): (
        67,
        "a transcription of the authors' prodigyopt step(), its comments citing their "
        "lines (L163, L194, ...): kept in one piece to be read against it",
    ),
    ("_lr_free/dadapt_adam.py", "_build"): (
        53,
        "a transcription of the authors' dadaptation DAdaptAdam.step(), its comments "
        "citing their lines: kept in one piece to be read against it",
    ),
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: pathlib.Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def _resolve(path: pathlib.Path, node: ast.ImportFrom) -> str:
    """The absolute module an `ImportFrom` in `path` names (before its names)."""
    if node.level == 0:
        return node.module or ""
    base = _package_of(path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


MODULE_NAMES = {_module_name(p): p for p in MODULES}


def _imports(path: pathlib.Path):
    """`(node, module, names)` for every import of an lrjax module in `path`, at any
    depth (functions, `if TYPE_CHECKING:` blocks): `names` are the names imported."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = _resolve(path, node)
            if module == "lrjax" or module.startswith("lrjax."):
                yield node, module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lrjax" or alias.name.startswith("lrjax."):
                    yield node, alias.name, []


def _function_lines(node: ast.AST) -> int:
    """The number of statements of `node`'s body after its docstring."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return len({n.lineno for b in body for n in ast.walk(b) if isinstance(n, ast.stmt)})


def _functions():
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield str(path.relative_to(PACKAGE)), node.name, _function_lines(node)


def test_no_module_is_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_module_sits_loose_beside_the_family_packages():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert not loose, loose


def test_private_packages_only_document_themselves():
    """No `_src` indirection: `lrjax/__init__.py` is the one namespace that re-exports;
    a family package's `__init__.py` holds its docstring only."""
    for init in PACKAGE.glob("*/__init__.py"):
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), init


def test_module_names_inside_the_private_packages_are_plain():
    for path in MODULES:
        if path.parent != PACKAGE and path.name != "__init__.py":
            assert not path.stem.startswith("_"), path
        if path.parent.parent == PACKAGE:
            assert path.parent.name.startswith("_"), path.parent  # the packages are private


def test_no_underscore_name_is_imported_from_another_module():
    found = []
    for path in MODULES:
        bound = set()
        for node, module, names in _imports(path):
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n} from {module}"
                for n in names
                if n.startswith("_")
            ]
            if isinstance(node, ast.ImportFrom):
                bound |= {a.asname or a.name for a in node.names}
        # ...nor reached as an attribute of an imported module (`validate._as_float`).
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}"
                )
    assert not found, found


def _import_graph() -> dict[str, set[str]]:
    """Module -> the lrjax modules it imports, every import counted (function-level and
    type-checking ones too); `lrjax/__init__.py`, which imports everything, is left out."""
    graph = {}
    for name, path in MODULE_NAMES.items():
        if name == "lrjax":
            continue
        edges = set()
        for _, module, names in _imports(path):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULE_NAMES]
            edges |= set(targets) or {module}
        graph[name] = edges - {"lrjax", name}
    return graph


def test_the_import_graph_has_no_cycle():
    graph = _import_graph()
    done, cycles = set(), []

    def visit(node, trail):
        if node in trail:
            cycles.append(trail[trail.index(node) :] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, trail + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    assert not cycles, cycles


def test_the_plots_import_neither_the_range_test_nor_the_sweep():
    graph = _import_graph()
    assert not graph["lrjax._tools.plot"] & {"lrjax._tools.finder", "lrjax._tools.sweep"}


# ---------------------------------------------------------------- a method in one file

# Every optimizer alias, and the direction it chains (`scale_by_*`), or, for a method
# with no public direction, the wrapper or state class it is built on.
ALIASES = {
    "sgd": "trace",
    "adagrad": "scale_by_adagrad",
    "adadelta": "scale_by_adadelta",
    "rmsprop": "scale_by_rmsprop",
    "adam": "scale_by_adam",
    "adamw": "scale_by_adam",
    "amsgrad": "scale_by_amsgrad",
    "nadam": "scale_by_nadam",
    "adamax": "scale_by_adamax",
    "lars": "scale_by_trust_ratio",
    "lamb": "scale_by_trust_ratio",
    "newton": "scale_by_newton",
    "newton_cg": "scale_by_newton_cg",
    "prodigy": "scale_by_prodigy",
    "dadapt_adam": "scale_by_dadapt_adam",
    "dadapt_adamw": "scale_by_dadapt_adam",
    "dadapt_sgd": "scale_by_dadapt_sgd",
    "dadapt_adagrad": "scale_by_dadapt_adagrad",
    "schedule_free_sgd": "schedule_free",
    "schedule_free_adamw": "schedule_free",
    "dog": "DoGState",
    "l_dog": "LDoGState",
    "dowg": "DoWGState",
    "polyak_sgd": "PolyakSGDState",
    "momo": "MomoState",
    "momo_adam": "MomoAdamState",
    "cocob": "COCOBState",
    "sgd_hd": "scale_by_hypergradient",
    "adam_hd": "scale_by_hypergradient",
    "adagrad_norm": "scale_by_adagrad_norm",
}
# The other public functions of the optimizer families: directions without the
# scale_by_ prefix, wrappers of a base optimizer, and helpers.
NOT_ALIASES = {
    "trace",
    "add_decayed_weights",
    "leaf_mask",
    "schedule_free",
    "mechanize",
    "schedule_free_eval_params",
}
OPTIMIZER_PACKAGES = ("lrjax._directions.", "lrjax._newton.", "lrjax._lr_free.")


def _source(name: str) -> str:
    return inspect.getsourcefile(getattr(lrjax, name))


def test_every_alias_lives_beside_its_direction():
    apart = {
        a: (_source(a), _source(d)) for a, d in ALIASES.items() if _source(a) != _source(d)
    }
    assert not apart, apart


def test_every_scale_by_x_has_its_x_beside_it():
    pairs = [n for n in PUBLIC if f"scale_by_{n}" in PUBLIC]
    assert len(pairs) >= 14
    for name in pairs:
        assert _source(name) == _source(f"scale_by_{name}"), name


def test_every_optimizer_is_listed_as_an_alias_or_not():
    functions = {
        n
        for n in PUBLIC
        if inspect.isfunction(getattr(lrjax, n))
        and getattr(lrjax, n).__module__.startswith(OPTIMIZER_PACKAGES)
        and not n.startswith("scale_by_")
    }
    assert functions == set(ALIASES) | NOT_ALIASES


def test_every_state_class_is_beside_its_transform():
    """`ScaleByXState` lives in the module of `scale_by_x` (AdaMax, in a module of its
    own, uses Adam's state)."""
    pairs = [
        (n, t)
        for n in PUBLIC
        if n.startswith("ScaleBy") and n.endswith("State")
        for t in PUBLIC
        if t.startswith("scale_by_") and t.replace("_", "") == n[: -len("State")].lower()
    ]
    assert len(pairs) >= 16
    apart = [n for n, t in pairs if _source(n) != _source(t)]
    assert not apart, apart


# ---------------------------------------------------------------- functions


def test_no_function_is_too_long():
    long = {}
    for where, name, lines in _functions():
        limit, _ = LONG_FUNCTIONS.get((where, name), (MAX_FUNCTION_STATEMENTS, ""))
        if lines > limit:
            long[f"{where}:{name}"] = lines
    assert not long, (
        f"cut these into named steps (at most {MAX_FUNCTION_STATEMENTS}): {long}"
    )


def test_the_long_functions_of_issue_15_are_cut_into_steps():
    lengths = {name: lines for _, name, lines in _functions() if name in NAMED_STEPS}
    assert lengths.keys() == NAMED_STEPS.keys()
    assert all(lengths[n] <= NAMED_STEPS[n] for n in NAMED_STEPS), lengths


def test_the_listed_exceptions_still_exist():
    present = {(where, name) for where, name, _ in _functions()}
    assert set(LONG_FUNCTIONS) <= present


# ---------------------------------------------------------------- current_learning_rate


def test_every_state_class_is_known_to_current_learning_rate():
    """observe.py's registries say how to read each state: every lrjax state class is
    in exactly one of them."""
    import importlib

    from lrjax._learning_rate import observe
    from lrjax._learning_rate.records import RECORDS

    registries = {
        "RECORDS": set(RECORDS),
        "DIRECTIONS": observe.DIRECTIONS,
        "FACTORS": set(observe.FACTORS),
        "WRAPPERS": set(observe.WRAPPERS),
        "SCALED_WRAPPERS": set(observe.SCALED_WRAPPERS),
        "NO_RATE": set(observe.NO_RATE),
    }
    states = []
    for name in MODULE_NAMES:
        module = importlib.import_module(name)
        states += [
            obj
            for key, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == name and key.endswith("State")
        ]
    assert len(states) >= 30
    for state in states:
        where = [k for k, v in registries.items() if state in v]
        assert len(where) == 1, (state.__qualname__, where)
