//! The version of the plugin's own image format (`notify-*.img`), kept in
//! each entry (field `format`, numbered from 100 like every addition of
//! ours). A minor version adds what older readers may ignore; a major
//! version changes what an older reader would get wrong, so a restore
//! refuses an entry of a newer major version.

use thiserror::Error;

pub const MAJOR: u32 = 1;
pub const MINOR: u32 = 0;
/// What this plugin writes: major << 16 | minor.
pub const CURRENT: u32 = MAJOR << 16 | MINOR;

/// An entry of a format this plugin cannot read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{file}: entry id {id} has format version {}.{}, newer than the {MAJOR}.{MINOR} this plugin reads (restore with criu-notify of the version that dumped it, or newer)",
    .version >> 16,
    .version & 0xffff
)]
pub struct TooNew {
    pub file: String,
    pub id: u32,
    pub version: u32,
}

/// Check the `format` of entry `id` of `file` (absent: before 1.0, read as
/// 1.0).
pub fn check(file: &str, id: u32, format: Option<u32>) -> Result<(), TooNew> {
    match format {
        Some(v) if v >> 16 > MAJOR => Err(TooNew { file: file.to_owned(), id, version: v }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_major_versions_are_refused_naming_both() {
        assert!(check("x.img", 3, None).is_ok());
        assert!(check("x.img", 3, Some(CURRENT)).is_ok());
        assert!(check("x.img", 3, Some(MAJOR << 16 | 7)).is_ok(), "a newer minor version is read");
        let e = check("x.img", 3, Some(2 << 16 | 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.img: entry id 3 has format version 2.1, newer than the 1.0 this plugin reads (restore with criu-notify of the version that dumped it, or newer)"
        );
    }
}
