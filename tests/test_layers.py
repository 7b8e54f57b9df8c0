"""Imports go one way: front ends -> engine -> runtime -> subsystems -> pybox.kernel -> base.

Every module's imports (lazy ones inside functions too) are read from its source. An import of a
higher layer, or a cycle between modules, fails this test unless it is listed in KNOWN: the debt
that the engine/runtime split (issue 13) removes. The list must only shrink: an entry that no
longer exists fails too, so that it is taken off when it is paid.

`python -m tests.test_layers` prints the current violations in KNOWN's format.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = {"pybox": "pybox", "runtime": "pybox.runtime", "cgroups": "pybox.cgroups", "netns": "pybox.netns",
           "images": "pybox.images", "seccomp": "pybox.seccomp",
           "engine": "pybox.engine"}

BASE, KERNEL, SUBSYSTEM, RUNTIME, ENGINE, FRONT = range(6)
LAYER_NAMES = ["base", "kernel", "subsystem", "runtime", "engine", "front end"]


def layer(module):
    if module in ("pybox.kernel", "pybox._kernel_ffi"):
        return KERNEL
    if module in ("pybox.runtime.cli", "pybox.engine.cli", "pybox.images.cli", "pybox.seccomp.cli") or \
            module.startswith(("pybox.runtime.commands", "pybox.engine.commands")):
        return FRONT
    if module.startswith("pybox.engine"):
        return ENGINE
    if module.startswith("pybox.runtime"):
        return RUNTIME
    if module.split(".")[1:2] and module.split(".")[1] in ("cgroups", "netns", "images", "seccomp"):
        return SUBSYSTEM
    return BASE


def modules():
    found = {}
    for folder, package in FOLDERS.items():
        for top, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if not name.endswith(".py") or (name.startswith("_") and name != "__init__.py"):
                    continue  # generated cffi modules and their build scripts
                rel = os.path.relpath(os.path.join(top, name), os.path.join(ROOT, folder))[:-3]
                dotted = ".".join(p for p in rel.split(os.sep) if p != "__init__")
                found[f"{package}.{dotted}" if dotted else package] = os.path.join(top, name)
    return found


def imports_of(module, path, known):
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                         for alias in node.names)
    targets = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        # Importing a module imports its packages anyway: an edge to an ancestor says nothing.
        if name and name != module and not module.startswith(name + "."):
            targets.add(name)
    return targets


def graph():
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def upward(edges):
    return {f"{a} -> {b}" for a, targets in edges.items() for b in targets if layer(b) > layer(a)}


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan), each as sorted names."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(" ~ ".join(sorted(component)))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return set(found)


# The debt at the time this test was written (issue 13 pays it). Only remove lines.
KNOWN = set()  # all paid in issue 13's first steps; keep it empty


def test_imports_only_go_down_a_layer_and_form_no_cycle():
    edges = graph()
    now = upward(edges) | cycles(edges)
    assert sorted(now - KNOWN) == [], "new imports that go up a layer or close a cycle"
    assert sorted(KNOWN - now) == [], "paid debt: take these lines out of KNOWN"


def test_every_layer_is_recognised():
    assert layer("pybox.engine.lifecycle") == ENGINE
    assert layer("pybox.engine.commands.run") == FRONT
    assert layer("pybox.runtime.commands.run") == FRONT
    assert layer("pybox.cgroups.v2") == SUBSYSTEM
    assert layer("pybox.errors") == BASE


if __name__ == "__main__":
    e = graph()
    for line in sorted(upward(e) | cycles(e)):
        print(f"    {line!r},")
