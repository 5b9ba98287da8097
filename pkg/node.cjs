// Node >= 18, CommonJS (`require("ida-refresh")`, Jest in its default mode): wasm-bindgen's
// nodejs build in ./wasm-node, which reads and instantiates its wasm synchronously when first
// required. The same API as the ESM entries. Its RefreshError is the class this build's errors
// are made with (`instanceof` holds for everything required from here); an app that loads the
// package both ways gets two classes, as with any dual CommonJS/ESM package.
"use strict";
const wasm = require("./wasm-node/ida_refresh.js");
const { refresh, RefreshClient, AuthGateway } = wasm;
const { dpopWire, createDpopKeyPair, createDpopProof, dpopThumbprint } = require("./wasm-node/platform.js");
dpopWire(wasm);
const { RefreshError } = require("./wasm-node/refresh-error.js");

module.exports = { refresh, RefreshClient, RefreshError, AuthGateway, createDpopKeyPair, createDpopProof, dpopThumbprint };
