#!/usr/bin/env python3
"""Module circles, from cargo-modules' item graph.

cargo-modules 0.27's `dependencies --acyclic` reports a type and its own
methods as a circle, so this reads the graph it prints and folds every item
into the module that holds it, then looks for circles between modules (a
module that uses one that uses it back, directly or through others) and
prints the layer graph of the crate's top-level modules.

Usage:
  cargo modules dependencies --package CRATE --lib --no-externs --no-sysroot --no-owns \\
    | python3 .ci/module_circles.py
Exit 1 when there is a circle.
"""
import re
import sys
from collections import defaultdict

text = sys.stdin.read()
node = re.compile(r'^\s*"([^"]+)" \[label="([^"]*)"', re.M)
edge = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"', re.M)
modules = set()
for path, label in node.findall(text):
    if re.search(r"\b(mod|crate)\b", label.split("|")[0]):
        modules.add(path)
crate = min(modules, key=len)


def module_of(path):
    """The module holding `path`: its longest prefix that is a module; an
    item the graph lists without its module node counts under the
    crate's top-level module it is in."""
    parts = path.split("::")
    for end in range(len(parts), 0, -1):
        prefix = "::".join(parts[:end])
        if prefix in modules and (prefix != crate or len(parts) == 1):
            return prefix
    return "::".join(parts[:2])
graph = defaultdict(set)
for source, target in edge.findall(text):
    a, b = module_of(source), module_of(target)
    # The crate root's re-exports are not a layer.
    if a != b and a != crate and not b.startswith(a + "::") and not a.startswith(b + "::"):
        graph[a].add(b)

circles = []
state = {}


def visit(m, stack):
    state[m] = 1
    stack.append(m)
    for n in sorted(graph[m]):
        if state.get(n) == 1:
            circles.append(stack[stack.index(n):] + [n])
        elif n not in state:
            visit(n, stack)
    stack.pop()
    state[m] = 2


for m in sorted(modules):
    if m not in state:
        visit(m, [])

top = defaultdict(set)
for a, targets in graph.items():
    for b in targets:
        ta, tb = a.split("::")[1], b.split("::")[1]
        if ta != tb:
            top[ta].add(tb)
# The layers (top-level modules) must not form a circle either.
state.clear()
for m in sorted(top):
    if m not in state:
        layer_stack = []

        def visit_layer(m):
            state[m] = 1
            layer_stack.append(m)
            for n in sorted(top[m]):
                if state.get(n) == 1:
                    circles.append(layer_stack[layer_stack.index(n):] + [n])
                elif n not in state:
                    visit_layer(n)
            layer_stack.pop()
            state[m] = 2

        visit_layer(m)
print(f"{crate}: {len(modules)} modules, {sum(len(t) for t in graph.values())} module-to-module uses")
for a in sorted(a for a in top if top[a]):
    print(f"  {a} -> {', '.join(sorted(top[a]))}")
if circles:
    for c in circles:
        print("circle: " + " -> ".join(c))
    sys.exit(1)
print("no circles")
