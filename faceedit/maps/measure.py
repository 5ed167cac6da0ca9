"""Agreement of two label maps per class group (the measures of issue 21)."""
from __future__ import annotations

import numpy as np

#: the groups read by the map benchmark and the training evaluation (class names of faceedit.faces.parsing.CLASSES)
GROUPS: dict[str, tuple[str, ...]] = {
    "skin": ("skin",), "hair": ("hair",), "nose": ("nose",), "lips": ("mouth", "u_lip", "l_lip"),
    "eyes": ("l_eye", "r_eye"), "brows": ("l_brow", "r_brow"),
}
#: left/right classes swapped by a horizontal flip
FLIP_PAIRS = (("l_brow", "r_brow"), ("l_eye", "r_eye"), ("l_ear", "r_ear"))


def group_mask(labels: np.ndarray, group: str) -> np.ndarray:
    """Boolean mask of a :data:`GROUPS` entry in a label map (any leading shape)."""
    from ..faces.parsing import LABEL

    return np.isin(labels, [LABEL[c] for c in GROUPS[group]])


def group_iou(pred: np.ndarray, target: np.ndarray, groups: tuple[str, ...] = tuple(GROUPS)) -> dict[str, float]:
    """IoU of each group between two maps (NaN where neither map has the group)."""
    out = {}
    for g in groups:
        a, b = group_mask(pred, g), group_mask(target, g)
        union = (a | b).sum()
        out[g] = float((a & b).sum() / union) if union else float("nan")
    return out


def flip_table() -> np.ndarray:
    """Class ids after a horizontal flip (left and right classes swapped), indexable by id."""
    from ..faces.parsing import CLASSES, LABEL

    table = np.arange(len(CLASSES), dtype=np.uint8)
    for a, b in FLIP_PAIRS:
        table[LABEL[a]], table[LABEL[b]] = LABEL[b], LABEL[a]
    return table
