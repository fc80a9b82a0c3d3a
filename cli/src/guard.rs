//! The mass-deletion failsafe on the command line: `delete` checked against the guard,
//! `held`, `confirm-deletions`, `keep-deletions`, and the note `sync` prints.

use vaultsync::client::Client;
use vaultsync::sync::MassDelete;

use super::{Failure, fail, print_event, record_id};

/// `--mass-delete`: `MIN:PERCENT` or `off`.
pub fn parse(text: &str) -> Result<Option<MassDelete>, Failure> {
    if text == "off" {
        return Ok(None);
    }
    let parsed = text.split_once(':').and_then(|(min, percent)| {
        let percent = percent.parse::<u8>().ok().filter(|p| *p <= 100)?;
        Some(MassDelete {
            min: min.parse().ok()?,
            percent,
        })
    });
    match parsed {
        Some(guard) => Ok(Some(guard)),
        None => fail(format!(
            "--mass-delete {text:?}: give MIN:PERCENT (e.g. 20:50, PERCENT at most 100) or off"
        )),
    }
}

pub fn delete(client: &mut Client, ids: &[String], confirm: bool) -> Result<(), Failure> {
    if let Some(flag) = ids.iter().find(|id| id.starts_with("--")) {
        return fail(format!(
            "{flag:?} after a record id: give flags before the ids (`delete --confirm ID...`)"
        ));
    }
    let ids = ids
        .iter()
        .map(|id| record_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = client.delete_many(&ids, confirm)?;
    match (deleted, ids.len()) {
        (0, 1) => fail(format!("no record {}", ids[0])),
        (1, 1) => Ok(()),
        (deleted, asked) => {
            eprintln!("deleted {deleted} of {asked} record(s)");
            Ok(())
        }
    }
}

pub fn held(client: &Client) {
    for id in client.held_deletions() {
        let value = client.get(&id).cloned().unwrap_or_default();
        println!(
            "{}",
            serde_json::json!({ "id": id.to_string(), "value": value })
        );
    }
}

pub fn confirm(client: &mut Client) -> Result<(), Failure> {
    let events = client.confirm_deletions()?;
    events.iter().for_each(print_event);
    eprintln!("applied {} held deletion(s)", events.len());
    Ok(())
}

pub fn keep(client: &mut Client) -> Result<(), Failure> {
    let kept = client.keep_deletions()?;
    client.sync()?.iter().for_each(print_event);
    eprintln!("kept {kept} record(s): written again for every device");
    Ok(())
}

/// After a sync: the deletions held, and what to do about them.
pub fn tell_held(client: &Client) {
    let held = client.held_deletions().len();
    if held > 0 {
        eprintln!(
            "{held} record(s) another device deleted are held here (a mass deletion): \
             `vaultsync held` lists them, `vaultsync confirm-deletions` deletes them here, \
             `vaultsync keep-deletions` restores them everywhere"
        );
    }
}
