// What the widget remembers per survey in localStorage: when the visitor last
// answered or dismissed it (t) and their sticky sample draw (r). Storage may be
// missing or throw (private modes, sandboxed frames); then nothing is kept.

const name = (key) => 'npsBeacon:' + key;

export function recall(key) {
  try {
    return JSON.parse(localStorage.getItem(name(key))) || {};
  } catch (e) {
    return {};
  }
}

export function remember(key, facts) {
  try {
    localStorage.setItem(name(key), JSON.stringify(Object.assign(recall(key), facts)));
  } catch (e) {
    // Not remembering only means the visitor may be asked again.
  }
}
