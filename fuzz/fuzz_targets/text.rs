//! Untrusted text: base64url values, record ids and recovery codes never panic the parsers,
//! and what parses re-encodes to a value that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultsync::crypto::{Envelope, RecordId, RecoveryCode, from_base64url, to_base64url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = from_base64url(text) {
        assert_eq!(
            to_base64url(&bytes),
            text,
            "base64url decoding is not canonical"
        );
    }
    if let Ok(id) = RecordId::parse(text) {
        assert_eq!(id.to_string(), text);
    }
    if let Ok(code) = RecoveryCode::parse(text) {
        let again = RecoveryCode::parse(&code.to_text()).expect("re-parse");
        assert_eq!(again.to_text(), code.to_text());
    }
    let _ = Envelope::parse_text(text);
});
