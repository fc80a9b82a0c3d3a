//! The subcommands of `vaultsync` (clap).

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Create an account and its vault on SERVER; prints the recovery code once.
    Register { server: String, username: String },
    /// Log in to an existing account on SERVER (this machine becomes a device).
    Login { server: String, username: String },
    /// Create a record (prints its id), or replace one with --id. VALUE is JSON ("-": stdin).
    Put {
        value: String,
        // Record ids are base64url: one in 64 starts with '-'.
        #[arg(long, allow_hyphen_values = true)]
        id: Option<String>,
    },
    /// Print a record's value as JSON.
    Get {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Print every record as a JSON line {"id", "value"}.
    List,
    /// Delete records. Deleting more than the mass-deletion guard allows (see
    /// --mass-delete) fails with MASS_DELETE and deletes nothing, unless --confirm. Flags
    /// go before the ids (an id may start with '-').
    Delete {
        #[arg(allow_hyphen_values = true, required = true)]
        ids: Vec<String>,
        /// Delete even past the mass-deletion guard.
        #[arg(long)]
        confirm: bool,
    },
    /// List the records held from a mass deletion (another device deleted most of the
    /// vault; a sync said so): JSON lines {"id", "value"}, still here until
    /// `confirm-deletions` or `keep-deletions`.
    Held,
    /// Apply the held deletions on this device (they are already on the server).
    ConfirmDeletions,
    /// Refuse the held deletions: write the records again from this device, then sync
    /// (every device gets them back).
    KeepDeletions,
    /// Print a record's past versions the server keeps, newest first, as JSON lines
    /// {"version", "value", "replacedAt"} (no "value": deleted at that version).
    History {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Print the deleted records that can still be restored, as JSON lines
    /// {"record_id", "version", "replaced_at"} (`restore RECORD_ID VERSION`).
    Deleted,
    /// Restore VERSION of a record (from `history`) as a new version, then sync. Restoring
    /// a deleted record brings it back; history itself is never rewritten.
    Restore {
        #[arg(allow_hyphen_values = true)]
        id: String,
        version: u64,
    },
    /// Push local edits and pull everyone else's; prints what changed as JSON lines.
    Sync,
    /// Follow the vault live: each change another device pushes is pulled and printed
    /// as a JSON line as it arrives (a long-poll; reconnects with backoff). Ctrl-C stops.
    Watch,
    /// List the account's device tokens.
    Tokens,
    /// Revoke one of the account's tokens by id.
    Revoke { token_id: u64 },
    /// Change the password (new one from VAULTSYNC_NEW_PASSWORD or the next stdin line);
    /// other devices learn it on their next sync.
    ChangePassword,
    /// Forgot the password: log in to SERVER with the recovery code (VAULTSYNC_RECOVERY_CODE
    /// or a stdin line) and set a new password (VAULTSYNC_NEW_PASSWORD or the next line).
    Recover { server: String, username: String },
    /// Rotate the vault key: re-seal every record under a new key, then retire the old
    /// one. Interrupted, run it again (on any device) to finish.
    Rotate,
    /// Print the vault state code: the seq of the last verified vault head and four
    /// words. Two devices at the same head print the same; compare them out of band.
    StateCode,
    /// The server has less than this device saw (a sync failed with SERVER_BEHIND or
    /// ROLLBACK: restored from a backup?): upload this device's records again. Deletes
    /// nothing on the server; other devices merge theirs in on their next sync.
    Reseed,
    /// Revoke this device's token and delete the store file.
    Logout,
    /// Delete the store file without asking the server (a device told DEVICE_REVOKED):
    /// edits it never pushed are lost.
    Erase,
    /// Join USERNAME's account on SERVER without the password: prints a phrase, waits
    /// for a device of the account to approve (`vaultsync approve`), keeps the store.
    Link {
        server: String,
        username: String,
        /// How the other devices list this one.
        #[arg(long, default_value = "vaultsync-cli")]
        label: String,
    },
    /// List requests to join this account, with their phrases (JSON lines).
    Links,
    /// Approve a request to join, if PHRASE is the one the new device shows.
    Approve { request_id: String, phrase: String },
    /// Deny a request to join.
    Deny { request_id: String },
    /// List the account's devices (JSON lines).
    Devices,
    /// Revoke a device: its tokens stop working at once.
    RevokeDevice { device_id: u64 },
}
