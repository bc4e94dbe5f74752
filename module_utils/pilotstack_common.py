"""What every tier's module_utils shares."""

from __future__ import annotations


class Refused(Exception):
    """A change or a plan that cannot be proven safe: nothing was done. `reasons` says
    why, and how to proceed (the override, when there is one)."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))
