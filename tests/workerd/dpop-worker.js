// DPoP in workerd (no IndexedDB: a RefreshClient keeps its key in memory): the dev server's
// DPoP session made with this isolate's key, then refresh() and RefreshClient with it.
import { RefreshClient, createDpopKeyPair, createDpopProof, dpopThumbprint, refresh } from "./pkg/workerd.js";

export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("ready");
    const { base } = await request.json();
    try {
      const keyPair = await createDpopKeyPair();
      const sessionUrl = `${base}/dev/session`;
      const minted = await (await fetch(sessionUrl, { method: "POST", headers: { DPoP: await createDpopProof(keyPair, { method: "POST", url: sessionUrl }) }, body: JSON.stringify({ dpopNonce: true }) })).json();
      const r = await refresh(minted.refreshToken, { baseUrl: base, dpop: keyPair });
      const client = new RefreshClient({ baseUrl: base, dpop: true, crossTab: false, autoRefresh: false });
      const clientMinted = await (await fetch(sessionUrl, { method: "POST", headers: { DPoP: (await client.dpopHeaders("POST", sessionUrl)).DPoP } })).json();
      await client.setSession({ refreshToken: clientMinted.refreshToken });
      await client.refresh();
      const me = await client.authFetch(`${base}/me`);
      const result = { jkt: await dpopThumbprint(keyPair), bound: minted.jkt, tokenType: r.tokenType, nonce: typeof r.dpopNonce, cnf: r.claims.cnf.jkt, me: me.status, clientJkt: client.dpopThumbprint, clientBound: clientMinted.jkt };
      client.dispose();
      return Response.json(result);
    } catch (e) {
      return Response.json({ error: String(e?.code ?? e), message: String(e?.message ?? e) });
    }
  },
};
