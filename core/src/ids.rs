//! Names and identifiers: functions, actors, nodes and messages.
//!
//! Every id is `Copy` and fixed-size (an inline string, no heap) so core's
//! transitions can store and compare them without allocating.

use core::fmt;
use core::hash::{Hash, Hasher};

/// Longest function name, in bytes.
pub const MAX_FUNCTION_LEN: usize = 48;
/// Longest actor or session key, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Longest node name, in bytes.
pub const MAX_NODE_LEN: usize = 32;

/// Why a string is not a valid id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    Empty {
        /// What was being parsed ("function name", "key", "node name").
        what: &'static str,
    },
    /// The string is longer than the id allows.
    TooLong {
        /// What was being parsed.
        what: &'static str,
        /// The longest allowed, in bytes.
        max: usize,
        /// The length given.
        len: usize,
    },
    /// The string holds a character the id does not allow.
    BadChar {
        /// What was being parsed.
        what: &'static str,
        /// Byte offset of the first bad character.
        at: usize,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IdError::Empty { what } => write!(f, "{what} is empty"),
            IdError::TooLong { what, max, len } => {
                write!(f, "{what} is {len} bytes long; the limit is {max}")
            }
            IdError::BadChar { what, at } => write!(
                f,
                "{what} has a character that is not allowed at byte {at} \
                 (names use ASCII letters, digits, '-', '_' and '.', starting with a letter or digit; \
                 keys may not hold control characters)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for IdError {}

/// A string of at most `N` bytes stored inline.
#[derive(Clone, Copy)]
struct InlineStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    fn new(s: &str, what: &'static str, ok: fn(usize, char) -> bool) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty { what });
        }
        if s.len() > N {
            return Err(IdError::TooLong {
                what,
                max: N,
                len: s.len(),
            });
        }
        if let Some((at, _)) = s.char_indices().find(|&(i, c)| !ok(i, c)) {
            return Err(IdError::BadChar { what, at });
        }
        let mut bytes = [0u8; N];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(InlineStr {
            // N is at most 64 for every id in this module.
            len: s.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Only `new` writes the bytes, from a `&str` cut at its own length.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> PartialEq for InlineStr<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl<const N: usize> Eq for InlineStr<N> {}
impl<const N: usize> PartialOrd for InlineStr<N> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<const N: usize> Ord for InlineStr<N> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl<const N: usize> Hash for InlineStr<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

fn name_char(i: usize, c: char) -> bool {
    c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | '.'))
}

fn key_char(_: usize, c: char) -> bool {
    !c.is_control()
}

macro_rules! inline_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(InlineStr<$len>);

        impl $name {
            /// Parses and validates the id.
            pub fn new(s: &str) -> Result<Self, IdError> {
                InlineStr::new(s, $what, $ok).map($name)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::new(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

inline_id!(
    /// The name a function is deployed under, e.g. `detect`.
    FunctionId,
    MAX_FUNCTION_LEN,
    "function name",
    name_char
);
inline_id!(
    /// An actor key or a session key chosen by the caller, e.g. a device id.
    Key,
    MAX_KEY_LEN,
    "key",
    key_char
);
inline_id!(
    /// The name of a node in a cluster, e.g. `edge-1`.
    NodeId,
    MAX_NODE_LEN,
    "node name",
    name_char
);

/// Which actor of a function: the one with a caller's key, or an anycast instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ActorKey {
    /// An addressed actor: at most one live activation per key, cluster-wide (S2).
    Keyed(Key),
    /// An anycast instance, numbered by the node that created it.
    Instance(u32),
}

/// A unique actor: a function plus the key of one of its activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ActorId {
    /// The function the actor runs.
    pub function: FunctionId,
    /// Which of its activations.
    pub key: ActorKey,
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            ActorKey::Keyed(k) => write!(f, "{}/{}", self.function, k),
            ActorKey::Instance(n) => write!(f, "{}#{}", self.function, n),
        }
    }
}

/// A message id, unique across the cluster (the node that accepts a message
/// mints it; retries and forwards keep it, which is what deduplication keys on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MessageId(pub u128);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A handle to one actor slot of a dispatcher (an index the host can use for
/// its own table of instances). Slots are reused once the actor in it has been
/// reported Terminated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Slot(pub u32);

impl Slot {
    /// The slot as an index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(FunctionId::new("detect").unwrap().as_str(), "detect");
        assert_eq!(FunctionId::new("a.b-c_1").unwrap().as_str(), "a.b-c_1");
        assert_eq!(
            FunctionId::new(""),
            Err(IdError::Empty {
                what: "function name"
            })
        );
        assert_eq!(
            FunctionId::new("-x"),
            Err(IdError::BadChar {
                what: "function name",
                at: 0
            })
        );
        assert_eq!(
            FunctionId::new("a/b"),
            Err(IdError::BadChar {
                what: "function name",
                at: 1
            })
        );
        let long = "x".repeat(MAX_FUNCTION_LEN + 1);
        assert!(matches!(
            FunctionId::new(&long),
            Err(IdError::TooLong {
                max: 48,
                len: 49,
                ..
            })
        ));
        assert!(FunctionId::new(&long[..MAX_FUNCTION_LEN]).is_ok());
    }

    #[test]
    fn keys_allow_text_but_not_control_characters() {
        assert_eq!(Key::new("sensor/7 ü").unwrap().as_str(), "sensor/7 ü");
        assert!(matches!(
            Key::new("a\nb"),
            Err(IdError::BadChar { at: 1, .. })
        ));
    }

    #[test]
    fn equality_and_order_follow_the_text() {
        let a = Key::new("a").unwrap();
        let b = Key::new("b").unwrap();
        assert!(a < b);
        assert_eq!(a, Key::new("a").unwrap());
        let id = ActorId {
            function: FunctionId::new("counter").unwrap(),
            key: ActorKey::Keyed(a),
        };
        let mut s = [0u8; 32];
        let n = {
            use core::fmt::Write;
            struct W<'a>(&'a mut [u8], usize);
            impl Write for W<'_> {
                fn write_str(&mut self, s: &str) -> fmt::Result {
                    self.0[self.1..self.1 + s.len()].copy_from_slice(s.as_bytes());
                    self.1 += s.len();
                    Ok(())
                }
            }
            let mut w = W(&mut s, 0);
            write!(w, "{id}").unwrap();
            w.1
        };
        assert_eq!(&s[..n], b"counter/a");
    }
}
