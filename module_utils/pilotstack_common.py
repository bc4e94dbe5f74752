"""What every tier's module_utils shares."""

from __future__ import annotations


class Refused(Exception):
    """A change or a plan that cannot be proven safe: nothing was done. `reasons` says
    why, and how to proceed (the override, when there is one)."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


def change(module, argv: list[str], ran: list[list[str]], data: str | None = None) -> None:
    """The one gate for changes a module makes by command: records argv in `ran`; runs it
    unless in check mode (so check mode lists exactly what a real run would run); a
    failure ends the module with every command run so far."""
    ran.append(argv)
    if module.check_mode:
        return
    rc, out, err = module.run_command(argv, data=data)
    if rc != 0:
        module.fail_json(msg=f"{' '.join(argv)} failed: {(err or out).strip()}",
                         commands=ran)
