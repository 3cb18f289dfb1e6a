#!/usr/bin/python3
"""Check docs/openapi.yaml against the allocator (tests/integration/test_openapi.sh).

    openapi_check.py SPEC ROUTES [ANSWERS.jsonl ...]

SPEC     docs/openapi.yaml
ROUTES   `lablink-allocator --routes` of the running build: METHOD PATTERN AUTH
ANSWERS  answers recorded by allocators run with LABLINK_API_CAPTURE_DIR (one
         JSON object per line: method, route, path, status, content_type, body)

The spec must be OpenAPI 3.1 whose schemas are valid JSON Schema 2020-12 and
whose every $ref resolves; every route of the table must be an operation of
the spec with the security its auth class implies, and every operation a
route; every recorded answer must be a documented status of its operation,
with a documented media type, and a JSON body valid against its schema.
Prints what it checked; exits 1 with each mismatch listed.
"""
import collections
import json
import re
import sys

import jsonschema
import yaml

SECURITY = {
    "public": [],
    "agent": ["agentToken"],
    "admin": ["basic", "session"],
    "admin-or-agent": ["basic", "session", "agentToken"],
}


def walk(node, path=""):
    """Every (path, value) in a JSON-like tree."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def resolve(spec, ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def deref(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"])
    return node


def main():
    spec_path, routes_path, *answer_files = sys.argv[1:]
    spec = yaml.safe_load(open(spec_path))
    errors = []

    # --- the document itself ----------------------------------------------
    if not str(spec.get("openapi", "")).startswith("3.1"):
        errors.append(f"openapi is {spec.get('openapi')!r}, not 3.1.x")
    refs = 0
    for where, value in walk(spec):
        if isinstance(value, dict) and isinstance(value.get("$ref"), str):
            refs += 1
            if not value["$ref"].startswith("#/") or resolve(spec, value["$ref"]) is None:
                errors.append(f"{where}: $ref {value['$ref']} does not resolve")
    schemas = 0
    for where, value in walk(spec):
        if where.endswith("/schema") or re.search(r"^/components/schemas/[^/]+$", where):
            try:
                jsonschema.Draft202012Validator.check_schema(value)
                schemas += 1
            except jsonschema.SchemaError as e:
                errors.append(f"{where}: not a JSON Schema 2020-12: {e.message}")
    operations = {}
    for path, item in spec.get("paths", {}).items():
        pattern = re.sub(r"\{[^}]+\}", "{}", path)
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                operations[(method.upper(), pattern)] = (path, op)
                if not op.get("responses"):
                    errors.append(f"{method.upper()} {path}: no responses")
    print(f"spec: OpenAPI {spec.get('openapi')}, {len(operations)} operations, "
          f"{schemas} schemas valid, {refs} $refs resolved")

    # --- the route table --------------------------------------------------
    routes = {}
    for line in open(routes_path):
        method, pattern, auth = line.split()
        routes[(method, pattern)] = auth
    for key, auth in sorted(routes.items()):
        if key not in operations:
            errors.append(f"route {key[0]} {key[1]} ({auth}) is not in the spec")
            continue
        path, op = operations[key]
        schemes = sorted({name for req in op.get("security", spec.get("security", []))
                          for name in req})
        if schemes != sorted(SECURITY[auth]):
            errors.append(f"{key[0]} {path}: security {schemes}, but the route is {auth} "
                          f"({sorted(SECURITY[auth])})")
    for key in sorted(operations):
        if key not in routes:
            errors.append(f"{key[0]} {operations[key][0]} is in the spec but not a route")
    print(f"routes: {len(routes)} in the table, all in the spec" if not
          [e for e in errors if e.startswith("route ")] else "routes: some are missing")

    # --- the recorded answers ----------------------------------------------
    error_schema = {"$ref": "#/components/schemas/Error"}
    resolver = jsonschema.RefResolver.from_schema(spec)
    checked = collections.Counter()
    statuses = collections.defaultdict(set)
    seen_failures = set()

    def fail(key, message):
        if (key, message) not in seen_failures:
            seen_failures.add((key, message))
            errors.append(message)

    for name in answer_files:
        for number, text in enumerate(open(name), 1):
            try:
                answer = json.loads(text)
            except ValueError:
                errors.append(f"{name}:{number}: not JSON")
                continue
            method, route = answer["method"], answer.get("route")
            status, media = str(answer["status"]), answer["content_type"].split(";")[0].strip()
            where = f"{method} {route or answer['path']} -> {status} ({media})"
            if route is None:
                # no route matched: 404, 405 or 413 with the error shape
                if status not in ("404", "405", "413"):
                    fail(where, f"{where}: no route and not 404/405/413")
                elif media == "application/json" and "body" in answer:
                    try:
                        jsonschema.Draft202012Validator(error_schema, resolver=resolver).validate(answer["body"])
                    except jsonschema.ValidationError as e:
                        fail(where, f"{where}: {e.message}")
                checked["(no route)"] += 1
                continue
            key = (method, route)
            if key not in operations:
                fail(where, f"{where}: an answer of an operation the spec lacks")
                continue
            path, op = operations[key]
            responses = op["responses"]
            response = responses.get(status) or responses.get(status[0] + "XX")
            if response is None:
                fail(where, f"{where}: status {status} is not documented for {method} {path}")
                continue
            response = deref(spec, response)
            content = response.get("content")
            checked[f"{method} {path}"] += 1
            statuses[f"{method} {path}"].add(status)
            if status == "204" or not content:
                if answer.get("body_len", 0):
                    fail(where, f"{where}: a body where the spec documents none")
                continue
            if media not in content and "*/*" not in content:
                fail(where, f"{where}: media type {media} not in {sorted(content)}")
                continue
            if media == "application/json" and "body" in answer:
                schema = content[media].get("schema", {})
                try:
                    jsonschema.Draft202012Validator(schema, resolver=resolver).validate(answer["body"])
                except jsonschema.ValidationError as e:
                    at = "/".join(str(p) for p in e.absolute_path)
                    fail(where, f"{where}: body{'/' + at if at else ''}: {e.message}")
    total = sum(checked.values())
    print(f"answers: {total} validated, {len(checked)} operations covered")
    for op in sorted(checked):
        print(f"  {checked[op]:6d}  {op}  [{', '.join(sorted(statuses[op]))}]")
    if answer_files and total == 0:
        errors.append("no answers were recorded")
    for e in errors:
        print(f"FAIL: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
