// The card's look as a constructable stylesheet: a strict Content Security
// Policy blocks <style> elements and style attributes, but not these.
import CSS from './card.css';
import { palette } from './colour.js';

// Scale columns on a narrow screen: NPS wraps 6 + 5, CES 4 + 3.
const narrow = (n) => (n > 7 ? 6 : n > 5 ? 4 : n);

export function sheet(colour, count) {
  const { bg, fg } = palette(colour);
  const result = new CSSStyleSheet();
  result.replaceSync(
    `:host{--bg:${bg};--fg:${fg};--n:${count};--m:${narrow(count)}}${CSS}`,
  );
  return result;
}
