use thiserror::Error;
#[derive(Debug, Error)]
pub enum TakeoverError { #[error("x")] X }
