const $ = (id) => document.getElementById(id);
const send = async (message) => {
  const answer = await chrome.runtime.sendMessage(message);
  if (!answer.ok) throw new Error(`${answer.code}: ${answer.message}`);
  return answer.result;
};
const show = (x) => ($("out").textContent = typeof x === "string" ? x : JSON.stringify(x, null, 2));
const run = (f) => () => f().then(show, (e) => show(e.message));

$("create").onclick = run(async () => {
  const { recoveryCode } = await send({ type: "create", password: $("password").value });
  return `Vault created. Write down your recovery code, it is shown once:\n${recoveryCode}`;
});
$("unlock").onclick = run(async () => {
  await send({ type: "unlock", password: $("password").value });
  return send({ type: "list" });
});
$("lock").onclick = run(async () => (await send({ type: "lock" }), "Locked."));
$("add").onclick = run(async () => {
  await send({ type: "put", value: { url: $("url").value } });
  return send({ type: "list" });
});
