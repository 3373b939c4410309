"""Check recorded GitHub exchanges against GitHub's official OpenAPI description
(npm @octokit/openapi, generated/api.github.com.deref.json): every request the client sent
(path, method, query parameters, JSON body) and every JSON answer the test double gave.

    python github_openapi.py DESCRIPTION.json EXCHANGES.json

Prints one line per finding and exits 1 when there is any; prints the count checked otherwise.
"""

import json
import re
import sys

from openapi_schema_validator import OAS30Validator, OAS31Validator

spec = json.load(open(sys.argv[1]))
exchanges = json.load(open(sys.argv[2]))
Validator = OAS31Validator if spec.get("openapi", "3.0").startswith("3.1") else OAS30Validator

templates = []
for tpl in spec["paths"]:
    rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(tpl)) + "$"
    templates.append((tpl.count("{"), tpl, re.compile(rx)))
templates.sort()


def operation(method, path):
    for _, tpl, rx in templates:
        if rx.match(path) and method.lower() in spec["paths"][tpl]:
            return tpl, spec["paths"][tpl][method.lower()], spec["paths"][tpl]
    return None, None, None


def errors_of(schema, value):
    v = Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in v.iter_errors(value)]


findings = []
checked = 0
for x in exchanges:
    where = f"{x['method']} {x['path']}{'?' + x['query'] if x['query'] else ''}"
    tpl, op, item = operation(x["method"], x["path"])
    if op is None:
        findings.append(f"{where}: no such operation in GitHub's description")
        continue
    checked += 1
    params = {p["name"]: p for p in op.get("parameters", []) + item.get("parameters", [])}
    for pair in filter(None, x["query"].split("&")):
        name = pair.split("=", 1)[0]
        p = params.get(name)
        if p is None or p.get("in") != "query":
            findings.append(f"{where}: query parameter {name!r} is not one of {tpl}'s")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if x["request"] is not None:
        if body is None:
            findings.append(f"{where}: sends a JSON body, {tpl} takes none")
        else:
            for e in errors_of(body, x["request"]):
                findings.append(f"{where}: request body {e}")
    elif op.get("requestBody", {}).get("required"):
        findings.append(f"{where}: {tpl} requires a body")
    responses = op.get("responses", {})
    status = str(x["status"])
    described = responses.get(status)
    if described is None:
        # Rate limits (403/429) and server errors are described once for the whole API, not
        # per operation; anything else must be the operation's own.
        if x["status"] in (403, 429) or x["status"] >= 500:
            continue
        findings.append(f"{where}: answered {status}, which {tpl} does not describe ({', '.join(responses)})")
        continue
    if x["response"] is not None:
        schema = described.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            findings.append(f"{where}: answered JSON with {status}, described without a JSON body")
        else:
            for e in errors_of(schema, x["response"]):
                findings.append(f"{where}: answer {status} {e}")

for f in findings:
    print(f)
print(f"checked {checked} exchanges against GitHub's description; {len(findings)} findings", file=sys.stderr)
sys.exit(1 if findings else 0)
