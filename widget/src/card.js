// The card: the question as a radio group, then the follow-up comment and
// questions, then the thanks (with a reward code or review link if given).
import { post } from './api.js';
import { box, h, safe } from './dom.js';
import { remember } from './memory.js';
import { fields } from './questions.js';
import { sheet } from './style.js';
import { textsFor } from './text.js';

const SCALES = { nps: [0, 10], csat: [1, 5], ces: [1, 7] };
const STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
const LOCALE = /^[a-z]{2,3}(-[a-z\d]{1,8}){0,4}$/i;

export function open(config, tag) {
  const survey = config.survey;
  const [low, high] = SCALES[survey.kind] || SCALES.nps;
  const words = textsFor(survey.language);
  const locale = navigator.language;
  // What goes with every post: the display token makes retries and the later
  // comment land on one response. The page address is sent without its query,
  // which may hold personal data.
  const answer = {
    display_token: config.display_token,
    page_url: /^https?:$/.test(location.protocol) ? location.origin + location.pathname : undefined,
    locale: LOCALE.test(locale) ? locale : undefined,
  };
  const endpoint = tag.api('responses');

  const host = h('nps-beacon');
  const root = host.attachShadow({ mode: 'open' });
  root.adoptedStyleSheets = [sheet(survey.color, high - low + 1)];

  const close = h('button', { type: 'button', class: 'x', 'aria-label': words.close, text: '×' });
  const body = h('div');
  const status = h('p', { role: 'status' });
  const card = h(
    'section',
    { class: 'c ' + survey.position, 'aria-label': words.region, lang: survey.language },
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
  for (let score = low; score <= high; score++)
    scale.append(box(radios, 'radio', 'score', score, score));
  radios[0].setAttribute('aria-describedby', 'lo');
  radios[radios.length - 1].setAttribute('aria-describedby', 'hi');
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
        if (res?.ok) followUp(await res.json());
        else if (res?.status == 402) say(words.paused);
        else end();
      })
      .catch(end);
  }

  // -- the follow-up -------------------------------------------------------------
  // `done` is the stored answer: its segment, and a reward or review link if any.
  function followUp(done) {
    const segment = done.segment;
    const area = h('textarea', { id: 't', name: 'comment', maxlength: 2000 });
    const [extra, read] = fields(survey.questions, segment);
    const send = h('button', { class: 'send', text: words.send });
    const form = h(
      'form',
      {},
      h(
        'label',
        { for: 't', class: 'q' },
        survey.follow_up[segment] + ' ',
        h('span', { text: words.optional }),
      ),
      area,
      ...extra,
      send,
    );
    // Stored, or a 409 (kept already): thanks. Anything else keeps the form
    // as the visitor left it, with one line saying why, to send again.
    form.onsubmit = safe((event) => {
      event.preventDefault();
      const comment = area.value.trim() || undefined;
      const answers = read(form);
      form.inert = true;
      status.textContent = '';
      (comment || Object.keys(answers).length
        ? post(endpoint, { ...answer, comment, answers })
        : Promise.resolve({ ok: 1 })
      )
        .then((res) => {
          if (res?.ok || res?.status == 409) return thank(done);
          form.inert = false;
          status.textContent = res?.status == 422 ? words.check : words.retry;
          send.focus();
        })
        .catch(end);
    });
    body.replaceChildren(form);
    area.focus();
  }

  // -- the thanks ------------------------------------------------------------------
  function thank(done) {
    say(survey.thanks?.[done.segment] || words.thanks);
    let stay = done.reward;
    if (stay) status.append(h('br'), 'Code: ', h('b', { text: stay }));
    if (/^https?:/.test(done.review_url))
      status.append(
        h('br'),
        h('a', { href: (stay = done.review_url), target: '_blank', text: words.review }),
      );
    // Read out with the thanks; kept open while there is something to copy or follow.
    stay || setTimeout(end, 5e3);
  }

  body.append(group);
  root.append(card);
  (document.body || document.documentElement).append(host);
  return true;
}
