//! The rules for targets and session keys, as the host checks them.
//!
//! The host is the authority (it answers [`CallError::BadTarget`] or traps);
//! these functions let a guest check a string before it crosses the boundary.
//!
//! [`CallError::BadTarget`]: crate::CallError::BadTarget

/// Longest function name, in bytes.
pub const MAX_FUNCTION_LEN: usize = 48;
/// Longest actor key or session key, in bytes.
pub const MAX_KEY_LEN: usize = 64;

/// Whether `target` is a valid message target: `function` (anycast) or
/// `function/key` (the addressed actor; the key is everything after the first
/// `/`).
///
/// A function name is 1 to 48 bytes of ASCII letters, digits, `-`, `_` and
/// `.`, starting with a letter or digit. A key is 1 to 64 bytes without
/// control characters (it may contain `/`).
///
/// ```
/// use goldfish_guest::valid_target;
/// assert!(valid_target("detect"));
/// assert!(valid_target("detect/7"));
/// assert!(!valid_target("detect/"));
/// assert!(!valid_target("-detect"));
/// ```
pub fn valid_target(target: &str) -> bool {
    match target.split_once('/') {
        None => valid_function(target),
        Some((function, key)) => valid_function(function) && valid_session_key(key),
    }
}

/// Whether `key` is a valid actor or session key: 1 to 64 bytes of UTF-8
/// without control characters. [`Context::next`] with a
/// [`Disposition::Session`] whose key is not valid traps.
///
/// [`Context::next`]: crate::Context::next
/// [`Disposition::Session`]: crate::Disposition::Session
pub fn valid_session_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.chars().any(char::is_control)
}

fn valid_function(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FUNCTION_LEN
        && name
            .char_indices()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | '.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        for ok in [
            "f",
            "detect",
            "detect/7",
            "a.b-c_d/key with spaces",
            "f/a/b",
            "f/ünï",
        ] {
            assert!(valid_target(ok), "{ok:?}");
        }
        let long_name = "f".repeat(49);
        let long_key = alloc::format!("f/{}", "k".repeat(65));
        for bad in [
            "",
            "/",
            "/k",
            "f/",
            "-f",
            ".f/k",
            "f g",
            "f/k\n",
            "f\u{7f}",
            "fü",
            long_name.as_str(),
            long_key.as_str(),
        ] {
            assert!(!valid_target(bad), "{bad:?}");
        }
        assert!(valid_target(&"f".repeat(48)));
        assert!(valid_target(&alloc::format!("f/{}", "k".repeat(64))));
    }

    #[test]
    fn session_keys() {
        assert!(valid_session_key("s"));
        assert!(valid_session_key("user 42/cart"));
        assert!(valid_session_key(&"é".repeat(32)));
        assert!(!valid_session_key(&"é".repeat(33)));
        assert!(!valid_session_key(""));
        assert!(!valid_session_key("a\tb"));
    }
}
