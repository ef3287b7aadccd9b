#!/usr/bin/env python3
"""check_openapi.py ROUTE_H OPENAPI_YAML — api/openapi.yaml against the code.

Debian 12 packages no OpenAPI validator (no python3-openapi-spec-validator),
so this checks what one would, for the parts the file uses:
  - the route table of api/route.h (its ROUTE (ID, "METHOD", "/path") rows)
    and the file's paths and operations are the same set of (method, path);
  - the document is OpenAPI 3.0.x: openapi, info.title, info.version, paths;
    every operation has responses, each with a description (or a $ref);
    path parameters: every {name} of a path is declared in: path, required,
    and nothing else is declared in: path; parameter "in" is one of
    query/path/header/cookie and each has a name and a schema;
  - every $ref is local ("#/...") and resolves; every security requirement
    names a declared security scheme; a bearer scheme is declared and is
    the default security.
Prints each problem; exit 1 when there is one, else 0."""
import re
import sys

import yaml

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def main():
    route_h, spec_path = sys.argv[1], sys.argv[2]
    problems = []
    rows = re.findall(r'ROUTE \((\w+), "([A-Z]+)", "([^"]+)"\)', open(route_h).read())
    code = {(m.lower(), p) for id_, m, p in rows if id_ != "ID"}   # not the doc line
    if len(code) < 10:
        problems.append(f"{route_h}: only {len(code)} routes found: the ROUTE rows changed form?")
    doc = yaml.safe_load(open(spec_path))

    def resolve(ref):
        if not ref.startswith("#/"):
            problems.append(f"$ref {ref}: not local")
            return None
        node = doc
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                problems.append(f"$ref {ref}: does not resolve")
                return None
            node = node[part]
        return node

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    if not str(doc.get("openapi", "")).startswith("3.0."):
        problems.append("openapi: not 3.0.x")
    info = doc.get("info") or {}
    if not info.get("title") or not info.get("version"):
        problems.append("info: title and version are required")
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    if not any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values()):
        problems.append("no http bearer security scheme")

    def check_security(where, reqs):
        for req in reqs or []:
            for name in req:
                if name not in schemes:
                    problems.append(f"{where}: security names unknown scheme {name}")

    check_security("top level", doc.get("security"))
    if not doc.get("security"):
        problems.append("no default security: every route needs the token")

    documented = set()
    for path, item in (doc.get("paths") or {}).items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            if method not in METHODS:
                if method != "parameters":
                    problems.append(f"{path}: unknown key {method}")
                continue
            documented.add((method, path))
            where = f"{method.upper()} {path}"
            check_security(where, op.get("security"))
            responses = op.get("responses")
            if not responses:
                problems.append(f"{where}: no responses")
            for code_, resp in (responses or {}).items():
                if not re.fullmatch(r"[1-5][0-9][0-9]|default", str(code_)):
                    problems.append(f"{where}: bad response code {code_}")
                if "$ref" not in resp and not resp.get("description"):
                    problems.append(f"{where} {code_}: no description")
            declared = set()
            for p in op.get("parameters", []) + item.get("parameters", []):
                if "$ref" in p:
                    p = resolve(p["$ref"]) or {}
                if p.get("in") not in ("query", "path", "header", "cookie"):
                    problems.append(f"{where}: parameter {p.get('name')}: bad 'in'")
                if not p.get("name") or "schema" not in p:
                    problems.append(f"{where}: parameter without a name or schema")
                if p.get("in") == "path":
                    declared.add(p.get("name"))
                    if p.get("required") is not True:
                        problems.append(f"{where}: path parameter {p.get('name')} not required")
            if declared != names:
                problems.append(f"{where}: path parameters {sorted(names)} but declared "
                                f"{sorted(declared)}")
    for m, p in sorted(code - documented):
        problems.append(f"{m.upper()} {p}: in {route_h} but not in {spec_path}")
    for m, p in sorted(documented - code):
        problems.append(f"{m.upper()} {p}: in {spec_path} but not in {route_h}")
    for line in problems:
        print("check_openapi:", line)
    print(f"check_openapi: {len(code)} routes in the code, {len(documented)} operations "
          f"documented, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
