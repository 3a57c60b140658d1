#!/usr/bin/env python3
"""Static checks of the Terraform under deploy/terraform that need no provider.

The google provider cannot be fetched offline, so `terraform validate` cannot run on the GCP
module; these checks cover what matters there, and also run on the AWS directories:
- every variable and output has a description, and every module README documents every one;
- name and CIDR variables of the modules carry validation blocks;
- the GCP custom role is built only from permissions.tf (no inline or wildcard permission, no
  predefined role besides the Workload Identity binding);
- every module a root module calls exists, and it passes only variables the module declares.
"""
import json
import os
import re
import sys


def blocks(text, kind):
    """Yields (label, body) of every top-level `kind "label" { ... }` block."""
    for m in re.finditer(r'^%s\s+"([^"]+)"(?:\s+"([^"]+)")?\s*\{' % kind, text, re.M):
        depth, i = 1, m.end()
        while depth:
            c = text[i]
            depth += {"{": 1, "}": -1}.get(c, 0)
            i += 1
        label = m.group(1) if m.group(2) is None else f"{m.group(1)}.{m.group(2)}"
        yield label, text[m.end():i - 1]


def read_tf(d):
    return "\n".join(open(os.path.join(d, f)).read() for f in sorted(os.listdir(d)) if f.endswith(".tf"))


def check_dir(d, errors):
    tf = read_tf(d)
    is_module = "/modules/" in d
    variables = dict(blocks(tf, "variable"))
    outputs = dict(blocks(tf, "output"))
    for kind, items in (("variable", variables), ("output", outputs)):
        for name, body in items.items():
            if not re.search(r'^\s*description\s*=\s*"[^"]{10,}', body, re.M):
                errors.append(f"{d}: {kind} {name} has no description")
    if is_module:
        readme_path = os.path.join(d, "README.md")
        readme = open(readme_path).read() if os.path.exists(readme_path) else ""
        for name in list(variables) + list(outputs):
            if f"`{name}`" not in readme:
                errors.append(f"{readme_path}: does not document `{name}`")
        for name in ("cluster_name", "cluster_cidrs"):
            if name in variables and "validation" not in variables[name]:
                errors.append(f"{d}: variable {name} has no validation block")
    for name, body in blocks(tf, "module"):
        src = re.search(r'^\s*source\s*=\s*"([^"]+)"', body, re.M)
        if not src or not src.group(1).startswith("."):
            continue
        mdir = os.path.normpath(os.path.join(d, src.group(1)))
        if not os.path.isdir(mdir):
            errors.append(f"{d}: module {name}: no {mdir}")
            continue
        declared = dict(blocks(read_tf(mdir), "variable"))
        for arg in re.findall(r"^  ([a-z_]+)\s*=", body, re.M):
            if arg not in declared and arg not in ("source", "version", "providers", "count", "for_each", "depends_on"):
                errors.append(f"{d}: module {name} passes {arg}, which {mdir} does not declare")
        for req, vbody in declared.items():
            if "default" not in vbody and not re.search(r"^  %s\s*=" % req, body, re.M):
                errors.append(f"{d}: module {name} misses required variable {req}")
    return tf


def check_gcp_role(d, errors):
    tf = read_tf(d)
    roles = dict(blocks(tf, "resource")).get("google_project_iam_custom_role.routeplane")
    if roles is None:
        errors.append(f"{d}: no google_project_iam_custom_role.routeplane")
        return
    if not re.search(r"^\s*permissions\s*=\s*local\.role_permissions\s*$", roles, re.M):
        errors.append(f"{d}: the custom role's permissions must be local.role_permissions (permissions.tf)")
    perms = json.load(open(os.path.join(d, "tests", "permissions.json")))
    for p in perms["role"]:
        if "*" in p or not p.startswith("compute."):
            errors.append(f"{d}: permission {p} is a wildcard or not a compute permission")
    for role in re.findall(r'role\s*=\s*"(roles/[^"]+)"', tf):
        if role != "roles/iam.workloadIdentityUser":
            errors.append(f"{d}: grants predefined role {role}")


def main(dirs):
    errors = []
    for d in dirs:
        check_dir(d, errors)
        if d.rstrip("/").endswith("modules/gcp"):
            check_gcp_role(d, errors)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"static checks: {len(dirs)} directories OK")


if __name__ == "__main__":
    main(sys.argv[1:])
