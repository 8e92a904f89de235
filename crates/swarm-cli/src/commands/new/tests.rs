use super::*;

fn answers(participant: Participant) -> Answers {
    let args = NewArgs {
        participant: Some(participant),
        name: Some("My Eicar Engine".into()),
        org: Some("ACME Corp.".into()),
        ..NewArgs::default()
    };
    from_flags(&args).unwrap()
}

#[test]
fn defaults_follow_the_cookiecutter_template() {
    let a = answers(Participant::Microengine);
    assert_eq!(a.slug, "myeicarengine");
    assert_eq!(a.project_slug, "microengine-myeicarengine");
    assert_eq!(a.org_slug, "acmecorp");
    assert_eq!(a.package_slug, "acmecorp_myeicarengine");
    assert_eq!(struct_name(&a.name), "MyEicarEngine");
    assert_eq!(struct_name("scanner"), "ScannerEngine");
    assert_eq!(struct_name("clam.av-2"), "ClamAv2");
    assert_eq!(
        answers(Participant::Arbiter).project_slug,
        "arbiter-myeicarengine"
    );
}

#[test]
fn bad_names_are_refused_with_the_reason() {
    let cases: [(NewArgs, &str); 9] = [
        (
            NewArgs {
                name: Some("".into()),
                ..NewArgs::default()
            },
            "empty",
        ),
        (
            NewArgs {
                name: Some("9lives".into()),
                ..NewArgs::default()
            },
            "must start with a letter",
        ),
        (
            NewArgs {
                name: Some("../evil".into()),
                ..NewArgs::default()
            },
            "must start with a letter",
        ),
        (
            NewArgs {
                name: Some("my/engine".into()),
                ..NewArgs::default()
            },
            "contains '/'",
        ),
        (
            NewArgs {
                name: Some("x".repeat(65)),
                ..NewArgs::default()
            },
            "longer than 64",
        ),
        (
            NewArgs {
                slug: Some("My-Slug".into()),
                ..NewArgs::default()
            },
            "is not a slug",
        ),
        (
            NewArgs {
                project_slug: Some("bad_slug".into()),
                ..NewArgs::default()
            },
            "not a package name",
        ),
        (
            NewArgs {
                package_slug: Some("tokio".into()),
                ..NewArgs::default()
            },
            "dependency's name",
        ),
        (
            NewArgs {
                email: Some("not-an-email".into()),
                ..NewArgs::default()
            },
            "not an email address",
        ),
    ];
    for (args, reason) in cases {
        let e = from_flags(&args).unwrap_err().to_string();
        assert!(e.contains(reason), "{args:?}: {e}");
    }
    let e = from_flags(&NewArgs {
        author: Some("Robert \"Bobby\" Tables".into()),
        ..NewArgs::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("'\"'"), "{e}");
}

#[test]
fn relative_paths() {
    assert_eq!(
        relative(Path::new("/a/b/c"), Path::new("/a/d/e")),
        PathBuf::from("../../d/e")
    );
    assert_eq!(
        relative(Path::new("/a"), Path::new("/a/x")),
        PathBuf::from("x")
    );
}

#[test]
fn every_combination_renders() {
    let sdk = SdkSource::Path(PathBuf::from("/src/swarm/crates/swarm-sdk"));
    let dir = Path::new("/src/swarm/engines/microengine-x");
    let shared = Path::new("/home/a/.cache/swarm/target");
    for participant in Participant::ALL {
        for artifacts in Artifacts::ALL {
            for has_backend in [false, true] {
                for scan_mode in ScanMode::ALL {
                    let a = Answers {
                        artifacts,
                        has_backend,
                        scan_mode,
                        ..answers(participant)
                    };
                    let files = render(&a, dir, &sdk, Some(shared)).unwrap();
                    let text = |name: &str| &files.iter().find(|(p, _)| *p == name).unwrap().1;
                    assert!(text("src/lib.rs").contains("CUSTOMIZE_HERE"), "{a:?}");
                    // A microengine's binary also runs as a Redis
                    // coordinator (`--dispatch`) or scan worker (`worker`).
                    let microengine = participant == Participant::Microengine;
                    let sdk_line = if microengine {
                        "swarm-sdk = { path = \"/src/swarm/crates/swarm-sdk\", features = [\"redis\"] }"
                    } else {
                        "swarm-sdk = { path = \"/src/swarm/crates/swarm-sdk\" }"
                    };
                    assert!(text("Cargo.toml").contains(sdk_line), "{a:?}");
                    assert_eq!(
                        text("src/main.rs").contains("RedisWorker::builder"),
                        microengine
                    );
                    let build = format!(
                        "docker build -f engines/microengine-x/Dockerfile -t {} /src/swarm",
                        a.project_slug
                    );
                    assert!(text("Dockerfile").contains(&build), "{a:?}");
                    assert!(text("Dockerfile").contains("WORKDIR /src/swarm\n"), "{a:?}");
                    assert!(
                        text(".cargo/config.toml")
                            .contains("target-dir = \"/home/a/.cache/swarm/target\""),
                        "{a:?}"
                    );
                    assert!(
                        text("README.md").contains("--engine /home/a/.cache/swarm/target/debug/"),
                        "{a:?}"
                    );
                    assert_eq!(
                        text("src/main.rs").contains("MYEICARENGINE_BACKEND"),
                        has_backend
                    );
                    for (path, t) in &files {
                        assert!(!t.contains("{{") && !t.contains("{%"), "{path}: {t}");
                    }
                }
            }
        }
    }
}

#[test]
fn an_existing_directory_is_never_overwritten() {
    let out = tempfile::tempdir().unwrap();
    let sdk = SdkSource::parse(None).unwrap();
    let a = answers(Participant::Microengine);
    let dir = create(&a, out.path(), &sdk, None).unwrap();
    assert!(dir.join("src/lib.rs").is_file());
    std::fs::write(dir.join("src/lib.rs"), "mine").unwrap();
    let e = create(&a, out.path(), &sdk, None).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(
        std::fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
        "mine"
    );
    // Nothing but the crate: no staging directory left behind.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

#[test]
fn a_git_or_published_sdk_builds_from_the_crate_alone() {
    let dir = Path::new("/home/a/engines/microengine-x");
    let a = answers(Participant::Microengine);
    for (sdk, line) in [
        (
            SdkSource::Git {
                url: "https://git.example/swarm.git".into(),
                rev: Some("v0.1.0".into()),
            },
            "swarm-sdk = { git = \"https://git.example/swarm.git\", rev = \"v0.1.0\", features = [\"redis\"] }",
        ),
        (
            SdkSource::Version("0.1".into()),
            "swarm-sdk = { version = \"0.1\", features = [\"redis\"] }",
        ),
    ] {
        let files = render(&a, dir, &sdk, None).unwrap();
        let text = |name: &str| &files.iter().find(|(p, _)| *p == name).unwrap().1;
        assert!(text("Cargo.toml").contains(line), "{}", text("Cargo.toml"));
        // No shared build directory asked for: no cargo config, ./target.
        assert!(files.iter().all(|(p, _)| *p != ".cargo/config.toml"));
        assert!(text("README.md").contains("--engine /home/a/engines/microengine-x/target/debug/"));
        let docker = text("Dockerfile");
        assert!(
            docker.contains(&format!(
                "docker build -f Dockerfile -t {} /home/a/engines/microengine-x",
                a.project_slug
            )),
            "{docker}"
        );
        assert!(docker.contains("WORKDIR /home/a/engines/microengine-x\n"), "{docker}");
    }
}
