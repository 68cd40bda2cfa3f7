use thiserror::Error;
#[derive(Debug, Error)]
pub enum TreeError { #[error("x")] X }
