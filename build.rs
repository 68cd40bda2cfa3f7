//! Build-time code generation: CRIU's image messages from our own .proto
//! files (prost, with protox as the protobuf compiler: no protoc, no
//! libclang needed to build). CRIU's plugin ABI is stated in Rust in
//! `src/plugin.rs`, checked against `criu-headers/criu-plugin.h` by a test.

fn main() {
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
