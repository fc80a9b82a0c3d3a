// Compiled with `tsc --strict --noEmit` by tests/node.test.mjs: the package's types are real
// types (a wrong call below the @ts-expect-error lines must fail to compile).
import init, {
  createVault,
  unlock,
  recover,
  limits,
  SyncClient,
  type SyncEvent,
  type SyncProgress,
  type Vault,
  type LinkRequest,
  type LinkOffer,
  type DeviceInfo,
  type PastVersion,
  type DeletedRecord,
  type VaultsyncError,
} from "vaultsync";

async function main(): Promise<string> {
  await init();
  const created = await createVault("pw", limits().minIterations);
  const vault: Vault = created.vault;
  const id: string = vault.newRecordId();
  const sealed: string = vault.sealText(id, 1, false, JSON.stringify({ a: 1 }));
  const bytes: Uint8Array = vault.open(id, 1, false, sealed);
  const again: Vault = await unlock(created.envelope, "pw");
  const envelope: string = await again.changePassword("pw2");
  const recovered = await recover(envelope, created.recoveryCode, "pw3");
  const ids: Uint32Array = recovered.vault.keyIds();
  // @ts-expect-error version must be a number
  vault.seal(id, "1", false, bytes);
  // @ts-expect-error unlock returns a Promise<Vault>, not a Vault
  const notAwaited: Vault = unlock(envelope, "pw");
  void notAwaited;
  try {
    await unlock(envelope, "wrong");
  } catch (e) {
    const code: VaultsyncError["code"] = (e as VaultsyncError).code;
    if (code === "WRONG_PASSWORD") return `${ids.length}`;
  }
  return "";
}
void main;

async function syncing(): Promise<number> {
  const { client, recoveryCode } = await SyncClient.register("http://127.0.0.1:8787", "u", "p");
  const other: SyncClient = await SyncClient.login("http://127.0.0.1:8787", "u", "p", {
    conflictPolicy: "server-wins",
    tokenLabel: "laptop",
  });
  const id: string = client.put({ title: "x" });
  client.put({ title: "y" }, id);
  const value: unknown = await other.get(id);
  const events: SyncEvent[] = await client.sync();
  for (const e of events) if (e.type === "conflict") void e.conflicts[0].path;
  // Live updates: options are optional and typed.
  client.live();
  client.live({ onChange: (changes: SyncEvent[]) => void changes.length, onConnection: (up: boolean) => void up, pollMs: 0 });
  // @ts-expect-error pollMs is a number
  client.live({ pollMs: "often" });
  client.stopLive();
  const saved: string = client.save();
  const resumed: SyncClient = await SyncClient.resume("http://127.0.0.1:8787", saved, "p");
  // @ts-expect-error conflictPolicy is one of three names
  await SyncClient.login("http://127.0.0.1:8787", "u", "p", { conflictPolicy: "mine" });
  // @ts-expect-error get() resolves to unknown, not any
  const n: number = await resumed.get(id);
  void [recoveryCode, value, n];
  // Recovery, key rotation with progress, and an application's own fetch.
  const progress: SyncProgress[] = [];
  const back: SyncClient = await SyncClient.recover("http://127.0.0.1:8787", "u", recoveryCode, "new", {
    onProgress: (p) => progress.push(p),
    fetch: (url, init) => fetch(url, init),
  });
  const pending: boolean = back.rotationPending;
  const rotated: SyncEvent[] = await back.rotateKeys();
  for (const p of progress) if (p.phase === "rotate") void (p.done / p.total);
  // @ts-expect-error fetch must be a function
  await SyncClient.login("http://127.0.0.1:8787", "u", "p", { fetch: "https://proxy" });
  void [pending, rotated];
  // Linking a device without the password, and the devices list.
  const request: LinkRequest = SyncClient.requestLink("http://127.0.0.1:8787", "u", "phone");
  const words: string = request.phrase;
  const offers: LinkOffer[] = await back.pendingLinks();
  if (offers[0]?.phrase === words) await back.approveLink(offers[0].requestId);
  const phone: SyncClient = await request.approved();
  const devices: DeviceInfo[] = await phone.devices();
  const others = devices.filter((d) => !d.current);
  if (others[0]) await phone.revokeDevice(others[0].id);
  // @ts-expect-error a device id is a number
  await phone.revokeDevice("1");
  const past: PastVersion[] = await phone.history("id");
  if (past[0]) await phone.restore("id", past[0].version);
  const gone: DeletedRecord[] = await phone.deletedRecords();
  if (gone[0]) await phone.restore(gone[0].record_id, gone[0].version);
  const guarded = await SyncClient.login("http://127.0.0.1:8787", "alice", "pw", { massDelete: { min: 50, percent: 25 } });
  const unguarded = await SyncClient.login("http://127.0.0.1:8787", "alice", "pw", { massDelete: false });
  const held: string[] = guarded.heldDeletions();
  const applied: SyncEvent[] = guarded.confirmDeletions();
  const kept: number = unguarded.keepDeletions() + guarded.status().heldDeletions;
  const removed: number = guarded.deleteMany(held, { confirmed: true });
  for (const e of await guarded.sync()) if (e.type === "deletionsHeld") void e.count;
  // @ts-expect-error the guard is false or an object
  await SyncClient.login("http://127.0.0.1:8787", "alice", "pw", { massDelete: true });
  void [applied, kept, removed];
  await phone.erase();
  return (await resumed.tokens()).length + resumed.pendingCount;
}
void syncing;
