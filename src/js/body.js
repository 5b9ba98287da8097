// A response body read as a stream, counting decoded bytes, in one call from Rust
// (src/js/fetch.rs): a chunk's bytes reach wasm memory only once the whole body is known to be
// within the cap. Resolves to the bytes, to null when they pass `cap` or `refuse` is set (the
// stream is cancelled), or to undefined when `body` is not a byte stream; rejects as the stream
// errors (a connection reset mid-body). An abort of `signal` cancels the stream.
export async function readCapped(body, cap, signal, refuse) {
  let reader;
  try {
    reader = body.getReader();
  } catch {
    return undefined;
  }
  const stop = () => {
    Promise.resolve(reader.cancel()).catch(() => {});
  };
  if (refuse) {
    stop();
    return null;
  }
  signal?.addEventListener("abort", stop, { once: true });
  const chunks = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof Uint8Array)) {
        stop();
        return undefined;
      }
      size += value.byteLength;
      if (size > cap) {
        stop();
        return null;
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
