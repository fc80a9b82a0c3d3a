//! The rows of an index bucket (`FORMAT.md`, "Device store"): one line per record. A record
//! as most are (a synced copy, no pending edit, no conflict) is a short line of numbers
//! that opens without building a JSON tree; any other is its row's JSON.

use vaultsync_wire::Blob;
use vaultsync_wire::json;

use super::super::error::SyncError;
use super::super::replica::{Replica, Synced};
use crate::crypto::RecordId;
use crate::crypto::head::Leaf;

/// Appends a record's line: `id version live key_id max_seen edited_at leaf` (numbers in
/// decimal, `live` 0 or 1, the leaf in base64url or `-`), or `id j row-JSON`.
pub(super) fn push_row(out: &mut String, id: &RecordId, replica: &Replica) {
    out.push_str(&id.to_string());
    match &replica.synced {
        Some(s)
            if replica.pending.is_none()
                && replica.conflicts.is_empty()
                && replica.held.is_none() =>
        {
            let leaf = s.leaf.as_ref().map_or_else(
                || "-".to_string(),
                |l| Blob(l.as_bytes().to_vec()).to_base64url(),
            );
            let live = u8::from(s.is_live());
            let numbers = [
                s.version,
                u64::from(live),
                u64::from(s.key_id),
                replica.max_seen,
            ];
            for n in numbers.into_iter().chain([replica.edited_at]) {
                out.push(' ');
                out.push_str(&n.to_string());
            }
            out.push(' ');
            out.push_str(&leaf);
        }
        _ => {
            out.push_str(" j ");
            out.push_str(&json::to_string(&replica.row_json()));
        }
    }
    out.push('\n');
}

/// The records of a bucket's text; any line that does not parse refuses the bucket.
pub(super) fn parse_rows(text: &str) -> Result<Vec<(RecordId, Replica)>, SyncError> {
    let bad = || SyncError::StateCorrupt;
    let mut out = Vec::new();
    for line in text.lines() {
        let (id, rest) = line.split_once(' ').ok_or_else(bad)?;
        let id = RecordId::parse(id).map_err(|_| bad())?;
        let replica = match rest.strip_prefix("j ") {
            Some(row) => {
                let row = json::parse(row.as_bytes()).ok_or_else(bad)?;
                Replica::from_row(&row).map_err(|_| bad())?
            }
            None => compact(rest).ok_or_else(bad)?,
        };
        out.push((id, replica));
    }
    Ok(out)
}

fn compact(line: &str) -> Option<Replica> {
    let mut fields = line.split(' ');
    let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
    let (version, live, key_id, max_seen, edited_at) =
        (number()?, number()?, number()?, number()?, number()?);
    let leaf = match fields.next()? {
        "-" => None,
        text => Some(Leaf::from_bytes(
            Blob::from_base64url(text)?.0.try_into().ok()?,
        )),
    };
    if fields.next().is_some() || live > 1 {
        return None;
    }
    let mut synced = Synced::new(version, None, u32::try_from(key_id).ok()?, leaf);
    synced.away = live == 1;
    synced.stored = synced.away;
    Some(Replica {
        synced: Some(synced),
        max_seen,
        pending: None,
        edited_at,
        conflicts: Vec::new(),
        held: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_round_trip_compact_and_json_and_bad_lines_refuse() {
        let mut synced = Synced::new(7, None, 2, Some(Leaf::from_bytes([9; 32])));
        synced.away = true;
        synced.stored = true;
        let clean = Replica {
            synced: Some(synced),
            max_seen: 8,
            pending: None,
            edited_at: 5,
            conflicts: Vec::new(),
            held: None,
        };
        let tombstone = Replica {
            synced: Some(Synced::new(3, None, 1, None)),
            ..Replica::default()
        };
        let edited = Replica {
            pending: Some(Some(json!({ "a": 1 }))),
            ..Replica::default()
        };
        let held = Replica {
            synced: Some(Synced::new(4, None, 1, None)),
            held: Some(json!({ "kept": true })),
            ..Replica::default()
        };
        let records = [
            (RecordId::from_bytes([1; 16]), clean),
            (RecordId::from_bytes([2; 16]), tombstone),
            (RecordId::from_bytes([3; 16]), edited),
            (RecordId::from_bytes([4; 16]), held),
        ];
        let mut text = String::new();
        for (id, replica) in &records {
            push_row(&mut text, id, replica);
        }
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "{} 7 1 2 8 5 {}",
                records[0].0, "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"
            )
        );
        assert_eq!(lines[1], format!("{} 3 0 1 0 0 -", records[1].0));
        assert!(lines[2].contains(" j {"));
        assert!(lines[3].contains(" j {") && lines[3].contains("\"held\""));
        let back = parse_rows(&text).unwrap();
        assert!(back == records);
        for bad in [
            "",
            "x 1 1 1 1 1 -",
            "AQEBAQEBAQEBAQEBAQEBAQ 1 2 1 1 1 -",
            "AQEBAQEBAQEBAQEBAQEBAQ 1 1 1 1 -",
            "AQEBAQEBAQEBAQEBAQEBAQ j {",
        ] {
            assert!(parse_rows(&format!("{bad}\n")).is_err(), "{bad:?}");
        }
    }
}
