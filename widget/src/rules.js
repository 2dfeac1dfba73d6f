// Whether to ask this visitor: the server must say show, and the survey's rules
// must agree with what this visitor's browser remembers.
import { recall, remember } from './memory.js';

const DAY = 864e5;

export function asks(config, key, now) {
  if (!config || !config.show) return false;
  const rules = config.rules;
  // The owner's test key: asked on every view, whatever this browser remembers.
  if (rules.test) return true;
  const seen = recall(key);
  if (seen.t && now - seen.t < rules.recontact_days * DAY) return false;
  let draw = seen.r;
  if (typeof draw != 'number') {
    // Drawn once and kept, so a visitor is either in the sample or not.
    draw = Math.random();
    remember(key, { r: draw });
  }
  return draw < rules.sample_rate;
}
