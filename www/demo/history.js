// The demo's note history: the past versions the server keeps of a note (opened and
// checked in the page, like current notes), each with a button that restores it as a new
// version (history itself is never rewritten).
// @ts-check

const element = (tag, props) => Object.assign(document.createElement(tag), props);
const describe = (value) => (value ? `"${value.title}": ${value.text ?? ""}` : "(deleted)");

/**
 * Shows the history of note `id` under its list item `li`; `restored()` runs after a
 * restore (the app syncs and redraws).
 */
export async function showHistory(client, id, li, guard, restored) {
  li.querySelector(".history")?.remove();
  const past = await client.history(id);
  const box = element("ul", { className: "history" });
  if (!past.length) box.append(element("li", { textContent: "No earlier versions kept." }));
  for (const p of past) {
    const item = element("li", { className: "past" });
    item.dataset.version = String(p.version);
    const restore = element("button", { textContent: "Restore", className: "restore" });
    restore.onclick = guard(async () => {
      await client.restore(id, p.version);
      await restored(p.version);
    });
    item.append(`v${p.version}, replaced ${new Date(p.replacedAt).toLocaleString()}: ${describe(p.value)} `, restore);
    box.append(item);
  }
  li.append(box);
}
