//! A fixture repository in the Simple Admin Core layout (go.mod, Makefile, base.proto,
//! base.api, all.api, en.json and zh.json) whose Makefile targets run real local tools:
//! `gen-ent` checks the Go files with gofmt, `gen-rpc` merges the protos into core.proto and
//! compiles it with protoc, `gen-api` checks the .api imports, `test` checks that every locale
//! file has the same keys, and `broken` fails like a compiler would.

pub const MAKEFILE: &str = "\
gen-ent:
\t@test -z \"$$(gofmt -l rpc)\" || (gofmt -l rpc; echo 'gofmt: files need formatting'; exit 1)

gen-rpc:
\t@python3 tools/merge_proto.py
\t@protoc --proto_path=rpc --descriptor_set_out=/dev/null core.proto

gen-api:
\t@for f in $$(grep -o 'core/[a-z_]*\\.api' api/desc/all.api); do test -f api/desc/$$f || (echo missing $$f; exit 1); done

test:
\t@python3 tools/check_locales.py

broken:
\t@echo 'rpc/internal/logic/x.go:3:2: undefined: foo'; exit 2
";

pub const MERGE_PROTO: &str = r#"import glob
base = open("rpc/desc/base.proto").read()
msgs, rpcs = [], []
for f in sorted(glob.glob("rpc/desc/*.proto")):
    if f.endswith("base.proto"):
        continue
    t = open(f).read().replace('syntax = "proto3";', "")
    head, _, svc = t.partition("service Core {")
    msgs.append(head)
    rpcs.append(svc.rstrip().rstrip("}"))
head, _, svc = base.rstrip().rstrip("}").partition("service Core {")
open("rpc/core.proto", "w").write(head + "".join(msgs) + "service Core {" + svc + "".join(rpcs) + "}\n")
"#;

pub const CHECK_LOCALES: &str = r#"import json, glob, sys
def keys(v, p=""):
    if isinstance(v, dict):
        out = set()
        for k, x in v.items():
            out |= keys(x, p + "." + k if p else k)
        return out
    return {p}
sets = {f: keys(json.load(open(f))) for f in glob.glob("api/internal/i18n/locale/*.json")}
first = next(iter(sets.values()))
for f, s in sets.items():
    if s != first:
        print(f, "differs:", sorted(s ^ first)); sys.exit(1)
print("locales ok:", len(first), "keys")
"#;

pub const BASE_PROTO: &str = r#"syntax = "proto3";

package core;
option go_package="./core";

message Empty {}
message IDReq { uint64 id = 1; }
message IDsReq { repeated uint64 ids = 1; }
message UUIDReq { string id = 1; }
message UUIDsReq { repeated string ids = 1; }
message BaseResp { string msg = 1; }
message BaseIDResp { uint64 id = 1; string msg = 2; }
message BaseUUIDResp { string id = 1; string msg = 2; }

service Core {
  // group: base
  rpc initDatabase (Empty) returns (BaseResp);
}
"#;

pub fn simple_admin_repo() -> Vec<(&'static str, &'static str)> {
    vec![
        ("go.mod", "module github.com/acme/core\n\ngo 1.22\n"),
        ("Makefile", MAKEFILE),
        ("tools/merge_proto.py", MERGE_PROTO),
        ("tools/check_locales.py", CHECK_LOCALES),
        ("rpc/desc/base.proto", BASE_PROTO),
        (
            "api/desc/base.api",
            "syntax = \"v1\"\n\ntype BaseIDInfo {\n    Id *uint64 `json:\"id,optional\"`\n}\n",
        ),
        ("api/desc/all.api", "import \"base.api\"\n"),
        (
            "api/internal/i18n/locale/en.json",
            "{\n  \"common\": {\n    \"createSuccess\": \"Created successfully\"\n  }\n}\n",
        ),
        (
            "api/internal/i18n/locale/zh.json",
            "{\n  \"common\": {\n    \"createSuccess\": \"创建成功\"\n  }\n}\n",
        ),
    ]
}
