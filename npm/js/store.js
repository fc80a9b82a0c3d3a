// The device store's adapters (the `store` option of SyncClient): each holds the entries of
// one namespace (a server and an account) as name -> bytes, and applies a batch of puts and
// deletes in one transaction. The entries are sealed by the package before they get here
// (FORMAT.md, "Device store"); nothing here is plaintext.

/** Entries of the in-memory stores, by namespace (survive a client, not the process). */
const memory = new Map();

class MemoryStore {
  constructor(name) {
    this.name = name;
    if (!memory.has(name)) memory.set(name, new Map());
  }
  get entries() {
    return memory.get(this.name) ?? new Map();
  }
  async get(key) {
    const value = this.entries.get(key);
    return value === undefined ? undefined : value.slice();
  }
  async list(prefix) {
    const out = [];
    for (const [key, value] of this.entries) if (key.startsWith(prefix)) out.push([key, value.slice()]);
    return out;
  }
  async write(puts, deletes) {
    const entries = this.entries;
    for (const [key, value] of puts) entries.set(key, value.slice());
    for (const key of deletes) entries.delete(key);
    memory.set(this.name, entries);
  }
}

const done = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

const committed = (tx) =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("the IndexedDB transaction was aborted"));
  });

/** The bytes as an ArrayBuffer of their own (copied only if the view shares one). */
const own = (bytes) =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;

class IndexedDbStore {
  constructor(name, db) {
    this.name = name;
    this.db = db;
  }
  static async open(name) {
    if (typeof indexedDB === "undefined") throw new Error("IndexedDB is not available here (use store: \"memory\")");
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("entries");
    const db = await done(request);
    // Another tab deleting or upgrading this database: let it, this handle is done.
    db.onversionchange = () => db.close();
    return new IndexedDbStore(name, db);
  }
  async get(key) {
    const tx = this.db.transaction("entries", "readonly");
    const value = await done(tx.objectStore("entries").get(key));
    return value === undefined ? undefined : new Uint8Array(value);
  }
  async list(prefix) {
    const tx = this.db.transaction("entries", "readonly");
    const store = tx.objectStore("entries");
    const range = IDBKeyRange.bound(prefix, prefix + "\uffff");
    const [keys, values] = await Promise.all([done(store.getAllKeys(range)), done(store.getAll(range))]);
    return keys.map((key, i) => [key, new Uint8Array(values[i])]);
  }
  async write(puts, deletes) {
    // Relaxed durability: committed once the data is with the operating system, not once
    // it is on the platter (a killed worker or browser loses nothing committed; a power
    // cut may lose the last writes, as with the native store's SQLite in WAL mode).
    const tx = this.db.transaction("entries", "readwrite", { durability: "relaxed" });
    const store = tx.objectStore("entries");
    // Stored as ArrayBuffers of their own (a view into WASM memory must not be kept).
    for (const [key, value] of puts) store.put(own(value), key);
    for (const key of deletes) store.delete(key);
    await committed(tx);
  }
}

/**
 * Reads several entries at once (an array of Uint8Array or undefined): one at a time, 256
 * reads of IndexedDB took 117 ms; started together, about 40 ms.
 */
export function readMany(store, keys) {
  return Promise.all(keys.map((key) => store.get(key)));
}

/** Deletes every entry of a store (`client.erase()`), in one batch. */
export async function eraseAll(store) {
  const entries = await store.list("");
  await store.write([], entries.map(([key]) => key));
}

/** The store `kind` ("indexeddb", "memory", or an object with the same methods) for `name`. */
export async function openStore(kind, name) {
  if (kind === "memory") return new MemoryStore(name);
  if (kind === "indexeddb") return IndexedDbStore.open(name);
  if (kind && typeof kind === "object" && typeof kind.write === "function") return kind;
  throw new TypeError('store: "indexeddb", "memory" or an object with get, list and write');
}
