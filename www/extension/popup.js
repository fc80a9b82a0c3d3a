// @ts-check
// The popup: log in or create an account (the recovery code is shown once), unlock, lock,
// sync now, and the sync status. Everything runs in the service worker; this page only
// sends messages.
/** @param {string} id */
const $ = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** @param {Record<string, unknown>} message */
async function send(message) {
  const answer = await chrome.runtime.sendMessage(message);
  if (!answer.ok) throw Object.assign(new Error(answer.message), { code: answer.code });
  return answer.result;
}

/** @param {any} status */
function render(status) {
  $("connect").hidden = !!status.account;
  $("unlock").hidden = !status.account || !status.locked;
  $("unlocked").hidden = !status.account || status.locked;
  const when = status.lastSyncAt ? new Date(status.lastSyncAt).toLocaleTimeString() : "never";
  $("state").textContent = !status.account
    ? "Not connected."
    : status.locked
      ? `${status.account.username} at ${status.account.server}: locked.`
      : `${status.account.username}: ${status.syncing ? "syncing…" : `last sync ${when}`}, ${status.pending} change(s) waiting; ${status.live ? "live" : "syncs every minute (live channel down)"}.`;
  $("error").textContent = status.lastError ? `Last error: ${status.lastError.code}: ${status.lastError.message}` : "";
  // Mass deletions wait for the user: nothing is deleted until a button says so.
  const held = status.locked ? 0 : status.heldDeletions ?? 0;
  $("held").hidden = held === 0;
  $("held-text").textContent = `Another browser deleted ${held} bookmark(s), most of your bookmarks. They are still here.`;
  const removed = status.locked ? 0 : status.heldRemoval ?? 0;
  $("removal").hidden = removed === 0;
  $("removal-text").textContent = `${removed} bookmark(s) were removed here at once. Other browsers still have them.`;
}

/** @param {() => Promise<any>} action */
const run = (action) => async () => {
  $("error").textContent = "";
  try {
    render(await action());
  } catch (e) {
    $("error").textContent = `${/** @type {any} */ (e).code ?? "ERROR"}: ${/** @type {Error} */ (e).message}`;
  }
};

/** @param {boolean} register */
const connect = (register) => async () => {
  // The server's origin needs the user's permission (loopback is granted in the manifest).
  const server = $("server").value.trim();
  if (server.startsWith("https://")) {
    const origin = new URL(server).origin;
    if (!(await chrome.permissions.request({ origins: [`${origin}/*`] }))) {
      throw Object.assign(new Error(`access to ${origin} was not granted`), { code: "PERMISSION" });
    }
  }
  const answer = await send({ type: "connect", register, server: $("server").value, username: $("username").value, password: $("password").value });
  $("password").value = "";
  if (answer.recoveryCode) {
    $("code").hidden = false;
    $("code").textContent = `Write down your recovery code; it is shown only now:\n${answer.recoveryCode}`;
  }
  return answer.status;
};

$("login").onclick = run(connect(false));
$("register").onclick = run(connect(true));
$("do-unlock").onclick = run(async () => {
  const status = await send({ type: "unlock", password: $("unlock-password").value });
  $("unlock-password").value = "";
  return status;
});
$("lock").onclick = run(() => send({ type: "lock" }));
$("sync").onclick = run(() => send({ type: "sync" }));
for (const type of ["confirmDeletions", "keepDeletions", "confirmRemoval", "restoreRemoval"]) {
  $(type.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).onclick = run(() => send({ type }));
}
run(() => send({ type: "status" }))();
