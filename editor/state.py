"""The editor's edit state and its undo/redo history: pure Python, no Qt, no torch.

An :class:`EditState` is an immutable snapshot of everything the user can change about an edit: the
strength of every slider (keyed ``"translation:A_max"``, ``"direction:Smiling"``, ``"pca:3"``), the
layer range the PCA components act on, and the post-processing (mixup) toggles.  The window never
mutates a state; it builds a new one and pushes it onto an :class:`EditHistory`, which is what makes
every change undoable.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from faceedit.errors import InvalidInput

MIXUPS = ("domain", "segmentation", "depth")


@dataclass(frozen=True)
class EditState:
    """One snapshot of an edit. ``values`` holds only non-zero slider strengths, sorted by key."""

    values: tuple[tuple[str, float], ...] = ()
    pca_layers: tuple[int, int] | None = None  # rows [start, stop) of W+ the PCA sliders act on
    mixups: frozenset[str] = field(default_factory=frozenset)

    def value(self, key: str) -> float:
        """The strength of slider ``key`` (0.0 when unset)."""
        return dict(self.values).get(key, 0.0)

    def as_dict(self) -> dict[str, float]:
        """The non-zero slider strengths as a plain dict."""
        return dict(self.values)

    def with_value(self, key: str, value: float) -> "EditState":
        """A copy with slider ``key`` set to ``value`` (0 removes it)."""
        d = dict(self.values)
        if float(value) == 0.0:
            d.pop(key, None)
        else:
            d[key] = float(value)
        return replace(self, values=tuple(sorted(d.items())))

    def reset(self, key: str) -> "EditState":
        """A copy with slider ``key`` back to 0."""
        return self.with_value(key, 0.0)

    def reset_all(self) -> "EditState":
        """A copy with every slider back to 0 (layer range and mixups kept)."""
        return replace(self, values=())

    def with_mixup(self, name: str, enabled: bool) -> "EditState":
        """A copy with mixup ``name`` (one of :data:`MIXUPS`) switched on or off."""
        if name not in MIXUPS:
            raise InvalidInput(f"unknown mixup {name!r}; known: {', '.join(MIXUPS)}")
        mix = set(self.mixups)
        (mix.add if enabled else mix.discard)(name)
        return replace(self, mixups=frozenset(mix))

    def with_pca_layers(self, layers: tuple[int, int] | None) -> "EditState":
        """A copy whose PCA sliders act on W+ rows ``[start, stop)`` (None: every row)."""
        if layers is not None:
            start, stop = int(layers[0]), int(layers[1])
            if not 0 <= start < stop:
                raise InvalidInput(f"PCA layer range must satisfy 0 <= start < stop, got {layers}")
            layers = (start, stop)
        return replace(self, pca_layers=layers)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the editor's recipe file body)."""
        return {
            "values": dict(self.values),
            "pca_layers": list(self.pca_layers) if self.pca_layers else None,
            "mixups": sorted(self.mixups),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "EditState":
        """Inverse of :meth:`to_json`; malformed input raises :class:`InvalidInput`."""
        if not isinstance(data, Mapping):
            raise InvalidInput("an edit state must be a JSON object")
        try:
            values = {str(k): float(v) for k, v in dict(data.get("values", {})).items()}
            state = cls().with_pca_layers(data.get("pca_layers") or None)
            for name in data.get("mixups", []):
                state = state.with_mixup(str(name), True)
        except (TypeError, ValueError) as e:
            raise InvalidInput(f"malformed edit state: {e}") from None
        return replace(state, values=tuple(sorted((k, v) for k, v in values.items() if v != 0.0)))


@dataclass(frozen=True)
class _Entry:
    state: EditState
    label: str
    group: str | None = None  # consecutive pushes of one group (e.g. arrow keys on a slider) merge
    time: float = 0.0


class EditHistory:
    """Linear undo/redo over :class:`EditState` snapshots.

    ``push`` records a new state (dropping the redo branch); pushing a state equal to the current one
    is ignored so that a click which changes nothing leaves no empty undo step.  Pushes with the same
    ``group`` less than ``merge_seconds`` apart replace each other (one undo step for a burst of arrow
    keys on one slider).
    """

    merge_seconds = 1.5

    def __init__(self, initial: EditState | None = None, limit: int = 500) -> None:
        self._limit = limit
        self.clear(initial or EditState())

    def clear(self, state: EditState | None = None) -> None:
        """Forget the history; ``state`` (default: empty) becomes the only entry."""
        self._entries = [_Entry(state or EditState(), "start")]
        self._index = 0

    @property
    def state(self) -> EditState:
        """The current state."""
        return self._entries[self._index].state

    def push(self, state: EditState, label: str, group: str | None = None, now: float | None = None) -> bool:
        """Make ``state`` current, recorded under ``label``; return False if nothing changed."""
        if state == self.state:
            return False
        now = time.monotonic() if now is None else now
        del self._entries[self._index + 1:]
        top = self._entries[-1]
        if group is not None and top.group == group and self._index > 0 and now - top.time < self.merge_seconds:
            self._entries[-1] = _Entry(state, label, group, now)
            return True
        self._entries.append(_Entry(state, label, group, now))
        if len(self._entries) > self._limit:
            del self._entries[0]
        self._index = len(self._entries) - 1
        return True

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._entries) - 1

    def undo_label(self) -> str:
        """What :meth:`undo` would revert ('' when nothing)."""
        return self._entries[self._index].label if self.can_undo() else ""

    def redo_label(self) -> str:
        """What :meth:`redo` would re-apply ('' when nothing)."""
        return self._entries[self._index + 1].label if self.can_redo() else ""

    def undo(self) -> EditState:
        """Step back one change and return the now-current state (no-op at the start)."""
        if self.can_undo():
            self._index -= 1
        return self.state

    def redo(self) -> EditState:
        """Step forward one change and return the now-current state (no-op at the end)."""
        if self.can_redo():
            self._index += 1
        return self.state

    def labels(self) -> list[str]:
        """Every recorded label, oldest first (for an undo-history view)."""
        return [e.label for e in self._entries]


def changed_keys(a: EditState, b: EditState) -> Iterable[str]:
    """The slider keys whose strength differs between two states."""
    da, db = a.as_dict(), b.as_dict()
    return sorted(k for k in set(da) | set(db) if da.get(k, 0.0) != db.get(k, 0.0))
