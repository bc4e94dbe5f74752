"""Controller tier drills: a client that asks the controller VIP's HTTP
endpoint ten times a second (each answer names the node that served it), and a watcher that
samples which nodes hold the VIP or run a group service, to prove the group is never
active on two nodes at once.
"""

from __future__ import annotations

import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..mu import pcmk_mu
from . import DrillFailed, check, drill
from .env import FAULTS, TOPOLOGY, NodeProgram, group, on_node, vip

# From the testbed's topology: the Pacemaker cluster (controllers and network nodes share
# it), its VIP, and the balancer the client probes from.
NODES = tuple(dict.fromkeys(group("controllers") + TOPOLOGY.groups.get("network_nodes", [])))
VIP = vip("controller")
PROBE_HOST = group("lb")[0]
GROUP = "controller"
SERVICES = ("memcached", "lighttpd")

PROBE = r"""
import sys, time, urllib.request
url, stop, pace = sys.argv[1], sys.argv[2], float(sys.argv[3])
import os
while not os.path.exists(stop):
    t = time.time()
    try:
        body = urllib.request.urlopen(url, timeout=1).read().decode().split()
        print("OK %.3f %s" % (t, body[-1] if body else "?"), flush=True)
    except Exception as e:
        print("ERR %.3f %s" % (t, type(e).__name__), flush=True)
    time.sleep(max(0.0, pace - (time.time() - t)))
"""


def started_at(host: str) -> str:
    """The container's last start time: changes when fencing powered it off and on."""
    return FAULTS.docker("inspect", "-f", "{{.State.StartedAt}}",
                         TOPOLOGY.container(host)).strip()


@dataclass
class Probe(NodeProgram):
    """HTTP GETs to the VIP from `host` every `pace` seconds; answers = [(time, node)]."""
    host: str = PROBE_HOST
    pace: float = 0.1
    answers: list[tuple[float, str]] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)

    def start(self) -> Probe:
        self.launch(PROBE, f"http://{VIP}/")
        return self

    def on_line(self, parts: list[str]) -> None:
        if parts[0] == "OK":
            self.answers.append((float(parts[1]), parts[2]))
        elif parts[0] == "ERR":
            self.errors.append(float(parts[1]))

    def wait_answer(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.answers:
            check(time.monotonic() < deadline, "the VIP never answered")
            time.sleep(0.2)

    def stop(self) -> Probe:
        self.halt(30, check=False)
        return self

    def back_after(self, since: float, not_from: str | None = None) -> float | None:
        """Seconds from `since` to the first answer after it (from a node other than
        `not_from` when given); None when there was none."""
        for t, node in self.answers:
            if t > since and node != not_from:
                return t - since
        return None

    def served_by(self, since: float = 0) -> set[str]:
        return {node for t, node in self.answers if t > since}


@dataclass
class Watch:
    """Samples every node (docker exec, so a paused or stopped node simply gives no
    sample) for the VIP on an interface and the group's services active; `twice` counts
    the samples in which two nodes were active at once."""
    interval: float = 0.2
    samples: list[tuple[float, dict[str, bool]]] = field(default_factory=list)

    def start(self) -> Watch:
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _one(self, host: str) -> bool | None:
        cmd = (f"ip -o -4 addr show | grep -q ' {VIP}/' && echo vip; "
               f"systemctl is-active {' '.join(SERVICES)} | grep -qx active && echo svc; true")
        try:
            proc = subprocess.run(["docker", "exec", TOPOLOGY.container(host), "sh", "-c", cmd],
                                  capture_output=True, text=True, timeout=3)
        except subprocess.TimeoutExpired:
            return None
        if proc.returncode != 0:
            return None
        return bool(proc.stdout.split())

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            self.samples.append((t, {h: self._one(h) for h in NODES}))
            self._stop.wait(max(0.0, self.interval - (time.time() - t)))

    def stop(self) -> Watch:
        self._stop.set()
        self.thread.join(10)
        return self

    @property
    def twice(self) -> int:
        return sum(1 for _, s in self.samples if sum(1 for v in s.values() if v) > 1)



def crm_mon() -> ET.Element:
    for host in NODES:
        out = on_node(host, "crm_mon --one-shot --inactive --output-as=xml", check=False)
        if "<pacemaker-result" in out:
            return ET.fromstring(out)
    raise DrillFailed("no node answers crm_mon")


def active_node() -> str:
    where = {n.get("name") for r in crm_mon().iter("resource")
             if r.get("id") == "controller-vip" for n in r.iter("node")}
    check(len(where) == 1, f"the controller VIP runs on {sorted(where) or 'no node'}")
    return where.pop()


def cluster_problems() -> list[str]:
    """The role's health rule (module_utils/pilotstack_pacemaker.cluster_health) on the
    first node that answers, after the cluster has settled (no action pending)."""
    for host in NODES:
        out = on_node(host, "crm_resource --wait --timeout=20s >/dev/null 2>&1 || "
                            "echo UNSETTLED >&2; crm_mon --one-shot --inactive "
                            "--output-as=xml", check=False, timeout=60)
        if "<pacemaker-result" in out:
            state = pcmk_mu.parse_crm_mon(out[out.index("<"):])
            return pcmk_mu.cluster_health(state, list(NODES), [GROUP])
    return ["no node answers crm_mon"]


def wait_healthy(env, timeout: float = 240) -> float:
    """Seconds until every node is online, the group runs on one node, no failed action,
    no action pending and every fence device started (the role's gate rule)."""
    start = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - start < timeout:
        problems = cluster_problems()
        if not problems:
            return time.monotonic() - start
        time.sleep(1)
    raise DrillFailed(f"cluster not healthy after {timeout} s: {'; '.join(problems)}")


# --- the drills -------------------------------------------------------------------------------

def _active_fails(env, how: str) -> None:
    wait_healthy(env)
    active = active_node()
    peer = next(n for n in NODES if n != active)
    before = started_at(active)
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        time.sleep(2)
        t0 = time.time()
        if how == "killed":
            FAULTS.kill(active)
        else:
            FAULTS.freeze(active)
        deadline = time.monotonic() + 120
        while probe.back_after(t0, not_from=active) is None:
            check(time.monotonic() < deadline, "the VIP did not come back on the peer")
            time.sleep(0.5)
        back = probe.back_after(t0, not_from=active)
        fenced = started_at(active) != before
        wait_fenced = time.monotonic() + 60
        while not fenced and time.monotonic() < wait_fenced:
            time.sleep(1)
            fenced = started_at(active) != before
    finally:
        # Fencing powers the node off and on; if it did not, undo the fault here.
        FAULTS.thaw(active)
        if active not in FAULTS.running():
            FAULTS.start(active)
        rejoin = wait_healthy(env, 300)
        watch.stop()
        probe.stop()
    env.figure(f"pacemaker active {how}: VIP answering from the peer after (s)", round(back, 1))
    env.figure(f"pacemaker active {how}: fenced (powered off and on)", fenced)
    env.figure(f"pacemaker active {how}: cluster healthy again after (s)", round(rejoin, 1))
    env.figure(f"pacemaker active {how}: samples with the group on two nodes",
               f"{watch.twice} of {len(watch.samples)}")
    check(fenced, f"{active} was not fenced")
    check(watch.twice == 0, f"the group ran on two nodes in {watch.twice} samples")
    check(active_node() == peer, "the group is not on the peer")


@drill("pacemaker-active-killed", "controllers")
def active_killed(env) -> None:
    """The active controller killed (sockets close): the peer fences it (power off and on
    through fence_docker) and starts the group; the group never runs on both."""
    _active_fails(env, "killed")


@drill("pacemaker-active-frozen", "controllers")
def active_frozen(env) -> None:
    """The active controller frozen (docker pause: silent, must be fenced, not waited for):
    the peer fences it and starts the group; the group never runs on both."""
    _active_fails(env, "silent")


@drill("pacemaker-links-cut", "controllers")
def links_cut(env) -> None:
    """Both corosync links of the active node dropped (both ways): both sides race to fence,
    priority-fencing-delay makes the passive node lose; the services never move."""
    wait_healthy(env)
    active = active_node()
    passive = next(n for n in NODES if n != active)
    before = {n: started_at(n) for n in NODES}
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        t0 = time.time()
        FAULTS.cut_ports(active, "5405-5412", "udp")  # corosync's knet links
        deadline = time.monotonic() + 120
        while started_at(passive) == before[passive] and started_at(active) == before[active]:
            check(time.monotonic() < deadline, "nobody was fenced")
            time.sleep(1)
        fence_s = time.time() - t0
        time.sleep(5)
    finally:
        FAULTS.heal(active)
        wait_healthy(env, 300)
        watch.stop()
        probe.stop()
    survivor = active if started_at(active) == before[active] else passive
    gaps = [b - a for (a, _), (b, _) in zip(probe.answers, probe.answers[1:], strict=False)
            if a > t0]
    env.figure("pacemaker links cut: fenced after (s)", round(fence_s, 1))
    env.figure("pacemaker links cut: longest VIP gap (s)", round(max(gaps, default=0), 1))
    check(survivor == active, "the node running the group was fenced")
    check(started_at(passive) != before[passive], "the passive node was not fenced")
    check(watch.twice == 0, f"the group ran on two nodes in {watch.twice} samples")


@drill("pacemaker-standby", "controllers")
def standby_and_back(env) -> None:
    """pacemaker-standby.yml on the active node, then back: the group moves to the peer,
    stays there (stickiness), never runs on both; a second back-online run changes nothing."""
    wait_healthy(env)
    active = active_node()
    peer = next(n for n in NODES if n != active)
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        t0 = time.time()
        run = env.playbook("pacemaker-standby.yml", "-e", f"node={active}")
        check(run.rc == 0 and run.changed == 1, f"standby failed:\n{run.output[-3000:]}")
        moved = probe.back_after(t0, not_from=active)
        check(moved is not None, "the VIP did not answer from the peer")
        back = env.playbook("pacemaker-standby.yml", "-e", f"node={active}",
                            "-e", "standby=false")
        check(back.rc == 0 and back.changed == 1, f"back online failed:\n{back.output[-3000:]}")
        again = env.playbook("pacemaker-standby.yml", "-e", f"node={active}",
                             "-e", "standby=false")
        check(again.rc == 0 and again.changed == 0, f"second run changed: {again.recap}")
    finally:
        watch.stop()
        probe.stop()
    env.figure("pacemaker standby of the active node: VIP answering from the peer after (s)",
               round(moved, 1))
    env.figure("pacemaker standby playbook, back-online playbook (s)",
               f"{run.seconds:.1f}, {back.seconds:.1f}")
    check(active_node() == peer, "the group moved back (no stickiness)")
    check(watch.twice == 0, f"the group ran on two nodes in {watch.twice} samples")


@drill("pacemaker-rolling-restart", "controllers")
def rolling_restart(env) -> None:
    """pacemaker-rolling-restart.yml: both nodes' pacemaker + corosync restarted one at a
    time; nobody fenced, the group never on two nodes; failed VIP requests counted."""
    wait_healthy(env)
    before = {n: started_at(n) for n in NODES}
    probe, watch = Probe().start(), Watch().start()
    try:
        probe.wait_answer(30)
        t0 = time.time()
        run = env.playbook("pacemaker-rolling-restart.yml")
    finally:
        watch.stop()
        probe.stop()
    check(run.rc == 0, f"pacemaker-rolling-restart.yml failed:\n{run.output[-4000:]}")
    failed = [t for t in probe.errors if t > t0]
    gaps = [b - a for (a, _), (b, _) in zip(probe.answers, probe.answers[1:], strict=False)
            if a > t0]
    env.figure("pacemaker rolling restart (s)", round(run.seconds, 1))
    env.figure("pacemaker rolling restart: longest VIP gap (s)", round(max(gaps, default=0), 1))
    env.figure("pacemaker rolling restart: failed VIP requests",
               f"{len(failed)} of {len([a for a in probe.answers if a[0] > t0]) + len(failed)}")
    check({n: started_at(n) for n in NODES} == before, "a node was fenced")
    check(watch.twice == 0, f"the group ran on two nodes in {watch.twice} samples")
    wait_healthy(env)


@drill("pacemaker-service-killed", "controllers")
def service_killed(env) -> None:
    """memcached killed on the active node: Pacemaker sees the failure and restarts it in
    place (failcount 1), the group does not move."""
    wait_healthy(env)
    active = active_node()
    t0 = time.time()
    FAULTS.signal(active, "memcached", "KILL")
    deadline = time.monotonic() + 60
    try:
        while True:
            out = on_node(active, "crm_failcount --query -r controller-memcached "
                                  f"-N {active}", check=False)
            if "value=1" in out.replace(" ", "") or "value=INFINITY" in out:
                break
            check(time.monotonic() < deadline, f"no failure recorded: {out}")
            time.sleep(0.5)
        detected = time.time() - t0
        while on_node(active, "systemctl is-active memcached", check=False).strip() != "active":
            check(time.monotonic() < deadline, "memcached not running again after 60 s")
            time.sleep(0.5)
        restarted = time.time() - t0
        check(active_node() == active, "the group moved")
    finally:
        on_node(active, "crm_resource --cleanup -r controller-memcached", check=False)
    env.figure("pacemaker memcached killed: failure seen after (s)", round(detected, 1))
    env.figure("pacemaker memcached killed: running again in place after (s)",
               round(restarted, 1))
    wait_healthy(env)
