// @ts-check
/** @param {string} id */
const $ = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {Record<string, unknown>} message */
const send = async (message) => {
  const answer = await chrome.runtime.sendMessage(message);
  if (!answer.ok) throw new Error(`${answer.code}: ${answer.message}`);
  return answer.result;
};
/** @param {unknown} x */
const show = (x) => ($("out").textContent = typeof x === "string" ? x : JSON.stringify(x, null, 2));
/** @param {() => Promise<unknown>} f */
const run = (f) => () => f().then(show, (e) => show(e.message));
const account = () => ({ server: $("server").value, username: $("username").value, password: $("password").value });

$("register").onclick = run(async () => {
  const { recoveryCode } = await send({ type: "connect", register: true, ...account() });
  return `Account created. Write down your recovery code, it is shown once:\n${recoveryCode}`;
});
$("login").onclick = run(async () => (await send({ type: "connect", ...account() }), send({ type: "list" })));
$("unlock").onclick = run(async () => (await send({ type: "unlock", password: $("password").value }), send({ type: "list" })));
$("lock").onclick = run(async () => (await send({ type: "lock" }), "Locked."));
$("sync").onclick = run(async () => (await send({ type: "sync" })).bookmarks);
$("add").onclick = run(async () => (await send({ type: "bookmark", url: $("url").value }), send({ type: "list" })));
