// DPoP (RFC 9449) through the platform: WebCrypto signs and hashes, IndexedDB keeps the key pair
// (CryptoKey objects are structured-cloneable, and a non-extractable private key stays so).
// Proof encoding and every decision are in Rust (src/core/dpop.rs, src/js/dpop.rs).

const subtle = () => globalThis.crypto.subtle;

/** A new ES256 key pair; the private key cannot be exported. */
export async function dpopGenerate() {
  return subtle().generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
}

const exported = new WeakMap();
/** The public key as JWK text (a public key is always exportable), exported once per key. */
export async function dpopExportPublic(keyPair) {
  let text = exported.get(keyPair.publicKey);
  if (text === undefined) {
    text = JSON.stringify(await subtle().exportKey("jwk", keyPair.publicKey));
    exported.set(keyPair.publicKey, text);
  }
  return text;
}

/** ES256 over data: the raw r || s a JWS wants. */
export async function dpopSign(keyPair, data) {
  return new Uint8Array(await subtle().sign({ name: "ECDSA", hash: "SHA-256" }, keyPair.privateKey, data));
}

export async function dpopSha256(data) {
  return new Uint8Array(await subtle().digest("SHA-256", data));
}

export function dpopRandom(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

/** A URL as fetch resolves it (a path resolves against the page), or "" when it cannot be. */
export function dpopAbsoluteUrl(url) {
  try {
    return new URL(url, globalThis.location?.href).href;
  } catch {
    return "";
  }
}

let database;
function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** A key store in IndexedDB (where it exists, else null): one record per name, shared by tabs. */
export function dpopIndexedDbStore() {
  if (typeof indexedDB === "undefined") return null;
  const store = async (mode) => {
    database ??= new Promise((resolve, reject) => {
      const open = indexedDB.open("ida-refresh.dpop", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("keys");
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => {
        database = undefined;
        reject(open.error);
      };
    });
    return (await database).transaction("keys", mode).objectStore("keys");
  };
  return {
    get: async (name) => request((await store("readonly")).get(name)),
    // add, not put: when two tabs make a key at once, the first one stored is the one both use.
    set: async (name, keyPair) => request((await store("readwrite")).add(keyPair, name)).catch((e) => {
      if (e?.name !== "ConstraintError") throw e;
    }),
    delete: async (name) => request((await store("readwrite")).delete(name)),
  };
}
