"""A Flax NNX recipe: a character-level transformer language model trained with lrjax.

The recipe puts together what a real training run needs from the learning rate:

1. the range test ([`lrjax.find_learning_rate`][]) chooses the peak rate;
2. a linear warm-up and a cosine decay ([`lrjax.warmup_cosine`][]) schedule it;
3. [`lrjax.reduce_on_plateau`][] cuts it when the *validation* loss stalls;
4. [`lrjax.current_learning_rate`][] logs the rate each update applied;
5. an orbax checkpoint is saved midway, and a run resumed from it repeats the
   uninterrupted run's losses bit for bit.

The text is a few paragraphs embedded below (nothing is downloaded); the model learns
it character by character. Run it with

    python examples/nnx_transformer_lm.py [--steps 600 --d-model 64 ...]

A few minutes on two CPU cores at the default size. `docs/nnx_recipe.md` walks through
it; `tests/test_recipe_nnx.py` runs it at a smaller size and checks what it reports.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

import lrjax

TEXT = """\
The learning rate is the number that decides how far each step moves the weights. \
Too small, and training crawls: the loss falls so slowly that the budget runs out \
long before the model has learned what it could. Too large, and every step \
overshoots: the loss jumps about, then climbs, and at last the weights are lost to \
overflow. Between the two lies a range of good values, and the art of training is to \
find it and to stay inside it as the model changes.

A range test looks for that range directly. It trains for a hundred steps while the \
rate grows from tiny to far too large, and it records the loss at every step. At \
first nothing happens; then the loss begins to fall, faster and faster; then it \
turns and rises, and the test stops. A good peak rate sits where the loss fell \
fastest, a little before the turn.

A transformer rarely trains well at its peak rate from the first step. Its weights \
start at random, its attention is spread evenly over the context, and large early \
steps throw it into regions from which it does not recover. So the rate warms up: \
it rises in a straight line over the first few hundred steps, and only then does it \
begin its slow decay along a cosine, which brings it down gently to a small floor by \
the end of the run.

A schedule is a plan made before the run. The validation loss reports how the plan \
is going. When it stops improving for a while, the model is either at the bottom of \
what the rate allows or it has begun to learn the training text by heart. Cutting \
the rate by half gives it a chance to settle into a narrower valley, and a careful \
trainer logs the rate actually applied at every evaluation, so that the cut can be \
seen in the record.

Long runs stop. A machine is taken away, a job hits its limit, a power line fails. \
A checkpoint saves the weights and the whole state of the optimizer, the moments, \
the step counter and the plateau statistics together, so that the resumed run \
continues exactly where the first one left off, as though nothing had happened.

Small models learn small texts quickly. They pick up the common letters first, then \
the spaces between words, then the short words that come back again and again, and \
only late the long words and the turns of phrase. The loss tells the same story: a \
quick fall from the uniform guess, a long slope, and a slow approach to the floor.

Weight decay pulls every weight a little towards zero at each step, in proportion to \
the learning rate. It keeps the weights small, and small weights make a smoother \
model, one that guesses a little less confidently on the text it has seen and a \
little better on the text it has not. Clipping the gradient does a different job: \
when one unlucky batch gives a gradient far larger than usual, clipping shrinks it \
to a fixed length, so that a single step cannot undo the work of a hundred.

Adam keeps two running averages for every weight: the mean of its gradients and the \
mean of their squares. It divides the first by the square root of the second, so \
that a weight whose gradient is always small moves as far as one whose gradient is \
always large. The learning rate then sets the length of the step for all of them at \
once, which is why one number, chosen well, matters so much.

The held-out text is the judge. The model never trains on it, so its loss there \
tells whether the model has learned the language of the text or only the text \
itself. Early in training both losses fall together. Later the training loss keeps \
falling while the held-out loss flattens out, and the gap between them is the part \
of the learning that will not carry over to new text.

A good recipe writes down every choice: the size of the model, the length of the \
context, the batch, the peak rate and how it was found, the warm-up, the floor, the \
patience of the plateau cut and its factor. Anyone who runs it again with the same \
seed gets the same numbers, and anyone who changes one choice can see what it did.
"""


# --- data -------------------------------------------------------------------------------


def encode(text: str) -> tuple[np.ndarray, list[str]]:
    """Map each character of `text` to its index in the sorted vocabulary.

    Args:
      text: the corpus.

    Returns:
      `(tokens, vocab)`: an `int32` array of indices and the list of characters.
    """
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    return np.array([index[c] for c in text], np.int32), vocab


def batch_sampler(tokens: jax.Array, batch_size: int, seq_len: int, seed: int):
    """A pure function `step -> (inputs, targets)` of random windows of `tokens`.

    The batch depends on the step number alone, so a resumed run draws the same batches
    as an uninterrupted one, and [`lrjax.find_learning_rate`][] can trace it.

    Args:
      tokens: the training tokens, a 1-D integer array.
      batch_size: windows per batch.
      seq_len: characters per window.
      seed: the seed of the batch order.

    Returns:
      A function of the step returning two `(batch_size, seq_len)` arrays, the inputs
      and the next characters.
    """
    key = jax.random.key(seed)
    offsets = jnp.arange(seq_len + 1)

    def sample(step):
        starts = jax.random.randint(
            jax.random.fold_in(key, step), (batch_size,), 0, tokens.shape[0] - seq_len - 1
        )
        windows = tokens[starts[:, None] + offsets]
        return windows[:, :-1], windows[:, 1:]

    return sample


def validation_windows(tokens: np.ndarray, seq_len: int) -> tuple[jax.Array, jax.Array]:
    """Every window of the held-out tokens, with a stride of half a window.

    Args:
      tokens: the held-out tokens.
      seq_len: characters per window.

    Returns:
      `(inputs, targets)`, each of shape `(windows, seq_len)`.
    """
    stride = max(1, seq_len // 2)
    starts = np.arange(0, tokens.shape[0] - seq_len - 1 + 1, stride)
    windows = tokens[starts[:, None] + np.arange(seq_len + 1)]
    return jnp.asarray(windows[:, :-1]), jnp.asarray(windows[:, 1:])


# --- model ------------------------------------------------------------------------------


class Block(nnx.Module):
    """A pre-norm transformer block: causal self-attention, then an MLP."""

    def __init__(self, d_model: int, num_heads: int, *, rngs: nnx.Rngs):
        self.attention_norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(
            num_heads=num_heads, in_features=d_model, decode=False, rngs=rngs
        )
        self.mlp_norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.mlp_in = nnx.Linear(d_model, 4 * d_model, rngs=rngs)
        self.mlp_out = nnx.Linear(4 * d_model, d_model, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attention(self.attention_norm(x), mask=mask)
        return x + self.mlp_out(nnx.gelu(self.mlp_in(self.mlp_norm(x))))


class CharTransformer(nnx.Module):
    """A decoder-only transformer over characters, with learned positions.

    Args:
      vocab_size: the number of distinct characters.
      d_model: the width.
      num_layers: the number of blocks.
      num_heads: attention heads per block.
      seq_len: the longest context (the number of learned positions).
      rngs: the random streams of the initialisation.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        d_model: int,
        num_layers: int,
        num_heads: int,
        seq_len: int,
        rngs: nnx.Rngs,
    ):
        self.embed = nnx.Embed(vocab_size, d_model, rngs=rngs)
        self.position = nnx.Param(
            0.02 * jax.random.normal(rngs.params(), (seq_len, d_model))
        )
        self.blocks = nnx.List(
            [Block(d_model, num_heads, rngs=rngs) for _ in range(num_layers)]
        )
        self.final_norm = nnx.LayerNorm(d_model, rngs=rngs)
        self.head = nnx.Linear(d_model, vocab_size, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = self.embed(tokens) + self.position[: tokens.shape[-1]]
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.final_norm(x))


def loss_fn(model: CharTransformer, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    """The mean cross-entropy of the next character, in nats."""
    logits = model(inputs)
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


# --- optimizer --------------------------------------------------------------------------


def base_optimizer(learning_rate: lrjax.ScalarOrSchedule, weight_decay: float = 0.01):
    """Clip the gradient's global norm to 1, then AdamW at `learning_rate`.

    The range test calls this factory with its sweep; training calls it with the
    warm-up + cosine schedule and chains the plateau cut after it.
    """
    return lrjax.chain(
        optax.clip_by_global_norm(1.0),
        lrjax.adamw(learning_rate, b2=0.99, weight_decay=weight_decay),
    )


def optimizer_chain(schedule: lrjax.Schedule, *, patience: int, factor: float):
    """The training optimizer: clipping, AdamW on `schedule`, the plateau cut."""
    return lrjax.chain(
        base_optimizer(schedule),
        lrjax.reduce_on_plateau(factor=factor, patience=patience, threshold=1e-3),
    )


# Clipping keeps an optax.EmptyState, which current_learning_rate refuses unless told
# that no stateless transform of the chain multiplies the updates by a constant.
NEUTRAL = (optax.EmptyState,)


def applied_learning_rate(optimizer: nnx.Optimizer) -> float:
    """The learning rate of the last update: the schedule's value times the plateau scale."""
    return float(lrjax.current_learning_rate(optimizer, neutral=NEUTRAL))


def plateau_scale(optimizer: nnx.Optimizer) -> float:
    """The plateau cut's scale $s$, read from the last state of the chain."""
    return float(optimizer.opt_state[-1].scale[...])


def choose_peak(finder: lrjax.LRFinderResult, fallback: float) -> tuple[float, str]:
    """The range test's suggestion as the peak rate, or `fallback` when there is none.

    Args:
      finder: the result of [`lrjax.find_learning_rate`][].
      fallback: the peak to use when the suggestion is NaN (no clear descent).

    Returns:
      `(peak, message)`, the message saying which it is and why.
    """
    if math.isfinite(finder.suggestion):
        return float(finder.suggestion), (
            f"range test: {finder.stop} steps (stopped: {finder.stop_reason}), "
            f"peak learning rate {finder.suggestion:.3e} ({finder.method})"
        )
    return fallback, (
        f"range test: no suggestion ({finder.reason}); falling back to the peak "
        f"learning rate {fallback:.3e}"
    )


# --- training ---------------------------------------------------------------------------


@nnx.jit
def train_step(model, optimizer, inputs, targets, val_loss, measured):
    """One update; `val_loss` reaches the plateau cut only when `measured` is true."""
    loss, grads = nnx.value_and_grad(loss_fn)(model, inputs, targets)
    optimizer.update(model, grads, value=val_loss, has_value=measured)
    return loss


@nnx.jit
def eval_loss(model, inputs, targets):
    """The validation loss of every held-out window."""
    return loss_fn(model, inputs, targets)


def train(
    model, optimizer, sample, val_data, *, start, stop, eval_every, log, checkpoint=None
):
    """Train from update `start` to `stop`, evaluating every `eval_every` updates.

    Before update `n` (for `n` a positive multiple of `eval_every`), the validation loss
    of the current weights is measured and handed to this update's plateau cut; after
    it, the rate that the update applied is read from the optimizer state.

    Args:
      model: the `CharTransformer`, updated in place.
      optimizer: its `nnx.Optimizer`, updated in place.
      sample: the batch sampler, `step -> (inputs, targets)`.
      val_data: the validation `(inputs, targets)`.
      start: the first update's number (the optimizer has made `start` updates).
      stop: the number of updates made on return.
      eval_every: updates between two evaluations.
      log: a function of one line of text, or `None` for silence.
      checkpoint: `(step, save)`: call `save(model, optimizer)` before update `step`.

    Returns:
      A dict of NumPy arrays: the training loss of every update (`train_losses`), the
      evaluation steps (`eval_steps`), and at those steps the validation losses
      (`val_losses`), the applied learning rates (`learning_rates`) and the plateau
      scales (`scales`).
    """
    train_losses, eval_steps, val_losses, rates, scales = [], [], [], [], []
    for n in range(start, stop):
        if checkpoint is not None and n == checkpoint[0]:
            checkpoint[1](model, optimizer)
        measured = n > 0 and n % eval_every == 0
        # A host scalar, NaN when not measured (the plateau cut then ignores it): the
        # step sees the same kind of argument every time and compiles once.
        val = np.float32(eval_loss(model, *val_data) if measured else np.nan)
        loss = train_step(model, optimizer, *sample(n), val, np.bool_(measured))
        train_losses.append(loss)
        if measured:
            rate = applied_learning_rate(optimizer)
            eval_steps.append(n)
            val_losses.append(float(val))
            rates.append(rate)
            scales.append(plateau_scale(optimizer))
            if log is not None:
                recent = float(jnp.mean(jnp.stack(train_losses[-eval_every:])))
                log(f"step {n:5d}  train {recent:.4f}  val {float(val):.4f}  lr {rate:.3e}")
    return {
        "train_losses": np.asarray(jnp.stack(train_losses))
        if train_losses
        else np.zeros(0),
        "eval_steps": np.asarray(eval_steps, np.int64),
        "val_losses": np.asarray(val_losses, np.float64),
        "learning_rates": np.asarray(rates, np.float64),
        "scales": np.asarray(scales, np.float64),
    }


# --- checkpoints ------------------------------------------------------------------------


def save_checkpoint(path: pathlib.Path, model, optimizer) -> None:
    """Save the model's and the optimizer's `nnx.State` with orbax."""
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(
            path.absolute(), {"model": nnx.state(model), "optimizer": nnx.state(optimizer)}
        )


def restore_checkpoint(path: pathlib.Path, model, optimizer) -> None:
    """Restore a checkpoint into a `model` and `optimizer` of the same structure.

    They give the target's shapes, dtypes and, above all, the Python structure (the
    optimizer's state types, its stateless transforms) that an `nnx.State` does not
    hold; orbax fills in the arrays, and `nnx.update` writes them back in place.
    """
    target = {"model": nnx.state(model), "optimizer": nnx.state(optimizer)}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(path.absolute(), abstract)
    nnx.update(model, restored["model"])
    nnx.update(optimizer, restored["optimizer"])


# --- the recipe -------------------------------------------------------------------------


def main(
    steps: int = 600,
    *,
    d_model: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    seq_len: int = 64,
    batch_size: int = 32,
    eval_every: int = 25,
    warmup_fraction: float = 0.1,
    min_ratio: float = 0.1,
    patience: int = 2,
    factor: float = 0.5,
    range_test_steps: int = 100,
    fallback_peak: float = 3e-3,
    checkpoint_dir: str | pathlib.Path | None = None,
    checkpoint_at: int | None = None,
    text: str = TEXT,
    seed: int = 0,
    verbose: bool = True,
) -> dict[str, Any]:
    r"""Run the recipe: range test, training with logging and plateau cuts, resume.

    Args:
      steps: the number of updates, $T$, warm-up included.
      d_model: the width of the transformer.
      num_layers: the number of transformer blocks.
      num_heads: attention heads per block.
      seq_len: the context, in characters.
      batch_size: windows per batch.
      eval_every: updates between two validation evaluations (and log lines).
      warmup_fraction: the warm-up's share of `steps`.
      min_ratio: the cosine's floor as a fraction of the peak.
      patience: evaluations without improvement tolerated; the next one cuts
        (PyTorch's counting).
      factor: the plateau cut, the factor applied to the rate.
      range_test_steps: the steps of the range test.
      fallback_peak: the peak used when the range test makes no suggestion.
      checkpoint_dir: where the checkpoint goes (a temporary directory if `None`).
      checkpoint_at: the update before which the checkpoint is saved (default: half
        way, between two evaluations).
      text: the corpus; its last tenth is held out for validation.
      seed: the seed of the initial weights and of the batch order.
      verbose: print the log.

    Returns:
      A dict: `vocab_size`, `uniform_loss` ($\log$ of the vocabulary size), the range
      test's `suggestion` and `range_test_reason`, the `peak_lr` used, `warmup_steps`,
      `min_ratio`, `steps`; the uninterrupted run's `train_losses` (every update),
      `eval_steps`, `val_losses`, `learning_rates` (applied at those steps), `scales`
      (the plateau scale at those steps), `cut_steps` (the evaluations where the
      scale fell), `cut_fired`, `final_val_loss`; and `resume`: `checkpoint_at`, the
      resumed run's own `train_losses`, `eval_steps`, `val_losses`, `learning_rates`
      and `scales` from there on,
      and `identical` (whether they equal the uninterrupted run's bit for bit).
    """
    log = print if verbose else None
    say = log or (lambda line: None)
    started = time.perf_counter()

    # The data: characters, the last tenth held out.
    tokens, vocab = encode(text)
    split = int(0.9 * tokens.shape[0])
    sample = jax.jit(batch_sampler(jnp.asarray(tokens[:split]), batch_size, seq_len, seed))
    val_data = validation_windows(tokens[split:], seq_len)
    say(
        f"{len(text)} characters, vocabulary {len(vocab)}, {val_data[0].shape[0]} "
        f"validation windows; uniform guess loss {math.log(len(vocab)):.4f}"
    )

    def new_model(seed):
        return CharTransformer(
            len(vocab),
            d_model=d_model,
            num_layers=num_layers,
            num_heads=num_heads,
            seq_len=seq_len,
            rngs=nnx.Rngs(seed),
        )

    # The range test, on a copy of the weights as a pytree.
    model = new_model(seed)
    graphdef, params = nnx.split(model)
    finder = lrjax.find_learning_rate(
        lambda p, batch: loss_fn(nnx.merge(graphdef, p), *batch),
        params,
        sample,
        base_optimizer,
        min_lr=1e-5,
        max_lr=10.0,
        num_steps=range_test_steps,
    )
    peak, message = choose_peak(finder, fallback_peak)
    say(message)

    # The schedule and the optimizer.
    warmup_steps = max(1, int(warmup_fraction * steps))
    schedule = lrjax.warmup_cosine(
        peak, warmup_steps=warmup_steps, total_steps=steps, min_ratio=min_ratio
    )

    # One chain for both runs: it is static data of the optimizer's graph, so a new
    # chain (new closures) would compile the training step again.
    tx = optimizer_chain(schedule, patience=patience, factor=factor)

    def new_optimizer(model):
        return nnx.Optimizer(model, tx, wrt=nnx.Param)

    optimizer = new_optimizer(model)
    say(
        f"model: {sum(p.size for p in jax.tree.leaves(params)):,} parameters; "
        f"{steps} steps, warm-up {warmup_steps}, cosine to {min_ratio:g} x peak"
    )

    # The uninterrupted run, saving a checkpoint on the way.
    if checkpoint_at is None:
        checkpoint_at = (steps // 2 // eval_every) * eval_every + eval_every // 2
    if not 0 < checkpoint_at < steps:
        raise ValueError(f"checkpoint_at={checkpoint_at} must lie in (0, steps={steps})")
    with tempfile.TemporaryDirectory() as scratch:
        where = pathlib.Path(checkpoint_dir or scratch) / f"step_{checkpoint_at}"
        run = train(
            model,
            optimizer,
            sample,
            val_data,
            start=0,
            stop=steps,
            eval_every=eval_every,
            log=log,
            checkpoint=(checkpoint_at, lambda m, o: save_checkpoint(where, m, o)),
        )
        final_val = float(eval_loss(model, *val_data))
        say(
            f"final: train {float(run['train_losses'][-20:].mean()):.4f} (last 20 "
            f"steps)  val {final_val:.4f}"
        )

        # The resumed run: fresh objects of the same structure, other random weights
        # (every array must come from the checkpoint).
        say(f"resuming from the checkpoint saved before step {checkpoint_at}")
        model = new_model(seed + 1)
        optimizer = new_optimizer(model)
        restore_checkpoint(where, model, optimizer)
        resumed = train(
            model,
            optimizer,
            sample,
            val_data,
            start=checkpoint_at,
            stop=steps,
            eval_every=eval_every,
            log=None,
        )

    # Where the plateau cut fired: the evaluations after which the scale fell.
    fell = np.diff(np.concatenate([[1.0], run["scales"]])) < 0
    cut_steps = [int(n) for n in run["eval_steps"][fell]]
    later = run["eval_steps"] >= checkpoint_at
    identical = bool(
        np.array_equal(resumed["train_losses"], run["train_losses"][checkpoint_at:])
        and np.array_equal(resumed["val_losses"], run["val_losses"][later])
        and np.array_equal(resumed["learning_rates"], run["learning_rates"][later])
    )
    say(
        f"plateau cuts at steps {cut_steps or 'none'}; resumed run "
        f"{'identical' if identical else 'DIFFERENT'} over {steps - checkpoint_at} steps; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return {
        "vocab_size": len(vocab),
        "uniform_loss": math.log(len(vocab)),
        "suggestion": float(finder.suggestion),
        "range_test_reason": finder.reason,
        "peak_lr": peak,
        "warmup_steps": warmup_steps,
        "min_ratio": min_ratio,
        "steps": steps,
        **run,
        "cut_steps": cut_steps,
        "cut_fired": bool(cut_steps),
        "final_val_loss": final_val,
        "resume": {"checkpoint_at": checkpoint_at, **resumed, "identical": identical},
    }


def _parse(argv=None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2, dest="num_layers")
    p.add_argument("--heads", type=int, default=4, dest="num_heads")
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=32, dest="batch_size")
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--checkpoint-dir", default=None)
    return vars(p.parse_args(argv))


if __name__ == "__main__":
    main(**_parse())
