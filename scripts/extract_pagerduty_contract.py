"""Cut the PagerDuty REST v2 routes this project uses out of PagerDuty's official OpenAPI schema.

The full schema (PagerDuty/api-schema, reference/REST/openapiv3.json) is 2.7 MB; the subset keeps
the chosen paths verbatim with every component they reference, so contract tests load quickly.

    python scripts/extract_pagerduty_contract.py FULL.json contracts/pagerduty-subset.json
"""

import json
import sys

PATHS = [
    "/users",
    "/users/me",
    "/services/{id}",
    "/oncalls",
    "/schedules/{id}",
    "/schedules/{id}/overrides",
    "/schedules/{id}/overrides/{override_id}",
    "/incidents",
    "/incidents/{id}",
    "/incidents/{id}/notes",
    "/incidents/{id}/log_entries",
]


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in found:
            found.add(ref)
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def resolve(spec, ref):
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def main(source: str, target: str) -> None:
    spec = json.load(open(source))
    subset = {key: spec[key] for key in ("openapi", "info", "security", "servers")}
    subset["paths"] = {path: spec["paths"][path] for path in PATHS}
    found: set[str] = set()
    refs(subset["paths"], found)
    refs(spec["components"].get("securitySchemes", {}), found)
    done: set[str] = set()
    while found - done:
        ref = sorted(found - done)[0]
        done.add(ref)
        # A reference may point inside a component; the whole component is kept.
        whole = "/".join(ref.split("/")[:4])
        found.add(whole)
        refs(resolve(spec, whole), found)
    components: dict = {"securitySchemes": spec["components"].get("securitySchemes", {})}
    for ref in sorted(done):
        parts = ref.split("/")
        if parts[1] != "components":
            raise SystemExit(f"unsupported reference outside components: {ref}")
        section, name = parts[2], parts[3]
        components.setdefault(section, {})[name] = spec["components"][section][name]
    subset["components"] = components
    subset["info"]["description"] = (
        "Subset of PagerDuty's REST API v2 schema (PagerDuty/api-schema) for the routes "
        "the on-call handover uses; cut by scripts/extract_pagerduty_contract.py."
    )
    with open(target, "w") as out:
        json.dump(subset, out, indent=1, sort_keys=False)
        out.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
