use thiserror::Error;
#[derive(Debug, Error)]
pub enum InotifyError { #[error("x")] X }
impl InotifyError { pub fn errno(&self) -> i32 { libc::EINVAL } }
