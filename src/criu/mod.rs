//! Everything that knows CRIU's side: its log, its image files, the dumped
//! tree as its images describe it, the takeover of its entries, and fast
//! decoding of its largest messages.

pub mod format;
pub mod image;
pub mod irmap;
pub mod log;
pub mod stream;
pub mod takeover;
pub mod tree;
pub mod wire;
