// An HTTP forward proxy between the headless Chromium of `wasm-pack test --chrome` and the test
// runner's page server. That server (rouille on tiny_http 0.12) gives each connection a thread
// of a small pool for as long as the browser keeps it alive, so a page that opens more
// connections than the pool has threads waits forever for the rest (the service-worker mode
// most of all) and the runner says "Failed to detect test as having been run". Through this
// proxy the browser keeps its connections here, and every request reaches the runner's server
// on a connection of its own that closes with the response, so no thread is ever held.
// Prints its port; Chromium gets `--proxy-server` (tests/run-all.sh writes the webdriver.json).
import http from "node:http";

const server = http.createServer((req, res) => {
  let target;
  try {
    target = new URL(req.url);
  } catch {
    res.writeHead(400).end();
    return;
  }
  const headers = { ...req.headers, connection: "close" };
  delete headers["proxy-connection"];
  delete headers["keep-alive"];
  const upstream = http.request(
    { host: target.hostname, port: target.port || 80, path: target.pathname + target.search, method: req.method, headers, agent: false },
    (answer) => {
      const { connection, "keep-alive": _, ...kept } = answer.headers;
      res.writeHead(answer.statusCode ?? 502, kept);
      answer.pipe(res);
    },
  );
  upstream.on("error", () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
