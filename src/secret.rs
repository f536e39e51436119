//! Secret values (webhook URLs, routing keys, HMAC secrets) in a type that never prints them.
//!
//! `Debug`, `Display` and `Serialize` all render `<redacted>`; the only way to the value is
//! [`Secret::expose`], which callers use at the moment of sending and nowhere else.

use std::fmt;

/// A string that must never reach a log line, an error message or an API response.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

/// What every rendering of a secret prints.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The real value. Call only where it is handed to the network.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("https://hooks.slack.com/services/T000/B000/XXXX");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
        assert!(s.expose().contains("XXXX"));
    }
}
