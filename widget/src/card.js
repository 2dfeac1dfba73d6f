// The card: the question as a radio group, then the follow-up comment.
import { post } from './api.js';
import { h, safe } from './dom.js';
import { remember } from './memory.js';
import { placement, sheet } from './style.js';
import { textsFor } from './text.js';

const SCALES = { nps: [0, 10], csat: [1, 5], ces: [1, 7] };
const STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
const LOCALE = /^[a-z]{2,3}(-[a-z\d]{1,8}){0,4}$/i;

// What goes with every post: the display token makes retries and the later
// comment land on one response. The page address is sent without its query,
// which may hold personal data.
function answerFor(config) {
  const locale = navigator.language;
  return {
    display_token: config.display_token,
    page_url: /^https?:$/.test(location.protocol) ? location.origin + location.pathname : undefined,
    locale: LOCALE.test(locale) ? locale : undefined,
  };
}

export function open(config, tag) {
  const survey = config.survey;
  const [low, high] = SCALES[survey.kind] || SCALES.nps;
  const words = textsFor(survey.language);
  const answer = answerFor(config);
  const endpoint = tag.api('responses');

  const host = h('nps-beacon', {});
  const root = host.attachShadow({ mode: 'open' });
  root.adoptedStyleSheets = [sheet(survey.color, high - low + 1)];

  const close = h('button', { type: 'button', class: 'x', 'aria-label': words.close, text: '×' });
  const body = h('div', {});
  const status = h('p', { role: 'status' });
  const card = h(
    'section',
    { class: placement(survey.position), 'aria-label': words.region, lang: survey.language },
    close,
    body,
    status,
  );

  const end = () => host.remove();
  // A test leaves no memory behind, so the next test view asks again.
  const seen = () => config.rules.test || remember(tag.key, { t: Date.now() });
  const dismiss = () => {
    seen();
    end();
  };
  const say = (text) => {
    body.replaceChildren();
    status.textContent = text;
    close.focus();
  };
  close.onclick = safe(dismiss);
  card.onkeydown = safe((event) => event.key == 'Escape' && dismiss());

  // -- the score ---------------------------------------------------------------
  const radios = [];
  const scale = h('div', { class: 's' });
  for (let score = low; score <= high; score++) {
    const radio = h('input', { type: 'radio', name: 'score', value: score });
    if (score == low) radio.setAttribute('aria-describedby', 'lo');
    if (score == high) radio.setAttribute('aria-describedby', 'hi');
    radios.push(radio);
    scale.append(h('label', {}, radio, h('span', { text: score })));
  }
  const group = h(
    'fieldset',
    {},
    h('legend', { text: survey.question }),
    scale,
    h(
      'div',
      { class: 'e' },
      h('span', { id: 'lo', text: survey.low_label }),
      h('span', { id: 'hi', text: survey.high_label }),
    ),
  );

  // Arrow keys only move, so passing a score on the way never submits it.
  scale.onkeydown = safe((event) => {
    const step = STEPS[event.key];
    const at = radios.indexOf(event.target);
    if (step) {
      event.preventDefault();
      radios[(at + step + radios.length) % radios.length].focus();
    } else if (event.key == 'Enter' && at >= 0) {
      event.preventDefault();
      event.target.checked = true;
      choose(+event.target.value);
    }
  });
  scale.onchange = safe((event) => choose(+event.target.value));

  let chosen = false;
  function choose(score) {
    if (chosen) return;
    chosen = true;
    answer.score = score;
    seen();
    group.disabled = true;
    post(endpoint, answer)
      .then(async (res) => {
        if (res && res.ok) followUp(survey.follow_up[(await res.json()).segment]);
        else if (res && res.status == 402) say(words.paused);
        else end();
      })
      .catch(end);
  }

  // -- the follow-up -------------------------------------------------------------
  function followUp(question) {
    const area = h('textarea', { id: 't', name: 'comment', maxlength: 2000 });
    const form = h(
      'form',
      {},
      h('label', { for: 't', class: 'q' }, question + ' ', h('span', { text: words.optional })),
      area,
      h('button', { class: 'send', text: words.send }),
    );
    form.onsubmit = safe((event) => {
      event.preventDefault();
      const comment = area.value.trim();
      form.inert = true;
      (comment ? post(endpoint, { ...answer, comment }) : Promise.resolve())
        .then(() => {
          say(words.thanks);
          setTimeout(end, 5e3);
        })
        .catch(end);
    });
    body.replaceChildren(form);
    area.focus();
  }

  body.append(group);
  root.append(card);
  (document.body || document.documentElement).append(host);
  return true;
}
