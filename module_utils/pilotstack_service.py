"""Restart pending: a configuration file written after the running server's main process
started means the server still runs the old configuration.

The rule is stateless on purpose. A run that wrote a new configuration and then failed
before the restart (a gate that did not pass, a lost SSH connection) leaves no marker that
the next run could forget: the next run compares the file's mtime with the process start
time read from /proc, finds the file newer, and restarts.

Every reader takes injected `run(argv) -> (rc, out, err)` and `read(path) -> text | None`
so the decisions are unit-tested on recorded /proc contents.
"""

from __future__ import annotations

import os

# /proc/stat's btime has one-second resolution, so a computed start time can be up to a
# second early: a file must be newer than that to count.
TOLERANCE_S = 1.0


def main_pid(run, service: str) -> int | None:
    """The unit's main PID, None when it has none (stopped, or not a single process)."""
    rc, out, _ = run(["systemctl", "show", "--property=MainPID", "--value", service])
    if rc != 0:
        return None
    try:
        pid = int(out.strip())
    except ValueError:
        return None
    return pid or None


def process_started(pid: int, read, clock_ticks: int | None = None) -> float | None:
    """Epoch seconds at which process `pid` started, from /proc/<pid>/stat (field 22,
    clock ticks after boot) and /proc/stat's btime; None when either cannot be read."""
    stat, proc_stat = read(f"/proc/{pid}/stat"), read("/proc/stat")
    if not stat or not proc_stat:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2:].split()
    btime = next((line.split()[1] for line in proc_stat.splitlines()
                  if line.startswith("btime ")), None)
    try:
        ticks, boot = int(fields[19]), int(btime)
    except (IndexError, TypeError, ValueError):
        return None
    return boot + ticks / (clock_ticks or os.sysconf("SC_CLK_TCK"))


def restart_pending(run, read, mtime, service: str, config_files: list[str],
                    clock_ticks: int | None = None) -> dict:
    """Whether `service` runs with an older configuration than `config_files` hold.

    `mtime(path) -> float | None`. Returns pending (bool), newer (the files written after
    the start), started (epoch seconds or None) and why (a sentence, or None)."""
    result = {"pending": False, "newer": [], "started": None, "why": None}
    pid = main_pid(run, service)
    if pid is None:
        return result
    started = process_started(pid, read, clock_ticks)
    if started is None:
        return result
    result["started"] = started
    newer = [path for path in config_files
             if (m := mtime(path)) is not None and m > started + TOLERANCE_S]
    if newer:
        result.update(pending=True, newer=newer,
                      why=f"{service} (pid {pid}) started before {', '.join(newer)} "
                          "was last written: a restart is pending")
    return result


def file_mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


# A drain file the roles write says so in its first line: the next run may take such a
# member back into service; a drain file written by an operator is left alone.
DRAIN_OWNER_PREFIX = "pilotstack:"


def drain_owner(text: str | None) -> str | None:
    """None when there is no drain file, 'pilotstack' when a role wrote it, else
    'operator'."""
    if text is None:
        return None
    return "pilotstack" if text.startswith(DRAIN_OWNER_PREFIX) else "operator"
