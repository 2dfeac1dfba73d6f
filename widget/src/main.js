// nps-beacon's embeddable survey widget. Paste
//   <script src="{server}/widget.js" data-survey="{embed key}" async></script>
// and it asks when the survey's rules allow. Add data-trigger="manual" to ask
// only when the page calls window.npsBeacon.show().
import { loadConfig } from './api.js';
import { open } from './card.js';
import { asks } from './rules.js';
import { findTag, pageLanguage } from './tag.js';
import { explain } from './why.js';

function start() {
  const tag = findTag();
  if (!tag) return () => Promise.resolve(false);
  const url = tag.api(
    `widget/${encodeURIComponent(tag.key)}?lang=${encodeURIComponent(pageLanguage())}`,
  );
  // Resolves to the config when this visitor is to be asked, else null; never rejects.
  const ready = loadConfig(url)
    .then((config) => (explain(config), asks(config, tag.key, Date.now()) ? config : null))
    .catch(() => null);
  let shown;
  // Resolves to whether the card is open; asking twice opens one card.
  const show = () =>
    (shown = shown || ready.then((config) => !!config && open(config, tag))).catch(() => false);
  if (!tag.manual) ready.then((config) => config && setTimeout(show, config.rules.delay_ms));
  return show;
}

if (!window.npsBeacon) {
  let show = () => Promise.resolve(false);
  try {
    show = start();
  } catch (e) {
    // Whatever happens, the host page goes on undisturbed.
  }
  window.npsBeacon = { show };
}
