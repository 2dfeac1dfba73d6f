// Talking to the server. No cookies are ever sent, and answers are posted as a
// text/plain JSON body, which needs no CORS preflight.

export async function loadConfig(url) {
  const res = await fetch(url, { credentials: 'omit' });
  return res.ok ? res.json() : null;
}

// Posts a body; tries five times, again after a network error, 5xx or 429,
// with backoff. The same display token rides along every try, so the server
// counts it at most once. Resolves to the last response, or null when the
// server was never reached.
export async function post(url, body) {
  let res = null;
  for (let i = 0; i < 5; i++) {
    if (i) await new Promise((done) => setTimeout(done, 500 << i));
    try {
      res = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(body),
        credentials: 'omit',
        keepalive: true,
      });
      if (res.status < 500 && res.status != 429) break;
    } catch (e) {
      // A network error: tried again after the wait.
    }
  }
  return res;
}
