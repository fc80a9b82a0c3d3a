//! `vaultsync watch`: follows the vault live and prints each change as it arrives.

use std::ops::ControlFlow;

use vaultsync::client::{Client, Watched};

use super::{Failure, print_event};

/// Runs until the token stops working or the pull fails for a reason other than the
/// network (printed, as `sync` would); Ctrl-C ends it.
pub fn watch(client: &mut Client) -> Result<(), Failure> {
    eprintln!("watching the vault; changes print as JSON lines (Ctrl-C to stop)");
    let result = client.watch(|client, watched| {
        match watched {
            Watched::Connected => eprintln!("connected: changes arrive as they are pushed"),
            Watched::Disconnected { error, retry_in } => {
                eprintln!("{error}; retrying in {:.1} s", retry_in.as_secs_f64());
            }
            Watched::Synced(events) => {
                events.iter().for_each(print_event);
                eprintln!(
                    "{} change(s) here; {} record(s)",
                    events.len(),
                    client.engine().records().count()
                );
            }
            Watched::Failed(error) => eprintln!("a pull failed: {error}; waiting for the next"),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    if result.is_err() && client.server_behind() {
        eprintln!(
            "the server has less than this device saw (restored from a backup?); \
             if so, `vaultsync reseed` uploads this device's records again"
        );
    }
    Ok(result?)
}
