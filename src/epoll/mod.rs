use thiserror::Error;
#[derive(Debug, Error)]
pub enum EpollError { #[error("x")] X }
impl EpollError { pub fn errno(&self) -> i32 { libc::EINVAL } }
