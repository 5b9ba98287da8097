// A real, independently written OAuth 2.0 / OpenID Connect authorization server for interop
// tests: node-oidc-provider (certified), on loopback, from tests/package.json. Interactions are
// finished programmatically (user "user-1" logs in and consents), so tests obtain tokens through
// the real authorization code flow with PKCE.
import crypto from "node:crypto";
import Provider from "oidc-provider";

export const SPA_CLIENT = "spa";
export const WORKER_CLIENT = "worker";
export const WORKER_SECRET = "worker-client-secret-of-some-length";
export const RESOURCE = "https://api.test";
const REDIRECT = "http://127.0.0.1/cb";

export async function startOidcProvider({ port = 0 } = {}) {
  // dpopNonce: the DPoP feature demands server nonces (RFC 9449 section 8 and 9); resource:
  // false makes tokens for the userinfo endpoint instead of the API.
  const state = { rotate: true, dpopNonce: false, resource: true };
  const signingKey = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  const server = (await import("node:http")).createServer();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      { client_id: SPA_CLIENT, token_endpoint_auth_method: "none", grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], response_types: ["code"], id_token_signed_response_alg: "ES256" },
      { client_id: WORKER_CLIENT, client_secret: WORKER_SECRET, token_endpoint_auth_method: "client_secret_basic", grant_types: ["authorization_code", "refresh_token"], redirect_uris: [REDIRECT], response_types: ["code"], id_token_signed_response_alg: "ES256" },
    ],
    jwks: { keys: [{ ...signingKey, kid: "as-key-1", use: "sig", alg: "ES256" }] },
    scopes: ["openid", "offline_access", "api"],
    enabledJWA: { dPoPSigningAlgValues: ["ES256", "Ed25519", "EdDSA", "RS256"] },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => state.dpopNonce },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => (state.resource ? RESOURCE : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: "api", accessTokenFormat: "jwt", accessTokenTTL: 60, audience: RESOURCE, jwt: { sign: { alg: "ES256" } } }),
      },
    },
    rotateRefreshToken: () => state.rotate,
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed("refresh_token") && code.scopes.has("offline_access"),
    // Pages of any origin may call it (the Chromium DPoP test runs on the dev server's origin).
    clientBasedCORS: () => true,
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: 60, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60 },
  });
  provider.proxy = false;
  // The "user": logs in as user-1 and consents to everything asked.
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith("/interaction/")) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === "login") {
      result = { login: { accountId: "user-1" } };
    } else {
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(" "));
      result = { consent: { grantId: await grant.save() } };
    }
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  });
  server.on("request", provider.callback());

  /** The authorization code flow with PKCE, cookies and redirects followed by hand. */
  async function signIn(clientId = SPA_CLIENT, { dpop } = {}) {
    const verifier = crypto.randomBytes(32).toString("base64url");
    const challenge = crypto.createHash("sha256").update(verifier).digest("base64url");
    const jar = new Map();
    const q = new URLSearchParams({ client_id: clientId, response_type: "code", redirect_uri: REDIRECT, scope: "openid offline_access api", prompt: "consent", code_challenge: challenge, code_challenge_method: "S256" });
    if (state.resource) q.set("resource", RESOURCE);
    let url = `${issuer}/auth?${q}`;
    for (let hop = 0; hop < 12; hop++) {
      const r = await fetch(url, { redirect: "manual", headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
      for (const c of r.headers.getSetCookie()) {
        const [pair] = c.split(";");
        const i = pair.indexOf("=");
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      const location = r.headers.get("location");
      if (!location) throw new Error(`sign-in stopped at ${url}: HTTP ${r.status} ${(await r.text()).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(-400)}`);
      url = new URL(location, url).href;
      if (url.startsWith(REDIRECT)) break;
    }
    const code = new URL(url).searchParams.get("code");
    if (!code) throw new Error(`no code in ${url}`);
    const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
    if (state.resource) form.set("resource", RESOURCE);
    const headers = { "content-type": "application/x-www-form-urlencoded" };
    if (clientId === WORKER_CLIENT) headers.authorization = `Basic ${Buffer.from(`${WORKER_CLIENT}:${WORKER_SECRET}`).toString("base64")}`;
    else form.set("client_id", clientId);
    // dpop(method, url, nonce) -> a DPoP proof: the tokens are bound to its key (a nonce the
    // server asks for is sent on a second try).
    let nonce;
    let tokens;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (dpop) headers.dpop = await dpop("POST", `${issuer}/token`, nonce);
      const r = await fetch(`${issuer}/token`, { method: "POST", headers, body: form });
      tokens = await r.json();
      nonce = r.headers.get("dpop-nonce");
      if (tokens.error !== "use_dpop_nonce" || !nonce) break;
    }
    if (!tokens.refresh_token) throw new Error(`no refresh token: ${JSON.stringify(tokens)}`);
    return tokens;
  }

  async function revoke(token, clientId = SPA_CLIENT) {
    const form = new URLSearchParams({ token, token_type_hint: "refresh_token" });
    const headers = { "content-type": "application/x-www-form-urlencoded" };
    if (clientId === WORKER_CLIENT) headers.authorization = `Basic ${Buffer.from(`${WORKER_CLIENT}:${WORKER_SECRET}`).toString("base64")}`;
    else form.set("client_id", clientId);
    const r = await fetch(`${issuer}/token/revocation`, { method: "POST", headers, body: form });
    if (!r.ok) throw new Error(`revocation: HTTP ${r.status}`);
  }

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    userinfoUrl: `${issuer}/me`,
    jwksUrl: `${issuer}/jwks`,
    state,
    signIn,
    revoke,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
