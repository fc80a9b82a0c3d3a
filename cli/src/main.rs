//! `vaultsync`: a small command line client of a vaultsync server, for scripts, ops and
//! load tests. The vault (records, pending edits, device token) lives in a store file
//! (SQLite, every entry sealed under the vault's state key; `FORMAT.md`, "Device store"),
//! written as it changes; every command needs the password
//! (`VAULTSYNC_PASSWORD`, or one line on stdin), except `recover`, which takes the
//! recovery code and a new password instead.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod command;
mod devices;
mod guard;
mod watch;

use command::Command;

use clap::Parser;
use vaultsync::client::{Client, ClientError, Options};
use vaultsync::crypto::{Password, RecordId, RecoveryCode};
use vaultsync::sync::{ConflictPolicy, Event, Progress};

/// vaultsync command line client. Records are JSON values, encrypted on this machine.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The store file (created by register or login; holds no secret in the clear). A
    /// session file of an earlier version at this path is moved into a store.
    #[arg(long, env = "VAULTSYNC_SESSION", global = true)]
    session: Option<PathBuf>,

    /// PBKDF2 iterations of a new vault (register), or of the new password (recover; never
    /// fewer than the vault's).
    #[arg(long, default_value_t = 600_000, global = true)]
    iterations: u32,

    /// Who wins a field both devices changed: keep-local, server-wins or client-wins.
    #[arg(long, default_value = "keep-local", global = true)]
    conflicts: String,

    /// The mass-deletion guard, MIN:PERCENT: a sync that would delete more than MIN
    /// records and more than PERCENT % of them holds the deletions (see `held`); so does
    /// `delete` without --confirm. "off" turns it off.
    #[arg(
        long,
        env = "VAULTSYNC_MASS_DELETE",
        default_value = "20:50",
        global = true
    )]
    mass_delete: String,

    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("vaultsync: {message}");
            ExitCode::FAILURE
        }
    }
}

struct Failure(String);

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let advice = match e.code().as_str() {
            "DEVICE_REVOKED" => {
                "\nthis device was revoked by another device of the account; `vaultsync erase` \
                 deletes its store file (edits it never pushed are lost)"
            }
            _ => "",
        };
        let advice = match e.code().as_str() {
            "MASS_DELETE" => "\nrun it again with --confirm to delete them anyway",
            _ => advice,
        };
        Self(format!("{e} [{}]{advice}", e.code()))
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

fn session_path(cli: &Cli) -> Result<PathBuf, Failure> {
    if let Some(path) = &cli.session {
        return Ok(path.clone());
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(Path::new(&home).join(".vaultsync").join("session")),
        None => fail("no --session given and no HOME to put the session in"),
    }
}

fn password() -> Result<Password, Failure> {
    secret("VAULTSYNC_PASSWORD", "password").map(Password::new)
}

fn new_password() -> Result<Password, Failure> {
    secret("VAULTSYNC_NEW_PASSWORD", "new password").map(Password::new)
}

/// A secret from the environment variable `var`, or else one line of stdin.
fn secret(var: &str, what: &str) -> Result<String, Failure> {
    if let Ok(value) = std::env::var(var) {
        if !value.is_empty() {
            return Ok(value);
        }
    }
    if std::io::stdin().is_terminal() {
        eprint!("{what}: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure(format!("cannot read the {what}: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return fail(format!("no {what} (set {var} or give one line on stdin)"));
    }
    Ok(line)
}

fn options(cli: &Cli) -> Result<Options, Failure> {
    let policy = match cli.conflicts.as_str() {
        "keep-local" => ConflictPolicy::KeepLocal,
        "server-wins" => ConflictPolicy::ServerWins,
        "client-wins" => ConflictPolicy::ClientWins,
        other => return fail(format!("unknown conflict policy {other:?}")),
    };
    Ok(Options {
        iterations: cli.iterations,
        policy,
        mass_delete: guard::parse(&cli.mass_delete)?,
        ..Options::default()
    })
}

/// Keeps a client logged in afresh in the store file at `path` (replacing what it held).
fn keep(path: &Path, client: &mut Client) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(client.keep_in(path)?)
}

/// Opens the store file; a session file of an earlier version (the server URL, then a
/// saved session) is moved into a store first.
fn open(path: &Path, options: &Options) -> Result<Client, Failure> {
    let head = std::fs::read(path).map_err(|e| {
        Failure(format!(
            "no store at {} ({e}); run register or login first",
            path.display()
        ))
    })?;
    if head.starts_with(b"http") {
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.lines();
        let (Some(server), Some(saved)) = (lines.next(), lines.next()) else {
            return fail(format!("{} is not a vaultsync session", path.display()));
        };
        let mut client = Client::resume(server, saved, &password()?, options)?;
        let old = path.with_extension("old-session");
        std::fs::rename(path, &old)
            .map_err(|e| Failure(format!("cannot move {}: {e}", path.display())))?;
        keep(path, &mut client)?;
        let _ = std::fs::remove_file(&old);
        eprintln!("moved the session in {} into a store", path.display());
        return Ok(client);
    }
    let client = Client::open(path, &password()?, options)?;
    if client.refused_entries() > 0 {
        eprintln!(
            "{} record(s) in the store did not open (modified or damaged): the next sync brings them back",
            client.refused_entries()
        );
    }
    Ok(client)
}

fn record_id(text: &str) -> Result<RecordId, Failure> {
    RecordId::parse(text).map_err(|_| Failure(format!("{text:?} is not a record id")))
}

fn json_value(text: &str) -> Result<serde_json::Value, Failure> {
    let text = if text == "-" {
        let mut all = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut all)
            .map_err(|e| Failure(format!("cannot read stdin: {e}")))?;
        all
    } else {
        text.to_string()
    };
    serde_json::from_str(&text).map_err(|e| Failure(format!("VALUE is not JSON: {e}")))
}

fn print_progress(progress: Progress) {
    match progress {
        Progress::Rotate { done, total } => eprintln!("re-sealed {done} of {total} records"),
        Progress::Push { done, pending } => eprintln!("pushed {done}, {pending} pending"),
        Progress::Pull { done, .. } => eprintln!("pulled {done} changes"),
    }
}

/// One event as a JSON line, in the npm package's form.
fn print_event(event: &Event) {
    println!("{}", vaultsync_wire::json::to_string(event));
}

fn run(cli: Cli) -> Result<(), Failure> {
    let path = session_path(&cli)?;
    let options = options(&cli)?;
    match &cli.command {
        Command::Register { server, username } => {
            let (mut client, recovery) =
                Client::register(server, username, &password()?, &options)?;
            keep(&path, &mut client)?;
            eprintln!("registered {username}; store in {}", path.display());
            eprintln!("recovery code (write it down, it is shown once):");
            println!("{}", recovery.to_text().as_str());
        }
        Command::Login { server, username } => {
            let mut client = Client::login(server, username, &password()?, &options)?;
            keep(&path, &mut client)?;
            let events = client.sync()?;
            eprintln!(
                "logged in as {username}: {} records; store in {}",
                client.engine().records().count(),
                path.display()
            );
            drop(events);
        }
        Command::Put { value, id } => {
            let value = json_value(value)?;
            let id = id.as_deref().map(record_id).transpose()?;
            let mut client = open(&path, &options)?;
            let id = client.put(id, value)?;
            println!("{id}");
        }
        Command::Get { id } => {
            let id = record_id(id)?;
            let client = open(&path, &options)?;
            match client.get(&id) {
                Some(value) => println!("{value}"),
                None => return fail(format!("no record {id}")),
            }
        }
        Command::List => {
            let client = open(&path, &options)?;
            for (id, value) in client.engine().records() {
                println!(
                    "{}",
                    serde_json::json!({ "id": id.to_string(), "value": value })
                );
            }
        }
        Command::Delete { ids, confirm } => {
            guard::delete(&mut open(&path, &options)?, ids, *confirm)?;
        }
        Command::Held => guard::held(&open(&path, &options)?),
        Command::ConfirmDeletions => guard::confirm(&mut open(&path, &options)?)?,
        Command::KeepDeletions => guard::keep(&mut open(&path, &options)?)?,
        Command::History { id } => {
            let id = record_id(id)?;
            let client = open(&path, &options)?;
            for past in client.history(&id)? {
                println!("{}", vaultsync_wire::json::to_string(&past));
            }
        }
        Command::Deleted => {
            let client = open(&path, &options)?;
            for record in client.deleted_records()? {
                println!("{}", vaultsync_wire::json::to_string(&record));
            }
        }
        Command::Restore { id, version } => {
            let id = record_id(id)?;
            let mut client = open(&path, &options)?;
            client.restore(&id, *version)?;
            client.sync()?.iter().for_each(print_event);
            eprintln!("restored version {version} of {id} as a new version");
        }
        Command::Sync => {
            let mut client = open(&path, &options)?;
            let result = client.sync();
            if result.is_err() && client.server_behind() {
                eprintln!(
                    "the server has less than this device saw (restored from a backup?); \
                     if so, `vaultsync reseed` uploads this device's records again"
                );
            }
            let events = result?;
            events.iter().for_each(print_event);
            eprintln!(
                "synced: {} change(s) here, {} edit(s) still pending",
                events.len(),
                client.engine().pending_count()
            );
            guard::tell_held(&client);
        }
        Command::Watch => watch::watch(&mut open(&path, &options)?)?,
        Command::Link {
            server,
            username,
            label,
        } => devices::link(&path, server, username, label, &options)?,
        Command::Links => devices::links(&open(&path, &options)?)?,
        Command::Approve { request_id, phrase } => {
            devices::approve(&open(&path, &options)?, request_id, phrase)?;
        }
        Command::Deny { request_id } => devices::deny(&open(&path, &options)?, request_id)?,
        Command::Devices => devices::devices(&open(&path, &options)?)?,
        Command::RevokeDevice { device_id } => open(&path, &options)?.revoke_device(*device_id)?,
        Command::StateCode => {
            let client = open(&path, &options)?;
            match client.state_code() {
                Some(code) => println!("{code}"),
                None => return fail("no vault head verified yet: sync first"),
            }
        }
        Command::Reseed => {
            let mut client = open(&path, &options)?;
            let result = client.reseed();
            let events = result?;
            events.iter().for_each(print_event);
            eprintln!(
                "re-seeded: the server holds this device's records under head {}",
                client.state_code().unwrap_or_default()
            );
        }
        Command::Tokens => {
            let client = open(&path, &options)?;
            for token in client.tokens()? {
                println!(
                    "{}",
                    serde_json::to_string(&token).map_err(|e| Failure(e.to_string()))?
                );
            }
        }
        Command::Revoke { token_id } => {
            let client = open(&path, &options)?;
            client.revoke_token(*token_id)?;
        }
        Command::ChangePassword => {
            let mut client = open(&path, &options)?;
            client.change_password(&new_password()?, None)?;
            eprintln!("password changed; other devices learn it on their next sync");
        }
        Command::Recover { server, username } => {
            let code = secret("VAULTSYNC_RECOVERY_CODE", "recovery code")?;
            let code =
                RecoveryCode::parse(&code).map_err(|e| Failure(format!("{e} [{}]", e.code())))?;
            let new_password = new_password()?;
            let mut client = Client::recover(server, username, &code, &new_password, &options)?;
            keep(&path, &mut client)?;
            client.sync()?;
            eprintln!(
                "recovered {username} with a new password: {} records; store in {}",
                client.engine().records().count(),
                path.display()
            );
        }
        Command::Rotate => {
            let mut client = open(&path, &options)?;
            let result = client.rotate(&mut print_progress);
            result?.iter().for_each(print_event);
            eprintln!(
                "key rotation complete: every record is sealed under key {}",
                client.vault().current_key_id()
            );
        }
        Command::Logout | Command::Erase => {
            if matches!(cli.command, Command::Logout) {
                let client = open(&path, &options)?;
                client.logout()?;
            }
            std::fs::remove_file(&path)
                .map_err(|e| Failure(format!("cannot remove {}: {e}", path.display())))?;
            for extra in ["-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(extra);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
            let done = if matches!(cli.command, Command::Logout) {
                "logged out"
            } else {
                "erased"
            };
            eprintln!("{done}; {} removed", path.display());
        }
    }
    Ok(())
}
