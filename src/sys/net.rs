//! A probe of the kernel's socket options that CRIU's socket dump relies on.

use rustix::net::{socket_with, sockopt, AddressFamily, SocketFlags, SocketType};

use super::{Context, SysError};

/// Whether `getsockopt(SOL_SOCKET, SO_PASSCRED)` works on an `AF_INET` TCP
/// socket. CRIU 4.1.x asks for it on every socket it dumps and fails the
/// dump when the kernel refuses; current kernels answer `EOPNOTSUPP` for
/// inet sockets (CRIU 4.2 asks only AF_UNIX and netlink ones). The error
/// names the call that failed: the socket's creation or the getsockopt.
pub fn inet_so_passcred() -> Result<(), SysError> {
    let sock = socket_with(AddressFamily::INET, SocketType::STREAM, SocketFlags::CLOEXEC, None).ctx("socket", "AF_INET SOCK_STREAM")?;
    sockopt::socket_passcred(&sock).ctx("getsockopt SO_PASSCRED", "on an AF_INET socket")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_ok_or_eopnotsupp() {
        // Either answer is a kernel's; anything else means the probe itself
        // is wrong (the socket could not be made here).
        match inet_so_passcred() {
            Ok(()) => {}
            Err(e) => assert_eq!(e.errno, rustix::io::Errno::OPNOTSUPP, "{e}"),
        }
    }
}
