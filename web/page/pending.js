/**
 * An HR upload that is not finished, kept in this browser's IndexedDB so that a closed tab
 * resumes it: the prepared sealed batches exactly as they will be sent again (shares sealed to
 * the nodes, never the plaintext pay), the SHA-256 of the participation tokens each batch uses
 * (the tokens themselves are given again to resume, as salary-submit --resume asks for them),
 * and which nodes acknowledged each batch.  A run is deleted once every node acknowledged every
 * batch.
 */

const DB = "salary-page";
const STORE = "runs";

/**
 * @typedef {{prepared: any, tokenHashes: string[], acked: number[]}} PendingBatch
 * @typedef {{id: string, surveyId: string, manifestHash: string, rows: number, createdAt: string,
 *   batches: PendingBatch[]}} PendingRun
 */

/** @returns {Promise<IDBDatabase>} */
function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Run ``fn`` on the store in one transaction; resolves when the transaction commits.
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T> | void} fn
 * @returns {Promise<T | undefined>}
 */
async function withStore(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode, { durability: "strict" });
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req ? req.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/**
 * Keep (or replace) a run.
 * @param {PendingRun} run
 */
export function saveRun(run) {
  return withStore("readwrite", (s) => s.put(run));
}

/**
 * The unfinished runs of this survey and manifest.
 * @param {string} surveyId
 * @param {string} manifestHash
 * @returns {Promise<PendingRun[]>}
 */
export async function runsOf(surveyId, manifestHash) {
  const all = /** @type {PendingRun[]} */ (await withStore("readonly", (s) => s.getAll())) ?? [];
  return all.filter((r) => r.surveyId === surveyId && r.manifestHash === manifestHash);
}

/** @param {string} id */
export function deleteRun(id) {
  return withStore("readwrite", (s) => s.delete(id));
}
