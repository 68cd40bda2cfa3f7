//! Write the seed inputs of every target (criu_notify_fuzz::seeds) into
//! `<dir>/<target>/seed-<name>`: `cargo run --example seed -- corpus`.
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let seeds = criu_notify_fuzz::seeds();
    for (target, name, bytes) in &seeds {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("create corpus dir");
        std::fs::write(d.join(format!("seed-{name}")), bytes).expect("write seed");
    }
    println!("{} seeds in {}", seeds.len(), dir.display());
}
