"""The `pilotstack` command: a thin layer over the playbooks and the local testbed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import __version__, paths
from . import secrets as secrets_mod
from .mu import tiers_mu
from .testbed import topology as topology_mod
from .testbed.manager import Testbed, TestbedError


def _testbed(args) -> Testbed:
    return Testbed(topology_mod.load(args.topology))


def cmd_testbed(args) -> int:
    bed = _testbed(args)
    if args.action == "up":
        timings = bed.up()
        if args.json:
            print(json.dumps(timings))
        return 0
    if args.action == "down":
        removed = bed.down()
        print(f"testbed {bed.topo.name} down: removed {len(removed)} objects")
        return 0
    if args.action == "status":
        rows = bed.status()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{'HOST':<6} {'CONTAINER':<12} {'STATE':<8} {'MGMT':<15} {'SSH':<4} GROUPS")
            for r in rows:
                print(f"{r['host']:<6} {r['container']:<12} {r['state']:<8} {r['mgmt']:<15} "
                      f"{r['ssh']:<4} {r['groups']}")
        return 0 if all(r["state"] == "running" and r["ssh"] == "ok" for r in rows) else 1
    if args.action == "ssh":
        bed.ssh(args.host, args.command)
    return 2


def cmd_secrets(args) -> int:
    result = secrets_mod.ensure(Path(args.inventory),
                                Path(args.vault_password_file) if args.vault_password_file
                                else None)
    print(f"{result['vault']}: {len(result['added'])} generated, "
          f"{len(result['kept'])} kept (never overwritten); vault password in "
          f"{result['password_file']}")
    return 0


def ansible_playbook_argv(inventory: str, playbook: str, vault_password_file: str | None,
                          extra: list[str]) -> list[str]:
    root = paths.project_root()
    inv = Path(inventory)
    book = Path(playbook)
    if not book.exists():
        book = root / "playbooks" / (playbook if playbook.endswith(".yml") else playbook + ".yml")
    argv = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inv), str(book)]
    _, pass_file = secrets_mod.vault_paths(inv, Path(vault_password_file)
                                           if vault_password_file else None)
    if pass_file.exists():
        argv += ["--vault-password-file", str(pass_file)]
    return argv + extra


def strategy_env(strategy: str) -> dict[str, str]:
    """Environment for ansible-playbook: the project's ansible.cfg, and the strategy.

    auto (deploy's default) takes Mitogen's mitogen_linear when the mitogen package is
    installed (`.[speed]`, which run.sh installs), Ansible's linear otherwise. Measured on
    the testbed: a whole-stack re-run takes half the time with Mitogen (README, Speed).
    ansible-core deprecates third-party strategy plugins and prints a warning for it;
    `--strategy linear` runs with Ansible's own."""
    env = {"ANSIBLE_CONFIG": str(paths.project_root() / "ansible.cfg")}
    if strategy == "linear":
        return env
    try:
        import ansible_mitogen
    except ImportError as exc:
        if strategy == "auto":
            return env
        raise RuntimeError("--strategy mitogen needs the mitogen package "
                           "(pip install '.[speed]')") from exc
    env["ANSIBLE_STRATEGY_PLUGINS"] = str(Path(ansible_mitogen.__file__).parent
                                          / "plugins" / "strategy")
    env["ANSIBLE_STRATEGY"] = "mitogen_linear"
    return env


class _AnyTagLoader(yaml.SafeLoader):
    """Reads YAML as Ansible writes it: `!vault`, `!unsafe` and other tags are accepted."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def inventory_yaml_errors(inventory: Path) -> list[str]:
    """FILE:LINE:COLUMN: what, for every inventory YAML file that does not parse (Ansible's
    own message names neither file nor line). Vault-encrypted files are skipped."""
    files = [inventory] if inventory.is_file() else sorted(
        p for p in inventory.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    errors = []
    for path in files:
        text = path.read_text(errors="replace")
        if text.startswith("$ANSIBLE_VAULT"):
            continue
        try:
            yaml.load(text, Loader=_AnyTagLoader)  # noqa: S506 (safe loader subclass)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            errors.append(f"{where}: {exc.problem or exc.context}")
        except yaml.YAMLError as exc:
            errors.append(f"{path}: {exc}")
    return errors


def cmd_playbook(args, playbook: str) -> int:
    errors = inventory_yaml_errors(Path(args.inventory))
    if errors:
        print("pilotstack: the inventory does not parse; no host was contacted:\n"
              + "\n".join(f"  {e}" for e in errors), file=sys.stderr)
        return 2
    argv = ansible_playbook_argv(args.inventory, playbook, args.vault_password_file,
                                 args.ansible_args)
    env = dict(os.environ, **strategy_env(args.strategy))
    return subprocess.call(argv, cwd=paths.project_root(), env=env)


def playbook_summaries() -> list[tuple[str, str]]:
    """(name, first sentence of its header comment) for every playbook of playbooks/."""
    out = []
    for path in sorted((paths.project_root() / "playbooks").glob("*.yml")):
        lines = []
        for line in path.read_text().splitlines()[1:]:
            if not line.startswith("#"):
                break
            text = line.lstrip("# ").rstrip()
            if not text or text.startswith(("pilotstack ", "ansible-playbook ")):
                break
            lines.append(text)
        header = " ".join(lines)
        end = header.find(". ")
        out.append((path.stem, header[:end + 1] if end >= 0 else header))
    return out


def cmd_run(args) -> int:
    if args.list:
        for name, text in playbook_summaries():
            print(f"{name:<32} {text}")
        return 0
    if not args.playbook:
        print("pilotstack run: name a playbook (pilotstack run --list)", file=sys.stderr)
        return 2
    return cmd_playbook(args, args.playbook)


def cmd_status(args) -> int:
    from . import status as status_mod
    inv = Path(args.inventory)
    _, pass_file = secrets_mod.vault_paths(inv, Path(args.vault_password_file)
                                           if args.vault_password_file else None)
    data = status_mod.load_inventory(inv, pass_file)
    tiers = args.tier or status_mod.enabled_tiers(data)
    report = status_mod.collect(data, tiers)
    print(json.dumps(report.as_dict(), indent=2) if args.json else status_mod.render(report))
    return 0 if not report.problems else 1


def cmd_drill(args) -> int:
    from . import drills
    from .drills.env import Env
    registry = drills.load()
    if args.list or (not args.name and not args.all):
        for d in registry.values():
            print(f"{d.name:<28} {d.tier:<12} {d.summary}")
        return 0 if args.list else 2
    names = list(registry) if args.all else [args.name]
    unknown = [n for n in names if n not in registry]
    if unknown:
        print(f"pilotstack: unknown drill {unknown[0]} (pilotstack drill --list)",
              file=sys.stderr)
        return 2
    env = Env()
    env.require_up()
    results = []
    for i, name in enumerate(names, 1):
        print(f"== drill {i}/{len(names)}: {name}: {registry[name].summary}", flush=True)
        result = drills.run(name, env, echo=lambda line: print(line, flush=True))
        verdict = "ok" if result.ok else f"FAILED: {result.error}"
        print(f"   {verdict} ({result.seconds:.0f} s)", flush=True)
        results.append(result)
    text = drills.report(results)
    if args.report or args.all:
        out = Path(args.report or paths.state_dir() / f"drills-{int(time.time())}.json")
        out.write_text(text + "\n")
        print(f"report: {out}")
    lost = sum(r.lost for r in results)
    acked = sum(c.acknowledged for r in results for c in r.counts)
    print(f"{sum(r.ok for r in results)} of {len(results)} drills ok; {lost} lost of "
          f"{acked} acknowledged")
    return 0 if all(r.ok for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pilotstack", description=__doc__,
        epilog="deploy, preflight and run pass any other option to ansible-playbook "
               "(e.g. --check --diff --limit db1 -v)")
    parser.add_argument("--version", action="version", version=f"pilotstack {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    tb = sub.add_parser("testbed", help="the local multi-host testbed")
    tb_sub = tb.add_subparsers(dest="action", required=True)
    for action, text in [("up", "create or complete the testbed (idempotent)"),
                         ("down", "remove its containers, networks and volumes"),
                         ("status", "containers and SSH, one line per host"),
                         ("ssh", "open a shell or run a command on a host")]:
        p = tb_sub.add_parser(action, help=text)
        p.add_argument("--topology", help="topology YAML (default: the seed layout, 12 hosts)")
        if action in ("up", "status"):
            p.add_argument("--json", action="store_true", help="machine-readable output")
        if action == "ssh":
            p.add_argument("host", help="a testbed host (e.g. db1)")
            p.add_argument("command", nargs=argparse.REMAINDER,
                           help="the command to run there (none: a shell)")
        p.set_defaults(func=cmd_testbed)

    def inv_args(p):
        p.add_argument("-i", "--inventory", default=str(paths.project_root() / "inventory"
                                                        / "testbed"),
                       help="inventory directory (default: the local testbed's, "
                            "inventory/testbed)")
        p.add_argument("--vault-password-file",
                       help="vault password file (default: INVENTORY/.vault_pass)")

    sec = sub.add_parser("secrets", help="generate missing secrets into the inventory's vault")
    inv_args(sec)
    sec.set_defaults(func=cmd_secrets)

    for name, book, text in [("deploy", "site", "deploy the whole stack (playbooks/site.yml)"),
                             ("preflight", "preflight", "validate inventory and hosts only")]:
        p = sub.add_parser(name, help=text)
        inv_args(p)
        p.add_argument("--strategy", choices=["auto", "linear", "mitogen"], default="auto",
                       help="Ansible strategy (auto: Mitogen's when installed, else linear)")
        p.set_defaults(func=lambda a, b=book: cmd_playbook(a, b))

    st = sub.add_parser("status", help="every tier's state over SSH, one table; exit 1 when "
                                       "anything is degraded")
    inv_args(st)
    st.add_argument("--json", action="store_true", help="machine-readable report")
    st.add_argument("--tier", action="append", choices=tiers_mu.status_tiers(),
                    help="only this tier (repeatable; default every enabled tier)")
    st.set_defaults(func=cmd_status)

    dr = sub.add_parser("drill", help="run a fault drill on the deployed testbed, print its "
                                      "figures (--all: every drill, JSON report)")
    dr.add_argument("name", nargs="?", help="the drill to run (--list names them)")
    dr.add_argument("--all", action="store_true", help="every drill, one after another")
    dr.add_argument("--list", action="store_true", help="the drills, one line each")
    dr.add_argument("--report", help="where to write the JSON report (default with --all: "
                                     ".pilotstack/drills-<time>.json)")
    dr.set_defaults(func=cmd_drill)

    run = sub.add_parser("run", help="run one playbook of playbooks/ (e.g. galera-recover, "
                                     "galera-rolling-restart)")
    run.add_argument("playbook", nargs="?", help="its name under playbooks/, without .yml "
                                                 "(--list names them)")
    run.add_argument("--list", action="store_true",
                     help="every playbook with the first sentence of its header")
    inv_args(run)
    run.add_argument("--strategy", choices=["auto", "linear", "mitogen"], default="linear",
                     help="Ansible strategy (default linear: the operations playbooks are "
                          "proven with it)")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("deploy", "preflight", "run"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.ansible_args = [a for a in extra if a != "--"]
    try:
        return args.func(args)
    except (TestbedError, topology_mod.TopologyError, secrets_mod.SecretsError) as exc:
        print(f"pilotstack: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # docker, package cache, status
        print(f"pilotstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
