#!/usr/bin/env python3
"""The layering check: every `import` of a target names one of its *direct* dependencies in Package.swift.

SwiftPM (and --explicit-target-dependency-import-check) only rejects an import outside a target's whole dependency
closure, so `Worker` could import `WorkModel` through `Journal`, and a backend the journal through `Worker`. This
reads the manifest (`swift package dump-package`) and every target's sources, and fails on:
  - an import of a module that is not a direct dependency of the importing target (nor the toolchain's own);
  - a target (other than the fuzzers, declared only for `scripts/fuzz.sh`) missing from the targets table of
    docs/ARCHITECTURE.md.

  scripts/check-imports.py              check the package
  scripts/check-imports.py --self-test  plant an undeclared import (one outside the closure, one inside it but not
                                        direct) and a missing table row, and check that each one is caught
Exit status: 0 clean, 1 a violation (each printed as file:line), 2 the check itself could not run.
"""
import json
import os
import re
import subprocess
import sys

# Modules of the toolchain itself: never a package dependency.
TOOLCHAIN_MODULES = {
    "Swift", "Foundation", "FoundationEssentials", "FoundationInternationalization", "FoundationNetworking",
    "FoundationXML", "Glibc", "Musl", "Dispatch", "Synchronization", "_Concurrency", "_StringProcessing",
    "RegexBuilder", "XCTest", "Testing", "Observation", "Distributed", "CoreFoundation",
    # Apple platforms' own modules, imported under `#if canImport(…)`.
    "Darwin", "System",
}
IMPORT = re.compile(
    r"^\s*(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?import\s+"
    r"(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?([A-Za-z_][A-Za-z0-9_]*)")


def manifest(root):
    try:
        out = subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"check-imports: swift package dump-package failed: {error}", file=sys.stderr)
        sys.exit(2)
    return json.loads(out)


def module_of(dependency):
    """The module a dependency entry of dump-package provides (a target, or a product named as its module)."""
    kind, value = next(iter(dependency.items()))
    return value[0]


def target_dir(root, target):
    if target.get("path"):
        return os.path.join(root, target["path"])
    base = "Tests" if target["type"] == "test" else "Sources"
    return os.path.join(root, base, target["name"])


def imports_of(directory):
    """(file, line, module) for every import in a target's Swift sources, comments and strings aside."""
    found = []
    for folder, _, files in os.walk(directory):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as source:
                in_block_comment = False
                for number, line in enumerate(source, 1):
                    if in_block_comment:
                        if "*/" in line:
                            in_block_comment = False
                        continue
                    if line.lstrip().startswith("/*") and "*/" not in line:
                        in_block_comment = True
                        continue
                    match = IMPORT.match(line)
                    if match:
                        found.append((path, number, match.group(1)))
    return found


def architecture_targets(root):
    """Target names in the first column of the targets table of docs/ARCHITECTURE.md."""
    names = set()
    with open(os.path.join(root, "docs", "ARCHITECTURE.md"), encoding="utf-8") as doc:
        for line in doc:
            if line.startswith("| `"):
                first = line.split("|")[1]
                names.update(re.findall(r"`([A-Za-z0-9_*]+)`", first))
    return names


def violations(root, package, planted_imports=(), dropped_rows=()):
    problems = []
    documented = architecture_targets(root) - set(dropped_rows)
    for target in package["targets"]:
        name = target["name"]
        if target["type"] == "system":
            declared = set()
        else:
            declared = {module_of(d) for d in target["dependencies"]}
        found = [] if target["type"] == "system" else imports_of(target_dir(root, target))
        found += [(f"(planted in {name})", 0, module) for planted, module in planted_imports if planted == name]
        for path, line, module in found:
            if module in TOOLCHAIN_MODULES or module == name or module in declared:
                continue
            problems.append(f"{os.path.relpath(path, root) if os.path.exists(path) else path}:{line}: {name} imports "
                            f"{module}, which is not a direct dependency of {name} in Package.swift")
        is_fuzzer = name.startswith("Fuzz")
        if target["type"] != "test" and not is_fuzzer and name not in documented:
            problems.append(f"docs/ARCHITECTURE.md: target {name} is missing from the targets table")
    return problems


def closure(package, name):
    by_name = {t["name"]: t for t in package["targets"]}
    seen, stack = set(), [name]
    while stack:
        for dependency in by_name.get(stack.pop(), {"dependencies": []})["dependencies"]:
            module = module_of(dependency)
            if module not in seen:
                seen.add(module)
                stack.append(module)
    return seen


def self_test(root, package):
    """Each planted violation must be reported, and main must be clean."""
    direct = {module_of(d) for t in package["targets"] if t["name"] == "Worker" for d in t["dependencies"]}
    transitive = sorted(closure(package, "Worker") - direct - {"Worker"})
    cases = [
        ("an import outside the dependency closure (Journal imports Worker)", [("Journal", "Worker")], []),
        (f"an import inside the closure but not declared (Worker imports {transitive[0]})", [("Worker", transitive[0])], []),
        ("a target missing from ARCHITECTURE.md (Worker's row dropped)", [], ["Worker"]),
    ]
    failed = False
    for title, planted, dropped in cases:
        caught = violations(root, package, planted, dropped)
        if caught:
            print(f"check-imports self-test: caught {title}: {caught[0]}")
        else:
            print(f"check-imports self-test: MISSED {title}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    package = manifest(root)
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test(root, package))
    problems = violations(root, package)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-imports: {len(problems)} violation(s) of the layering in Package.swift", file=sys.stderr)
        sys.exit(1)
    print(f"check-imports: every import of {len(package['targets'])} targets is a direct dependency")


if __name__ == "__main__":
    main()
