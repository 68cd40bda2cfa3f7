//! CRIU's image messages as prost types, generated from `proto/`.
#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/criu.rs"));
