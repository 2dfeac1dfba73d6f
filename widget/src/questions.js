// Follow-up questions, rendered generically from the config: a choice is a
// fieldset of radios or checkboxes (tags are checkboxes shown as chips), free
// text a labelled textarea. Native controls keep roles, names and focus order;
// each control's name is its question's id, so the form's data is the answer.
import { box, h } from './dom.js';

const one = { text: 1, single: 1 };

// Returns [elements, read]: read(form) gives {question id: text | id | [ids]}.
export function fields(questions, segment) {
  const shown = (questions || []).filter((q) => !q.segments || q.segments.includes(segment));
  const els = shown.map((q) => {
    if (q.kind == 'text')
      return h(
        'label',
        {},
        h('span', { class: 'q', text: q.label }),
        h('textarea', { name: q.id, maxlength: 1000 }),
      );
    const type = q.kind == 'single' ? 'radio' : 'checkbox';
    const boxes = [];
    const list = h(
      'div',
      { class: 'o ' + q.kind },
      ...q.options.map((o) => box(boxes, type, q.id, o.id, o.label)),
    );
    const legend = h('legend', { class: 'q', text: q.label });
    // Tags are capped: at the cap the others wait, disabled, until one is untoggled.
    if (q.max) {
      legend.append(' ', h('span', { text: `(max. ${q.max})` }));
      list.onchange = () => {
        const full = list.querySelectorAll(':checked').length >= q.max;
        for (const b of boxes) b.disabled = full && !b.checked;
      };
    }
    return h('fieldset', {}, legend, list);
  });
  const read = (form) => {
    const data = new FormData(form);
    const answers = {};
    for (const q of shown) {
      const value = one[q.kind] ? (data.get(q.id) || '').trim() : data.getAll(q.id);
      if (value.length) answers[q.id] = value;
    }
    return answers;
  };
  return [els, read];
}
