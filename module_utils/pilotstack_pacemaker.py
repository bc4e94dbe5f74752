"""Pacemaker CIB: build the wanted configuration from a declarative spec, compare it with the
live CIB, and decide, as pure functions (no cluster needed; tested on recorded CIB XML).

The spec (what roles/pacemaker passes to pilotstack_pacemaker_cib):

    properties:   {stonith-enabled: "true", ...}            -> crm_config cib-bootstrap-options
    rsc_defaults: {resource-stickiness: "100", ...}
    primitives:   [{id, class, provider?, type, params{}, meta{}, ops[{name, interval,
                    timeout, ...}]}]
    groups:       [{id, members[], meta{}}]
    clones:       [{id, rsc, meta{}}]
    locations:    [{id, rsc, node, score}]
    colocations:  [{id, rsc, with_rsc, score}]
    orders:       [{id, first, then, kind?}]
    node_attributes: {node: {name: value}}

Every generated element has a deterministic id, so the same spec always builds the same XML
and a second run finds nothing to change.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from ansible.module_utils.pilotstack_common import Refused  # noqa: F401 (re-exported)

SECTIONS = ("primitives", "groups", "clones", "locations", "colocations", "orders")


def _nvset(tag: str, set_id: str, values: dict) -> ET.Element:
    elem = ET.Element(tag, {"id": set_id})
    for name in sorted(values):
        ET.SubElement(elem, "nvpair", {"id": f"{set_id}-{name}", "name": name,
                                       "value": str(values[name])})
    return elem


def primitive(spec: dict) -> ET.Element:
    attrs = {"id": spec["id"], "class": spec["class"], "type": spec["type"]}
    if spec.get("provider"):
        attrs["provider"] = spec["provider"]
    elem = ET.Element("primitive", attrs)
    if spec.get("params"):
        elem.append(_nvset("instance_attributes", f"{spec['id']}-instance_attributes",
                           spec["params"]))
    if spec.get("meta"):
        elem.append(_nvset("meta_attributes", f"{spec['id']}-meta_attributes", spec["meta"]))
    if spec.get("ops"):
        ops = ET.SubElement(elem, "operations")
        for op in spec["ops"]:
            interval = str(op.get("interval", "0s"))
            attrs = {"id": f"{spec['id']}-{op['name']}-interval-{interval}",
                     "name": op["name"], "interval": interval}
            attrs.update({k: str(v) for k, v in op.items() if k not in ("name", "interval")})
            ET.SubElement(ops, "op", attrs)
    return elem


def group(spec: dict, primitives: dict[str, ET.Element]) -> ET.Element:
    elem = ET.Element("group", {"id": spec["id"]})
    if spec.get("meta"):
        elem.append(_nvset("meta_attributes", f"{spec['id']}-meta_attributes", spec["meta"]))
    for member in spec["members"]:
        elem.append(primitives[member])
    return elem


def clone(spec: dict, inner: ET.Element) -> ET.Element:
    elem = ET.Element("clone", {"id": spec["id"]})
    if spec.get("meta"):
        elem.append(_nvset("meta_attributes", f"{spec['id']}-meta_attributes", spec["meta"]))
    elem.append(inner)
    return elem


def constraint(kind: str, spec: dict) -> ET.Element:
    if kind == "locations":
        return ET.Element("rsc_location", {"id": spec["id"], "rsc": spec["rsc"],
                                           "node": spec["node"],
                                           "score": str(spec.get("score", "INFINITY"))})
    if kind == "colocations":
        return ET.Element("rsc_colocation", {"id": spec["id"], "rsc": spec["rsc"],
                                             "with-rsc": spec["with_rsc"],
                                             "score": str(spec.get("score", "INFINITY"))})
    attrs = {"id": spec["id"], "first": spec["first"], "then": spec["then"]}
    if spec.get("kind"):
        attrs["kind"] = spec["kind"]
    return ET.Element("rsc_order", attrs)


def fill_secrets(spec: dict, secrets: dict) -> tuple[dict, list[str]]:
    """The spec with each primitive's `secret_params` ({param: vault entry name}) filled in
    from `secrets` (name -> value); and a problem per entry missing, naming it (never a
    value)."""
    spec = copy.deepcopy(spec)
    missing = []
    for prim in spec.get("primitives") or []:
        for param, name in (prim.pop("secret_params", None) or {}).items():
            value = (secrets or {}).get(name)
            if not value:
                missing.append(f"primitive {prim['id']}: {param} needs the vault secret "
                               f"{name}, which is missing (add it to the inventory's vault)")
            else:
                prim.setdefault("params", {})[param] = str(value)
    return spec, missing


def validate(spec: dict, live_ids: set[str] | frozenset = frozenset()) -> list[str]:
    """Every problem of the spec at once: duplicate ids, group/clone members that are not
    declared primitives, a primitive in two groups, constraints naming resources that are
    neither declared nor in the live CIB."""
    problems = []
    ids: list[str] = [x["id"] for section in SECTIONS for x in spec.get(section) or []]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"ids declared twice: {', '.join(dupes)}")
    prims = {p["id"] for p in spec.get("primitives") or []}
    grouped: dict[str, str] = {}
    for g in spec.get("groups") or []:
        for m in g["members"]:
            if m not in prims:
                problems.append(f"group {g['id']}: member {m} is not a declared primitive")
            elif m in grouped:
                problems.append(f"primitive {m} is in groups {grouped[m]} and {g['id']}")
            grouped[m] = g["id"]
    groups = {g["id"] for g in spec.get("groups") or []}
    for c in spec.get("clones") or []:
        if c["rsc"] not in prims | groups:
            problems.append(f"clone {c['id']}: {c['rsc']} is not a declared primitive or group")
    known = prims | groups | {c["id"] for c in spec.get("clones") or []} | set(live_ids)
    for kind, keys in (("locations", ("rsc",)), ("colocations", ("rsc", "with_rsc")),
                       ("orders", ("first", "then"))):
        for c in spec.get(kind) or []:
            for key in keys:
                if c[key] not in known:
                    problems.append(f"constraint {c['id']}: {key} {c[key]} names no resource")
    return problems


def wanted_objects(spec: dict) -> dict[str, tuple[str, ET.Element]]:
    """id -> (section, element) for every top-level object the spec declares: resources
    (primitives not in a group or clone, groups not in a clone, clones) go to `resources`,
    constraints to `constraints`."""
    prims = {p["id"]: primitive(p) for p in spec.get("primitives") or []}
    groups = {g["id"]: group(g, prims) for g in spec.get("groups") or []}
    inside = {m for g in spec.get("groups") or [] for m in g["members"]}
    cloned = {c["rsc"] for c in spec.get("clones") or []}
    out: dict[str, tuple[str, ET.Element]] = {}
    for pid, elem in prims.items():
        if pid not in inside and pid not in cloned:
            out[pid] = ("resources", elem)
    for gid, elem in groups.items():
        if gid not in cloned:
            out[gid] = ("resources", elem)
    for c in spec.get("clones") or []:
        inner = groups.get(c["rsc"]) or prims[c["rsc"]]
        out[c["id"]] = ("resources", clone(c, inner))
    for kind in ("locations", "colocations", "orders"):
        for c in spec.get(kind) or []:
            out[c["id"]] = ("constraints", constraint(kind, c))
    return out


def canonical(elem: ET.Element) -> str:
    """Order-independent text of an element for comparison: attributes sorted, nvpairs and
    ops sorted, whitespace ignored (Pacemaker may reorder or reformat what it stores)."""
    def walk(e: ET.Element) -> str:
        attrs = " ".join(f'{k}="{v}"' for k, v in sorted(e.attrib.items()))
        children = [walk(c) for c in e]
        if e.tag in ("instance_attributes", "meta_attributes", "operations",
                     "cluster_property_set"):
            children.sort()
        return f"<{e.tag} {attrs}>" + "".join(children) + f"</{e.tag}>"
    return walk(elem)


def build(live_cib: str, spec: dict, purge: bool = False) -> tuple[ET.Element, list[str]]:
    """The CIB (root element) with the spec applied to its configuration, and the list of
    what differs from the live one ('create X', 'update X', 'delete X', 'set property P')."""
    root = ET.fromstring(live_cib)
    new = copy.deepcopy(root)
    config = new.find("configuration")
    if config is None:
        raise Refused(["the CIB has no configuration section"])
    sections = {name: config.find(name) for name in ("resources", "constraints",
                                                     "crm_config", "rsc_defaults", "nodes")}
    for name in ("resources", "constraints"):
        if sections[name] is None:
            sections[name] = ET.SubElement(config, name)
    changes: list[str] = []
    wanted = wanted_objects(spec)
    for oid, (section, elem) in wanted.items():
        parent = sections[section]
        current = parent.find(f"./*[@id='{oid}']")
        if current is None:
            parent.append(elem)
            changes.append(f"create {elem.tag} {oid}")
        elif canonical(current) != canonical(elem):
            index = list(parent).index(current)
            parent.remove(current)
            parent.insert(index, elem)
            changes.append(f"update {elem.tag} {oid}")
    if purge:
        for section in ("resources", "constraints"):
            parent = sections[section]
            for child in list(parent):
                if child.get("id") not in wanted:
                    parent.remove(child)
                    changes.append(f"delete {child.tag} {child.get('id')}")
    for tag, set_id, values, parent_name in (
            ("cluster_property_set", "cib-bootstrap-options", spec.get("properties") or {},
             "crm_config"),
            ("meta_attributes", "rsc-options", spec.get("rsc_defaults") or {},
             "rsc_defaults")):
        if not values:
            continue
        parent = sections[parent_name]
        if parent is None:
            parent = sections[parent_name] = ET.SubElement(config, parent_name)
        nvset = parent.find(f"./{tag}[@id='{set_id}']")
        if nvset is None:
            nvset = ET.SubElement(parent, tag, {"id": set_id})
        for name in sorted(values):
            pair = nvset.find(f"./nvpair[@name='{name}']")
            value = str(values[name])
            if pair is None:
                ET.SubElement(nvset, "nvpair", {"id": f"{set_id}-{name}", "name": name,
                                                "value": value})
                changes.append(f"set {parent_name} {name}={value}")
            elif pair.get("value") != value:
                changes.append(f"set {parent_name} {name}={value} (was {pair.get('value')})")
                pair.set("value", value)
    for node_name, attrs in (spec.get("node_attributes") or {}).items():
        nodes = sections["nodes"]
        node = nodes.find(f"./node[@uname='{node_name}']") if nodes is not None else None
        if node is None:
            raise Refused([f"node_attributes: {node_name} is not a node of the cluster"])
        set_id = f"nodes-{node.get('id')}"
        nvset = node.find("./instance_attributes")
        if nvset is None:
            nvset = ET.SubElement(node, "instance_attributes", {"id": set_id})
        for name in sorted(attrs):
            value = str(attrs[name])
            pair = nvset.find(f"./nvpair[@name='{name}']")
            if pair is None:
                ET.SubElement(nvset, "nvpair", {"id": f"{set_id}-{name}", "name": name,
                                                "value": value})
                changes.append(f"set node {node_name} {name}={value}")
            elif pair.get("value") != value:
                changes.append(f"set node {node_name} {name}={value} "
                               f"(was {pair.get('value')})")
                pair.set("value", value)
    return new, changes


# --- state (crm_mon --output-as=xml), tested on output recorded from Pacemaker 2.1.5 ---

def parse_crm_mon(text: str) -> dict:
    """`crm_mon --one-shot --output-as=xml --inactive` -> quorum, dc, nodes {name: {online,
    standby, unclean, maintenance}}, resources {id: {role, active, failed, nodes, group}},
    failures [{node, op, exitreason}], fencing history if shown."""
    root = ET.fromstring(text)
    dc = root.find("./summary/current_dc")
    nodes = {n.get("name"): {k: n.get(k) == "true" for k in
                             ("online", "standby", "unclean", "maintenance", "pending")}
             for n in root.findall("./nodes/node")}
    resources = {}

    def take(elem: ET.Element, group: str | None) -> None:
        resources[elem.get("id")] = {
            "agent": elem.get("resource_agent"), "role": elem.get("role"),
            "active": elem.get("active") == "true", "failed": elem.get("failed") == "true",
            "nodes": [n.get("name") for n in elem.findall("./node")], "group": group,
            "target_role": elem.get("target_role"), "pending": elem.get("pending")}

    for elem in root.find("./resources") if root.find("./resources") is not None else []:
        if elem.tag == "resource":
            take(elem, None)
        elif elem.tag == "group":
            for r in elem.findall("./resource"):
                take(r, elem.get("id"))
        elif elem.tag == "clone":
            for r in elem.iter("resource"):
                take(r, elem.get("id"))
    failures = [{"node": f.get("node"), "op": f.get("op_key"),
                 "exitreason": f.get("exitreason") or f.get("exitstatus")}
                for f in root.findall("./failures/failure")]
    return {"quorum": dc is not None and dc.get("with_quorum") == "true",
            "dc": dc.get("name") if dc is not None else None,
            "nodes": nodes, "resources": resources, "failures": failures}


def cluster_health(state: dict, members: list[str], groups: list[str],
                   fencing: bool = True) -> list[str]:
    """Problems the gate refuses to go on with (empty: healthy): quorum, every member online
    and not standby/unclean, no failed action, no action pending, every fence device started
    (unless deliberately stopped; `fencing` False skips that: with one of two nodes in
    standby, the device that fences the other has nowhere to run), every A/P group started
    on exactly one node."""
    problems = []
    if not state["quorum"]:
        problems.append("the cluster has no quorum")
    for m in members:
        n = state["nodes"].get(m)
        if n is None or not n["online"]:
            problems.append(f"node {m} is not online")
        elif n["standby"] or n["unclean"] or n["maintenance"]:
            flags = [k for k in ("standby", "unclean", "maintenance") if n[k]]
            problems.append(f"node {m} is {'/'.join(flags)}")
    for f in state["failures"]:
        problems.append(f"failed action {f['op']} on {f['node']}: {f['exitreason']}")
    for rid, r in sorted(state["resources"].items()):
        if r.get("pending"):
            problems.append(f"resource {rid}: {r['pending'].lower()} (an action is pending)")
        elif (fencing and (r["agent"] or "").startswith("stonith:") and not r["active"]
              and (r.get("target_role") or "").lower() != "stopped"):
            problems.append(f"fence device {rid} is not started: a node that fails could "
                            "not be fenced")
    for g in groups:
        members_of = [r for r in state["resources"].values() if r["group"] == g]
        where = {n for r in members_of for n in r["nodes"]}
        if not members_of or not all(r["active"] for r in members_of):
            problems.append(f"group {g} is not fully started")
        elif len(where) != 1:
            problems.append(f"group {g} runs on {len(where)} nodes: {', '.join(sorted(where))}")
    return problems
