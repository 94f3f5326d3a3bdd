#!/usr/bin/env python3
"""Checks what hadolint cannot know about deploy/Dockerfile: every path it copies from the build context
exists and is not excluded by .dockerignore, every `-p` package is a workspace package with a binary, the
binaries it copies are the ones it builds, and the entrypoint is one of them."""

import fnmatch
import pathlib
import re
import sys
import tomllib

root = pathlib.Path(__file__).resolve().parent.parent
dockerfile = pathlib.Path(sys.argv[1])
text = re.sub(r"\\\n", " ", dockerfile.read_text())
errors = []

ignored = [
    line.strip()
    for line in (root / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

packages = {}
workspace = tomllib.loads((root / "Cargo.toml").read_text())
for member in workspace["workspace"]["members"]:
    manifest = tomllib.loads((root / member / "Cargo.toml").read_text())
    name = manifest["package"]["name"]
    bins = {b["name"] for b in manifest.get("bin", [])}
    if (root / member / "src" / "main.rs").exists():
        bins.add(name)
    packages[name] = bins

built = set()
for line in text.splitlines():
    line = line.strip()
    if line.startswith("COPY") and "--from=" not in line:
        sources = line.split()[1:-1]
        for src in sources:
            if src.startswith("--"):
                continue
            if not (root / src).exists():
                errors.append(f"COPY {src}: no such path in the build context")
            if any(fnmatch.fnmatch(src, pattern) for pattern in ignored):
                errors.append(f"COPY {src}: excluded by .dockerignore")
    if "cargo build" in line:
        for name in re.findall(r"-p ([A-Za-z0-9_-]+)", line):
            if name not in packages:
                errors.append(f"cargo build -p {name}: not a workspace package")
            elif not packages[name]:
                errors.append(f"cargo build -p {name}: the package has no binary")
            else:
                built |= packages[name]
        if "--locked" not in line:
            errors.append("cargo build without --locked")
        for binary in re.findall(r"target/release/([A-Za-z0-9_-]+)", line):
            if binary not in built:
                errors.append(f"copies target/release/{binary}, which the build does not make")

installed = set(re.findall(r"/out/([A-Za-z0-9_-]+)", " ".join(l for l in text.splitlines() if "--from=build" in l)))
if not installed or not installed <= built:
    errors.append(f"the runtime stage copies {sorted(installed)}, not binaries the build stage makes {sorted(built)}")
entry = re.search(r'ENTRYPOINT \["/usr/local/bin/([A-Za-z0-9_-]+)"', text)
if not entry or entry.group(1) not in installed:
    errors.append("ENTRYPOINT runs no binary the image ships")
users = re.findall(r"^USER (\S+)", text, re.M)
if not users or users[-1].split(":")[0] in ("0", "root"):
    errors.append("the runtime image runs as root")
stages = re.findall(r"^FROM (\S+)", text, re.M)
if len(stages) < 2:
    errors.append("not a multi-stage build")
elif "rust" in stages[-1] or "cargo" in text.split("FROM")[-1]:
    errors.append("the runtime stage carries build tools")
if re.search(r"(?i)(secret|token|password)\s*=", text.split("FROM")[-1]):
    errors.append("the runtime stage sets something that looks like a secret")

if errors:
    for e in errors:
        print(f"{dockerfile}: {e}", file=sys.stderr)
    sys.exit(1)
print(f"{dockerfile}: ok ({', '.join(sorted(installed))})")
