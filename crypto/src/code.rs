//! The one list of stable error codes that vaultsync's clients report: every error type's
//! `code()` returns a [`Code`], the npm package's `VaultsyncError.code` is its text, and the
//! TypeScript union (`src/wasm/error.rs`) and the README's list are checked against it by
//! the test below. Codes the server answered are [`Code::Server`] (`PROTOCOL.md`).

use core::fmt;

use vaultsync_wire::ErrorCode;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable error code. Match on it (or on its text at the JS boundary); new codes
        /// may be added.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $variant,)*
            /// A code the server answered with (`PROTOCOL.md`, "Errors").
            Server(ErrorCode),
        }

        impl Code {
            /// Every code the client itself reports (the server's are [`ErrorCode::ALL`]).
            pub const CLIENT: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as text, e.g. `"WRONG_PASSWORD"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                    Code::Server(code) => code.as_str(),
                }
            }
        }
    };
}

codes! {
    /// The password does not open the envelope.
    WrongPassword = "WRONG_PASSWORD",
    /// The recovery code does not open the envelope.
    WrongRecoveryCode = "WRONG_RECOVERY_CODE",
    /// Something failed authentication: a record, an envelope, a history entry (moved,
    /// modified, forged or substituted).
    Tampered = "TAMPERED",
    /// KDF parameters below the client's floor (or a salt of the wrong length).
    KdfTooWeak = "KDF_TOO_WEAK",
    /// KDF parameters above the client's ceiling (a denial of service).
    KdfTooExpensive = "KDF_TOO_EXPENSIVE",
    /// A binary value of a format (or KDF algorithm) this version does not know.
    UnsupportedFormat = "UNSUPPORTED_FORMAT",
    /// An argument the caller gave is malformed or out of range.
    BadInput = "BAD_INPUT",
    /// A record is sealed under a key id this vault does not hold.
    UnknownKey = "UNKNOWN_KEY",
    /// The keyring holds the most keys it can; finish the rotation under way first.
    KeyringFull = "KEYRING_FULL",
    /// The system's random number generator failed.
    RandomUnavailable = "RANDOM_UNAVAILABLE",
    /// The envelope's KDF parameters differ from the ones prelogin answered.
    KdfMismatch = "KDF_MISMATCH",
    /// The server sent something older than this device has seen (a record version, an
    /// envelope, a key rotation undone, the whole vault: an older vault head).
    Rollback = "ROLLBACK",
    /// The records the server sent do not match the vault head: a record or a change is
    /// hidden, injected or resurrected.
    Omission = "OMISSION",
    /// The server shows this device another history than it saw before (a fork).
    Fork = "FORK",
    /// The server's envelope has fewer PBKDF2 iterations than the pinned parameters.
    KdfDowngrade = "KDF_DOWNGRADE",
    /// The server answered something that is not the protocol.
    BadAnswer = "BAD_ANSWER",
    /// The saved state did not open (modified, truncated, of another vault or version).
    StateTampered = "STATE_TAMPERED",
    /// The unlocked vault is not the vault of this state.
    WrongVault = "WRONG_VAULT",
    /// No answer from the server (unreachable, timed out).
    Network = "NETWORK",
    /// A key rotation met other devices' writes in every pass; run it again to finish.
    RotationIncomplete = "ROTATION_INCOMPLETE",
    /// A callback called back into the client while it was deciding a conflict.
    Busy = "BUSY",
    /// The session secret does not open this device's session slot (locked, or another
    /// browser session): unlock with the password.
    SessionInvalid = "SESSION_INVALID",
    /// The client was locked (`lock()`, or idle past its auto-lock time): its keys are
    /// gone; unlock again.
    Locked = "LOCKED",
    /// This device has no stored vault for this server and account: log in first.
    NoStore = "NO_STORE",
    /// The device store refused a write (quota, closed, blocked): the edit is in memory
    /// and written again with the next change.
    StoreFailed = "STORE_FAILED",
    /// A link request was denied, expired, already used, or answered with a payload not
    /// sealed to this device: ask again, and compare the phrases.
    LinkRefused = "LINK_REFUSED",
    /// A bulk delete would remove more records than the mass-deletion guard allows:
    /// nothing was deleted; ask the user, then delete with the guard lifted.
    MassDelete = "MASS_DELETE",
}

impl From<ErrorCode> for Code {
    /// The server's code; an answer without a code this client knows is `BAD_ANSWER`.
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Unknown => Self::BadAnswer,
            code => Self::Server(code),
        }
    }
}

/// `code == "WRONG_PASSWORD"`: codes compare with their text.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every code a client can report: its own and the server's (but `UNKNOWN`, which the
    /// client reports as `BAD_ANSWER`).
    fn all() -> BTreeSet<&'static str> {
        Code::CLIENT
            .iter()
            .map(|c| c.as_str())
            .chain(
                ErrorCode::ALL
                    .iter()
                    .map(|&c| Code::from(c))
                    .map(Code::as_str),
            )
            .collect()
    }

    /// The quoted codes of a text between two markers.
    fn quoted_between(text: &str, start: &str, end: &str) -> BTreeSet<String> {
        let from = text.find(start).expect("start marker") + start.len();
        let to = from + text[from..].find(end).expect("end marker");
        text[from..to]
            .split(['"', '`'])
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn texts_are_distinct() {
        let texts = all();
        assert_eq!(texts.len(), Code::CLIENT.len() + ErrorCode::ALL.len() - 1);
    }

    #[test]
    fn the_typescript_union_lists_every_code() {
        let source = include_str!("../../npm/src/error.rs");
        let union = quoted_between(source, "  code:\n", ";");
        let expected: BTreeSet<String> = all().into_iter().map(str::to_string).collect();
        assert_eq!(union, expected, "npm/src/error.rs VaultsyncError.code");
    }

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../README.md");
        let listed = quoted_between(readme, "<!-- codes -->", "<!-- /codes -->");
        let expected: BTreeSet<String> = all().into_iter().map(str::to_string).collect();
        assert_eq!(
            listed, expected,
            "README.md, the list between <!-- codes --> marks"
        );
    }
}
