//! Token newtypes. Their `Debug` never prints the value, so a stray `{:?}` in a log, an error
//! or a panic message cannot leak a token.

use std::fmt;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a token value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The token itself, for the few places that must send or return it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret!(
    /// An access token (a JWT or an opaque string).
    AccessToken
);
secret!(
    /// A refresh token: the long-lived credential exchanged for new access tokens.
    RefreshToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let rt = RefreshToken::new("rt_super_secret");
        let at = AccessToken::new("eyJ.secret.sig");
        let printed = format!("{rt:?} {at:?} {:?}", Some(&rt));
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("RefreshToken([redacted])"));
        assert_eq!(rt.expose(), "rt_super_secret");
    }
}
