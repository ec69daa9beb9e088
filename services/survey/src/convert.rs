//! Survey enums between protobuf and the domain.

use nordstern_proto::common::v1 as common;

/// Stored language names; unspecified means English.
pub fn language_from_proto(value: i32) -> Result<&'static str, String> {
    match common::Language::try_from(value) {
        Ok(common::Language::German) => Ok("GERMAN"),
        Ok(common::Language::English | common::Language::Unspecified) => Ok("ENGLISH"),
        Err(_) => Err(format!("unknown language {value}")),
    }
}

pub fn language_to_proto(stored: &str) -> common::Language {
    if stored == "GERMAN" {
        common::Language::German
    } else {
        common::Language::English
    }
}
