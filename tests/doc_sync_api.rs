//! doc-sync's `.api` parser (issue 19) on real-shaped go-zero files: every module the generator
//! renders (its snapshots) and the fixture repository's, with the routes and types they
//! declare.

use devagents::agents::doc_sync::api_file::parse;

#[test]
fn the_generators_api_files_parse_with_their_routes_and_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/generator");
    let mut seen = 0;
    for module in std::fs::read_dir(&dir).unwrap() {
        let module = module.unwrap().path();
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        let path = module.join(format!("api/desc/core/{name}.api"));
        let text = std::fs::read_to_string(&path).unwrap();
        let a = parse(&path.to_string_lossy(), &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.routes.len(), 5, "{name}");
        assert!(
            a.routes.iter().all(|r| r.method == "post" && r.jwt),
            "{name}"
        );
        assert!(
            a.routes.iter().all(|r| r.middleware == ["Authority"]),
            "{name}"
        );
        assert!(a.types.iter().any(|t| t.name.ends_with("Info")), "{name}");
        assert!(
            a.routes.iter().all(|r| !r.doc.is_empty()),
            "{name}: {:?}",
            a.routes
        );
        seen += 1;
    }
    assert!(seen >= 5);
}

#[test]
fn the_fixture_repositorys_api_files_parse() {
    let files = devagents::testing::fixtures::simple_admin_repo();
    let mut seen = 0;
    for (path, text) in files.iter().filter(|(p, _)| p.ends_with(".api")) {
        parse(path, text).unwrap_or_else(|e| panic!("{e}"));
        seen += 1;
    }
    assert!(seen >= 1, "the fixture has .api files");
}

#[test]
fn the_generators_proto_files_parse_with_their_rpcs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/generator");
    for module in std::fs::read_dir(&dir).unwrap() {
        let module = module.unwrap().path();
        let name = module.file_name().unwrap().to_string_lossy().into_owned();
        let path = module.join(format!("rpc/desc/{name}.proto"));
        let text = std::fs::read_to_string(&path).unwrap();
        let p = devagents::agents::doc_sync::proto_file::parse(&path.to_string_lossy(), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.rpcs.len(), 5, "{name}: {:?}", p.rpcs);
        assert_eq!(p.messages.len(), 3, "{name}: {:?}", p.messages.keys());
        let info = p
            .messages
            .iter()
            .find(|(m, _)| m.ends_with("Info"))
            .unwrap()
            .1;
        assert_eq!(info[0].name, "id");
    }
}
