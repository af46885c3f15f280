"""The findings the diagnosis can report: stable names, what each means, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class FindingKind:
    """Documentation of one finding name.

    Attributes:
        name: The stable name.
        needs: ``loss`` (plain TensorBoard scalars suffice) or ``gradients`` (FitDiagCallback).
        summary: What is wrong, one line.
        remedy: What usually fixes it, one line.
    """

    name: str
    needs: str
    summary: str
    remedy: str


FINDING_KINDS: Final[dict[str, FindingKind]] = {
    k.name: k
    for k in (
        FindingKind(
            "non-finite-loss",
            "loss",
            "The loss became NaN or Inf: training has failed from that point on.",
            "Lower the learning rate (try 10x lower), normalize the inputs, check that the "
            "output activation matches the loss, or clip gradients.",
        ),
        FindingKind(
            "diverging-loss",
            "loss",
            "The training loss rose well above its minimum and kept rising or stayed there.",
            "Lower the learning rate, or add a decay schedule; normalize the inputs.",
        ),
        FindingKind(
            "oscillating-loss",
            "loss",
            "The training loss swings up and down by large amounts without making progress.",
            "Lower the learning rate or increase the batch size; normalize the inputs.",
        ),
        FindingKind(
            "loss-plateau",
            "loss",
            "The training loss barely improved over the whole run.",
            "Raise the learning rate, replace saturating activations (sigmoid/tanh) in deep "
            "stacks with ReLU, normalize the inputs, check the output activation and the loss.",
        ),
        FindingKind(
            "overfitting",
            "loss",
            "Validation loss rose above its minimum while training loss kept falling.",
            "Stop earlier (EarlyStopping on val_loss, restore_best_weights=True), get more "
            "data or augment it, add dropout or weight decay, or use a smaller model.",
        ),
        FindingKind(
            "exploding-gradients",
            "gradients",
            "Gradients became non-finite, grew by orders of magnitude, or grow toward the input.",
            "Lower the learning rate, normalize the inputs, clip gradients (clipnorm=1.0), or "
            "add normalization layers.",
        ),
        FindingKind(
            "vanishing-gradients",
            "gradients",
            "The first layers receive almost no gradient: they barely learn.",
            "Use ReLU-family activations and He initialization in deep stacks, add batch "
            "normalization or residual connections; avoid deep stacks of RNNs.",
        ),
        FindingKind(
            "dead-units",
            "gradients",
            "Most units of a layer never activate (dying ReLU) or receive exactly zero gradient.",
            "Lower the learning rate, normalize the inputs, use LeakyReLU/ELU, or He "
            "initialization with a small positive bias.",
        ),
        FindingKind(
            "update-ratio-too-high",
            "gradients",
            "Each step changes the weights by a large fraction of their size.",
            "Lower the learning rate (the update-to-weight ratio should be around 1e-3).",
        ),
        FindingKind(
            "update-ratio-too-low",
            "gradients",
            "Each step changes the weights by a tiny fraction of their size: training crawls.",
            "Raise the learning rate (the update-to-weight ratio should be around 1e-3).",
        ),
    )
}
