//! Requests and answers of every route, in the order of `PROTOCOL.md`.

use serde::{Deserialize, Serialize};

mod account;
mod devices;
mod history;
mod live;
mod vault;

pub use account::*;
pub use devices::*;
pub use history::*;
pub use live::*;
pub use vault::*;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// Always `"ok"` when answered with 200.
    pub status: String,
    /// `"sqlite"` or `"postgres"`.
    pub database: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{BearerToken, RecordId};

    #[test]
    fn push_results_are_tagged_by_status() {
        let id = RecordId::from_bytes([1; 16]);
        let applied = PushResult::Applied {
            record_id: id,
            version: 2,
            cursor: 9,
        };
        let json = serde_json::to_value(&applied).unwrap();
        assert_eq!(json["status"], "applied");
        assert_eq!(json["cursor"], 9);
        let conflict = PushResult::Conflict {
            record_id: id,
            current: None,
        };
        let json = serde_json::to_value(&conflict).unwrap();
        assert_eq!(json["status"], "conflict");
        assert!(json["current"].is_null());
    }

    #[test]
    fn requests_refuse_unknown_fields_and_negative_versions() {
        let item = r#"{"record_id":"AQEBAQEBAQEBAQEBAQEBAQ","base_version":0,"deleted":false,"ciphertext":""}"#;
        assert!(serde_json::from_str::<PushItem>(item).is_ok());
        let extra = item.replace("}", r#","extra":1}"#);
        assert!(serde_json::from_str::<PushItem>(&extra).is_err());
        let negative = item.replace(r#""base_version":0"#, r#""base_version":-1"#);
        assert!(serde_json::from_str::<PushItem>(&negative).is_err());
    }

    #[test]
    fn issued_tokens_do_not_print_their_secret() {
        let token = IssuedToken {
            secret: BearerToken::new("vst_secret".into()),
            info: TokenInfo {
                id: 1,
                indicator: "vst_…cret".into(),
                label: "device".into(),
                created_at: 0,
                last_used_at: None,
                expires_at: None,
                current: false,
            },
        };
        assert!(!format!("{token:?}").contains("vst_secret"));
    }
}
