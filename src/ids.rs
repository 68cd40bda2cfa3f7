//! The numbers that cross module lines, each its own type, so that a
//! dumped pid is never taken for a real one, nor a file id for an fd.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($t:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $t);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// As the number itself: log lines list them (`[3, 7]`).
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A pid as the dumped tree knows it (in its own pid namespace): the
    /// pids of CRIU's images.
    Vpid(u32)
);
id!(
    /// A pid of this machine's view: what /proc, pidfd_open and kill take.
    RealPid(i32)
);
id!(
    /// CRIU's id of one open file (files.img), shared by every fd of it.
    FileId(u32)
);
id!(
    /// An fd number in a task's fd table.
    FdNum(u32)
);

impl FdNum {
    /// The number as the syscalls take it.
    pub fn raw(self) -> i32 {
        self.0 as i32
    }
}
