#!/usr/bin/env python3
"""The Helm chart through real Helm v4 code (PyPI helm-python-sdk; no helm binary).

  helm.py lint                      lint with default and with full values (strict)
  helm.py render OUT_DIR [VALUES [NS]]   render (install mode) into OUT_DIR/<template>.yaml
  helm.py install|upgrade NAME NS [VALUES] [--dry-run]   against $KUBECONFIG
                                    (--dry-run [--manifest FILE]: Helm's dry run with the
                                    cluster's capabilities; prints the kinds, writes the manifest)
  helm.py uninstall NAME NS
Exit code 1 with the message on any failure.
"""
import json
import os
import sys

import helm_python as helm

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "charts", "devagents")

# Every optional part switched on.
FULL = {
    "replicaCount": 3,
    "watchNamespace": "team-a",
    "limits": {"maxRunning": 8, "perAgent": {"generator": 1, "reviewer": 2}},
    "llm": {"provider": "anthropic", "apiKeySecret": {"name": "anthropic", "key": "api-key"}},
    "github": {"apiUrl": "https://github.example.com/api/v3"},
    "environments": [
        {"name": "staging", "namespace": "shop-staging",
         "services": [{"name": "api", "image": "registry.example.com/shop/api"}]},
        {"name": "production", "namespace": "shop", "approvers": ["group:sre"],
         "services": [{"name": "api", "image": "registry.example.com/shop/api"}]},
    ],
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "certManager": {"enabled": True, "issuerRef": {"kind": "ClusterIssuer", "name": "ca-issuer"}},
    "archive": {"databaseSecret": {"name": "devagents-archive", "key": "url"}, "retention": "90d"},
    "logFormat": "text",
}


def values(path):
    if not path:
        return None
    if path == "full":
        return FULL
    with open(path) as f:
        return json.load(f)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "lint"
    if cmd == "lint":
        for name, vals in (("default", None), ("full", FULL)):
            report = helm.lint(CHART, vals, strict=True, kube_version="v1.20.2")
            errors = [m for m in report["messages"] if m["severity"] >= 2] + [
                {"error": e} for e in report["errors"]]
            if errors:
                print(f"lint ({name} values): {errors}", file=sys.stderr)
                return 1
            helm.Chart.load(CHART).validate_schema(vals)
            print(f"lint ({name} values): ok, {len(report['messages'])} info messages")
        return 0
    if cmd == "render":
        out = argv[2]
        chart = helm.Chart.load(CHART)
        vals = values(argv[3] if len(argv) > 3 and argv[3] != "default" else None)
        ns = argv[4] if len(argv) > 4 else "devagents-system"
        rendered = chart.render(vals, name="devagents", namespace=ns, is_install=True)
        os.makedirs(out, exist_ok=True)
        for path, text in sorted(rendered.items()):
            if text.strip() and path.endswith(".yaml"):
                with open(os.path.join(out, path.replace("/", "_")), "w") as f:
                    f.write(text)
        for crd in chart.crds:
            with open(os.path.join(out, "crd_" + os.path.basename(crd["name"])), "w") as f:
                f.write(crd["data"])
        print(f"rendered {len(os.listdir(out))} files into {out}")
        return 0
    dry = "--dry-run" in argv
    manifest_out = None
    if "--manifest" in argv:
        i = argv.index("--manifest")
        manifest_out = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    argv = [a for a in argv if a != "--dry-run"]
    cfg = helm.Config(kubeconfig_path=os.environ["KUBECONFIG"], namespace=argv[3])
    if cmd == "install":
        r = cfg.install(CHART, argv[2], values(argv[4] if len(argv) > 4 and argv[4] != "default" else None),
                        namespace=argv[3], create_namespace=not dry, timeout=120,
                        dry_run="server" if dry else None)
        if dry:
            if manifest_out:
                with open(manifest_out, "w") as f:
                    f.write(r.get("manifest", ""))
            kinds = sorted({line.split(":", 1)[1].strip() for line in r.get("manifest", "").splitlines()
                            if line.startswith("kind:")})
            print(json.dumps({"dryRun": True, "kinds": kinds}))
            return 0
    elif cmd == "upgrade":
        r = cfg.upgrade(CHART, argv[2], values(argv[4] if len(argv) > 4 else None),
                        namespace=argv[3], timeout=120)
    elif cmd == "uninstall":
        r = cfg.uninstall(argv[2], timeout=120)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    r = r if isinstance(r, dict) else {}
    print(json.dumps({"name": r.get("name", argv[2]), "version": r.get("revision"),
                      "status": r.get("status", "uninstalled" if cmd == "uninstall" else None)}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except helm.HelmError as e:
        print(f"helm: {e}", file=sys.stderr)
        sys.exit(1)
