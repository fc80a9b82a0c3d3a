// @ts-check
// The browser's bookmarks as vaultsync records. Each bookmark or folder is one record:
//   { kind: "bookmark" | "folder", title, url?, parent, index }
// where `parent` is the parent's record id, or "root:bookmarks-bar" / "root:other" for the
// browser's own folders (matched by folderType, as their ids differ between browsers).
// chrome.storage.local maps record ids to this profile's bookmark ids ("r2l:<record>",
// "l2r:<bookmark>"): ids only, no titles or URLs.

/** @typedef {{ kind: "bookmark" | "folder", title: string, url?: string, parent: string, index: number }} Value */
/** @typedef {import("./vendor/vaultsync.js").SyncClient} SyncClient */
/** @typedef {chrome.bookmarks.BookmarkTreeNode} Node */

/** Calls while the extension writes remote changes into the tree: their events are its own. */
let applying = 0;
export const isApplying = () => applying > 0;

/** @param {string} localId @returns {Promise<string | undefined>} */
export async function recordOf(localId) {
  return /** @type {string | undefined} */ ((await chrome.storage.local.get(`l2r:${localId}`))[`l2r:${localId}`]);
}
/** @param {string} recordId @returns {Promise<string | undefined>} */
async function localOf(recordId) {
  return /** @type {string | undefined} */ ((await chrome.storage.local.get(`r2l:${recordId}`))[`r2l:${recordId}`]);
}
/** @param {string} recordId @param {string} localId */
async function link(recordId, localId) {
  await chrome.storage.local.set({ [`r2l:${recordId}`]: localId, [`l2r:${localId}`]: recordId });
}
/** @param {string} recordId @param {string | undefined} localId */
async function unlink(recordId, localId) {
  await chrome.storage.local.remove([`r2l:${recordId}`, ...(localId ? [`l2r:${localId}`] : [])]);
}

/** The browser's own folders: folderType -> local id, and back. */
async function roots() {
  const [tree] = await chrome.bookmarks.getTree();
  /** @type {Map<string, string>} */
  const byType = new Map();
  for (const child of tree.children ?? []) {
    const type = /** @type {any} */ (child).folderType ?? (child.id === "1" ? "bookmarks-bar" : "other");
    byType.set(type, child.id);
  }
  return byType;
}

/** @param {string} localId */
async function isRoot(localId) {
  for (const id of (await roots()).values()) if (id === localId) return true;
  return localId === "0";
}

/** The record value of a bookmark node, or undefined for the roots. @param {Node} node @returns {Promise<Value | undefined>} */
async function valueOf(node) {
  if (!node.parentId || (await isRoot(node.id))) return undefined;
  let parent;
  for (const [type, id] of await roots()) if (id === node.parentId) parent = `root:${type}`;
  parent ??= await recordOf(node.parentId);
  if (!parent) return undefined; // under a folder not synced yet: its own turn comes first
  /** @type {Value} */
  const value = { kind: node.url ? "bookmark" : "folder", title: node.title, parent, index: node.index ?? 0 };
  if (node.url) value.url = node.url;
  return value;
}

/** JSON with sorted keys (the package returns objects with sorted keys). @param {unknown} v @returns {string} */
const canonical = (v) =>
  v && typeof v === "object" && !Array.isArray(v)
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(/** @type {any} */ (v)[k])}`).join(",")}}`
    : JSON.stringify(v);
/** @param {unknown} a @param {unknown} b */
const same = (a, b) => canonical(a) === canonical(b);

/** An index that exists under `parentId` (remote indexes may run past this tree's end). @param {string} parentId @param {number} index */
const clamp = async (parentId, index) => Math.min(index, (await chrome.bookmarks.getChildren(parentId)).length);

/**
 * A local bookmark node changed (created, edited, moved): its record follows. Returns
 * whether a record changed (the caller syncs soon).
 * @param {SyncClient} client @param {string} localId
 */
export async function localChanged(client, localId) {
  const [node] = await chrome.bookmarks.get(localId).catch(() => []);
  if (!node) return false;
  // A parent not synced yet (its event not handled yet) goes first.
  if (node.parentId && !(await isRoot(node.parentId)) && !(await recordOf(node.parentId))) {
    await localChanged(client, node.parentId);
  }
  const value = await valueOf(node);
  if (!value) return false;
  const recordId = await recordOf(localId);
  if (recordId && same(await client.get(recordId), value)) return false; // our own write coming back
  const id = client.put(value, recordId);
  if (!recordId) await link(id, localId);
  // A folder's children (a folder created with content, or moved) follow it.
  for (const child of node.children ?? (await chrome.bookmarks.getChildren(localId))) {
    if (!(await recordOf(child.id))) await localChanged(client, child.id);
  }
  return true;
}

/**
 * A local node (and, for a folder, everything in it) was removed: their records are
 * deleted, unless that is a mass deletion (more than the package's guard allows: a folder
 * with most of the bookmarks, a tree wiped by mistake). Then nothing is deleted and the
 * removal is held until the user confirms or restores it (`confirmRemoval`,
 * `restoreRemoval`). @param {SyncClient} client @param {Node} node
 */
export async function localRemoved(client, node) {
  /** @type {string[]} */
  const ids = [];
  /** @param {Node} n */
  const collect = async (n) => {
    for (const child of n.children ?? []) await collect(child);
    const recordId = await recordOf(n.id);
    if (recordId) ids.push(recordId);
  };
  await collect(node);
  return removeRecords(client, ids);
}

/** Deletes records whose bookmarks are gone, through the guard. @param {SyncClient} client @param {string[]} ids */
async function removeRecords(client, ids) {
  if (ids.length === 0) return false;
  try {
    client.deleteMany(ids);
  } catch (e) {
    if (/** @type {any} */ (e).code !== "MASS_DELETE") throw e;
    const held = await heldRemoval();
    await chrome.storage.local.set({ heldRemoval: [...new Set([...held, ...ids])] });
    return false;
  }
  for (const id of ids) await unlink(id, await localOf(id));
  return true;
}

/** The records of bookmarks removed here in a mass deletion, waiting for the user (ids only). @returns {Promise<string[]>} */
export async function heldRemoval() {
  return /** @type {string[]} */ ((await chrome.storage.local.get("heldRemoval")).heldRemoval ?? []);
}

/** The user confirms the held removal: the records are deleted on every device. @param {SyncClient} client */
export async function confirmRemoval(client) {
  const ids = await heldRemoval();
  const deleted = client.deleteMany(ids, { confirmed: true });
  for (const id of ids) await unlink(id, await localOf(id));
  await chrome.storage.local.remove("heldRemoval");
  return deleted;
}

/** The user restores the held removal: the bookmarks come back from the vault. @param {SyncClient} client */
export async function restoreRemoval(client) {
  const ids = await heldRemoval();
  applying++;
  try {
    for (const id of ids) await unlink(id, await localOf(id)); // their nodes are gone
    for (const id of ids) if (!(await localOf(id))) await place(client, id);
  } finally {
    applying--;
  }
  await chrome.storage.local.remove("heldRemoval");
  return ids.length;
}

/**
 * Every local node against its record: new or changed nodes are written, records whose node
 * is gone are deleted through the mass-deletion guard (what happened while the vault was
 * locked; the first upload).
 * @param {SyncClient} client
 */
export async function reconcile(client) {
  const [tree] = await chrome.bookmarks.getTree();
  let changed = false;
  /** @type {Set<string>} */
  const seen = new Set();
  /** @param {Node} node */
  const walk = async (node) => {
    if (node.id !== "0" && !(await isRoot(node.id))) {
      changed = (await localChanged(client, node.id)) || changed;
      const recordId = await recordOf(node.id);
      if (recordId) seen.add(recordId);
    }
    for (const child of node.children ?? []) await walk(child);
  };
  await walk(tree);
  const held = new Set(await heldRemoval());
  /** @type {string[]} */
  const gone = [];
  for (const { id } of (await client.records())) {
    if (!seen.has(id) && !held.has(id) && (await localOf(id))) gone.push(id);
  }
  return (await removeRecords(client, gone)) || changed;
}

/**
 * Writes what a sync brought into the tree: records created, changed, moved or deleted on
 * other devices. Folders are created before what they hold.
 * @param {SyncClient} client @param {any[]} events
 */
export async function applyRemote(client, events) {
  applying++;
  try {
    for (const event of events) {
      if (event.type === "deleted") {
        const localId = await localOf(event.id);
        if (localId) await chrome.bookmarks.removeTree(localId).catch(() => {});
        await unlink(event.id, localId);
      } else if (event.type === "changed" || event.type === "conflict") {
        await place(client, event.id);
      }
    }
  } finally {
    applying--;
  }
}

/**
 * Makes the local tree hold record `recordId` as its value says (creating its parent
 * first); returns its local id. @param {SyncClient} client @param {string} recordId
 * @returns {Promise<string | undefined>}
 */
async function place(client, recordId) {
  const value = /** @type {Value | undefined} */ (await client.get(recordId));
  if (!value) return undefined;
  const parentId = value.parent.startsWith("root:")
    ? (await roots()).get(value.parent.slice(5))
    : (await localOf(value.parent)) ?? (await place(client, value.parent));
  if (!parentId) return undefined;
  const localId = await localOf(recordId);
  const [node] = localId ? await chrome.bookmarks.get(localId).catch(() => []) : [];
  if (!node) {
    const created = await chrome.bookmarks.create({
      parentId,
      index: await clamp(parentId, value.index),
      title: value.title,
      ...(value.kind === "bookmark" ? { url: value.url } : {}),
    });
    await link(recordId, created.id);
    return created.id;
  }
  if (node.title !== value.title || (value.kind === "bookmark" && node.url !== value.url)) {
    await chrome.bookmarks.update(node.id, { title: value.title, ...(value.kind === "bookmark" ? { url: value.url } : {}) });
  }
  if (node.parentId !== parentId || node.index !== value.index) {
    await chrome.bookmarks.move(node.id, { parentId, index: await clamp(parentId, value.index) });
  }
  return node.id;
}
