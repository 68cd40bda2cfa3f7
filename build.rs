//! Build-time code generation: CRIU's plugin ABI from our own header
//! (bindgen) and CRIU's image messages from our own .proto files (prost).

use std::env;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    println!("cargo:rerun-if-changed=criu-headers/criu-plugin.h");
    let abi = bindgen::Builder::default()
        .header("criu-headers/criu-plugin.h")
        .allowlist_type("cr_plugin_desc")
        .allowlist_type("cr_plugin_hook")
        .allowlist_type("cr_plugin_stage")
        .allowlist_type("criu_log_level")
        .allowlist_var("CRIU_NOTIFY_PLUGIN_VERSION")
        .allowlist_type("cr_hook_.*")
        .rustified_enum("cr_plugin_stage")
        .constified_enum_module("cr_plugin_hook")
        .constified_enum_module("criu_log_level")
        .layout_tests(true)
        .generate()
        .expect("bindgen: criu-headers/criu-plugin.h");
    abi.write_to_file(out.join("criu_plugin.rs"))
        .expect("write criu_plugin.rs");

    let protos = [
        "proto/fdinfo.proto",
        "proto/fown.proto",
        "proto/fh.proto",
        "proto/inotify.proto",
        "proto/eventpoll.proto",
        "proto/core.proto",
        "proto/stats.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto/"]).unwrap_or_else(|e| panic!("proto/: {e}"));
    prost_build::Config::new().compile_fds(fds).expect("prost-build: generate the messages of proto/");
}
