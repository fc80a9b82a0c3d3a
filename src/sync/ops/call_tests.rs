//! Tests of the route table (`call.rs`).

use super::*;

#[test]
fn paths_are_the_protocols() {
    let vault = VaultId::from_bytes([0; 16]);
    let cases = [
        (Call::Tokens, "GET", "/v1/tokens".to_string()),
        (Call::RevokeToken(7), "DELETE", "/v1/tokens/7".into()),
        (Call::Logout, "DELETE", "/v1/tokens/current".into()),
        (Call::LiveTicket, "POST", "/v1/events/ticket".into()),
        (
            Call::GetEnvelope(vault),
            "GET",
            format!("/v1/vaults/{vault}/envelope"),
        ),
        (
            Call::Changes {
                vault,
                since: 9,
                full: false,
            },
            "GET",
            format!("/v1/vaults/{vault}/changes?since=9"),
        ),
        (
            Call::Changes {
                vault,
                since: 9,
                full: true,
            },
            "GET",
            format!("/v1/vaults/{vault}/changes?since=9&full=1"),
        ),
        (
            Call::Wait {
                vault,
                since: 9,
                wait: 25,
            },
            "GET",
            format!("/v1/vaults/{vault}/changes?since=9&limit=1&wait=25"),
        ),
    ];
    for (call, method, path) in cases {
        assert_eq!((call.method(), call.path()), (method, path));
        assert_eq!(call.body(), None);
    }
}

#[test]
fn error_answers_are_refusals_and_garbage_is_a_bad_answer() {
    let call = Call::Tokens;
    let refused = call
        .read_answer(401, r#"{"error":{"code":"INVALID_TOKEN","message":"no"}}"#)
        .unwrap();
    assert!(matches!(
        refused,
        Reply::Refused(Refusal {
            status: 401,
            code: ErrorCode::InvalidToken,
            ..
        })
    ));
    let odd = call.read_answer(502, "<html>").unwrap();
    assert!(matches!(
        odd,
        Reply::Refused(Refusal {
            code: ErrorCode::Unknown,
            ..
        })
    ));
    assert!(call.read_answer(200, "[]").is_err());
    assert_eq!(Call::Logout.read_answer(204, "").unwrap(), Reply::Done);
}
