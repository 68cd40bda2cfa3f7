//! Everything that knows CRIU's side: its log, its image files, the dumped
//! tree as its images describe it, and the takeover of its entries.

pub mod image;
pub mod log;
pub mod takeover;
pub mod tree;
