//! Replays every input the fuzzers found (test/fuzz/regressions/<target>/*)
//! and every seed through the very code of the fuzz target that found it
//! (test/fuzz/src/lib.rs, included here as a module): each must run to the
//! end without a panic. `cargo test --test fuzz_regressions`; `make fuzz`
//! (test/scripts/fuzz.sh) adds a file here for each crash it finds.

#[path = "fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test/fuzz/regressions")
}

/// Run `f(input)`; on a panic, say which file it was.
fn replay(target: &str, name: &str, f: fn(&[u8]), input: &[u8]) -> Result<(), String> {
    std::panic::catch_unwind(|| f(input)).map_err(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        format!("{target}/{name}: panicked: {msg}")
    })
}

#[test]
fn every_regression_input_runs_clean() {
    let dir = regressions_dir();
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let target = entry.file_name().to_string_lossy().into_owned();
        let f = harness::TARGETS
            .iter()
            .find(|(n, _)| *n == target)
            .unwrap_or_else(|| panic!("{}: no fuzz target of that name", entry.path().display()))
            .1;
        let mut files: Vec<_> = std::fs::read_dir(entry.path()).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for p in files.iter().filter(|p| p.is_file()) {
            let name = p.file_name().unwrap().to_string_lossy();
            if name.starts_with('.') || name.ends_with(".md") {
                continue;
            }
            count += 1;
            if let Err(e) = replay(&target, &name, f, &std::fs::read(p).unwrap()) {
                failures.push(e);
            }
        }
    }
    eprintln!("{count} regression inputs replayed");
    assert!(failures.is_empty(), "{} regression inputs fail:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_seed_runs_clean_through_every_target() {
    let seeds = harness::seeds();
    assert!(seeds.len() > 20);
    let mut failures = Vec::new();
    for (seed_target, name, bytes) in &seeds {
        for (target, f) in harness::TARGETS {
            if let Err(e) = replay(target, &format!("seed {seed_target}/{name}"), *f, bytes) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeds_are_accepted_by_their_decoders() {
    // The seeds are only useful to the fuzzer if they get past the headers.
    use criu_notify::criu::image;
    for (target, name, bytes) in harness::seeds() {
        if target == "image_framing" {
            assert!(harness::KINDS.iter().any(|k| image::parse(&name, *k, &bytes).is_ok()), "seed {name} parses as no image kind");
        }
    }
}
